//! The connection decoder: both directions interleaved as the fuzzer says,
//! with gaps. First byte: bit 0 `at_start`. Record ctrl: bit 0 server to
//! client; bit 1 a gap of the record's length field (times 256 with bit 2)
//! instead of bytes.
#![no_main]

use containerdsnoop::decode::{ConnDecoder, Dir, Stamp};
use containerdsnoop::flow::{Comm, Process};
use containerdsnoop_fuzz::Records;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut dec = ConnDecoder::new(first & 1 != 0);
    let mut out = Vec::new();
    let mut stamp = Stamp {
        ts_ns: 1,
        by: Process::thread(7, 7, Comm::from_name("fuzz")),
    };
    for rec in Records(rest) {
        let dir = if rec.ctrl & 1 != 0 {
            Dir::ToClient
        } else {
            Dir::ToServer
        };
        stamp.ts_ns += 1000;
        if rec.ctrl & 2 != 0 {
            let n = u64::from(rec.len) << if rec.ctrl & 4 != 0 { 8 } else { 0 };
            dec.gap(dir, n, &mut out);
        } else {
            dec.feed(dir, rec.bytes, &stamp, &mut out);
        }
        out.clear();
    }
    dec.close(stamp.ts_ns + 1, &mut out);
    std::hint::black_box(&out);
});
