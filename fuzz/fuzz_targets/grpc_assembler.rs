//! gRPC message framing: DATA payloads of one stream direction pushed into
//! an `Assembler`, and every complete compressed message decompressed.
//! First byte: bit 0 starts synced, bits 1-3 the grpc-encoding. Each
//! record is one DATA frame; ctrl bit 0 loses sync before it.
//! Each message must come with the stream ranges it was carried in.
#![no_main]

use containerdsnoop::decode::h2::grpc::{self, Assembler, Encoding};
use containerdsnoop_fuzz::Records;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let encoding = match (first >> 1) & 7 {
        0 => Encoding::Identity,
        1 => Encoding::Gzip,
        2 => Encoding::Deflate,
        3 => Encoding::Unknown,
        _ => Encoding::Other("snappy".into()),
    };
    let mut asm = Assembler::new(first & 1 != 0);
    let mut out = Vec::new();
    // Stream offset of the DATA payload: after a 9-byte frame header.
    let mut at = 0u64;
    for rec in Records(rest) {
        if rec.ctrl & 1 != 0 {
            asm.lose_sync();
        }
        at += 9;
        asm.push(rec.bytes, at, &mut out);
        let end = at + rec.bytes.len() as u64;
        at = end;
        for m in out.drain(..) {
            let Ok(m) = m else { continue };
            assert!(m.data.len() <= grpc::MAX_MESSAGE);
            // The message's bytes lie inside what was pushed, in order.
            let carried: u64 = m.stream_ranges.iter().map(|r| r.end - r.start).sum();
            assert_eq!(carried, m.data.len() as u64);
            assert!(m
                .stream_ranges
                .iter()
                .all(|r| r.start < r.end && r.end <= end));
            if m.compressed {
                if let Ok(d) = grpc::decompress(&encoding, &m.data) {
                    assert!(d.len() <= grpc::MAX_MESSAGE);
                }
            }
        }
    }
    std::hint::black_box(asm.truncated());
});
