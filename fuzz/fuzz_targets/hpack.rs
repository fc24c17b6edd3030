//! HPACK: header blocks decoded in sequence by one decoder, as a direction
//! of a connection does. First byte: bit 0 `at_start`, bit 1 a small table
//! maximum. Each record is one block; its ctrl byte: bit 0 lose sync first,
//! bit 1 set the SETTINGS_HEADER_TABLE_SIZE limit to the record's length
//! field, bit 2 mark the start of the connection first.
#![no_main]

use containerdsnoop::decode::h2::hpack::Decoder;
use containerdsnoop_fuzz::Records;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let at_start = first & 1 != 0;
    let mut dec = if first & 2 != 0 {
        Decoder::with_max_size(at_start, 256)
    } else {
        Decoder::new(at_start)
    };
    for rec in Records(rest) {
        if rec.ctrl & 1 != 0 {
            dec.lose_sync();
        }
        if rec.ctrl & 2 != 0 {
            dec.set_limit(u32::from(rec.len));
        }
        if rec.ctrl & 4 != 0 {
            dec.mark_at_start();
        }
        if let Ok(block) = dec.decode(rec.bytes) {
            std::hint::black_box(block);
        }
        let t = dec.table();
        assert!(
            t.size() <= t.max(),
            "table size {} > max {}",
            t.size(),
            t.max()
        );
    }
});
