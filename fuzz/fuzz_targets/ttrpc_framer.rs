//! The ttrpc decoder (framer, envelopes, calls) on writes and gaps of both
//! directions, and its promise that the cut into writes does not matter.
//!
//! First byte: bit 0 selects the split check: every record's bytes go to
//! one direction (bit 1: server to client) with no gaps, and the events must
//! equal those of the same bytes fed at once. Otherwise, record ctrl: bit 0
//! server to client; bit 1 a gap of the record's length field (times 256
//! with bit 2) instead of bytes.
#![no_main]

use containerdsnoop::decode::{Dir, Event, Stamp, TtrpcDecoder};
use containerdsnoop::flow::{Comm, Process};
use containerdsnoop_fuzz::Records;
use libfuzzer_sys::fuzz_target;

fn dir_of(bit: bool) -> Dir {
    if bit {
        Dir::ToClient
    } else {
        Dir::ToServer
    }
}

fn split_check(dir: Dir, data: &[u8], stamp: &Stamp) {
    let mut whole = Vec::new();
    let mut dec = TtrpcDecoder::new();
    let mut cut: Vec<Event> = Vec::new();
    for rec in Records(data) {
        whole.extend_from_slice(rec.bytes);
        dec.feed(dir, rec.bytes, stamp, &mut cut);
    }
    dec.close(2, &mut cut);
    let mut once = Vec::new();
    let mut dec = TtrpcDecoder::new();
    dec.feed(dir, &whole, stamp, &mut once);
    dec.close(2, &mut once);
    assert_eq!(cut, once, "the cut into writes changed the events");
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let stamp = Stamp {
        ts_ns: 1,
        by: Process::thread(7, 7, Comm::from_name("fuzz")),
    };
    if first & 1 != 0 {
        return split_check(dir_of(first & 2 != 0), rest, &stamp);
    }
    let mut dec = TtrpcDecoder::new();
    let mut out = Vec::new();
    for rec in Records(rest) {
        let dir = dir_of(rec.ctrl & 1 != 0);
        if rec.ctrl & 2 != 0 {
            let n = u64::from(rec.len) << if rec.ctrl & 4 != 0 { 8 } else { 0 };
            dec.gap(dir, n, &mut out);
        } else {
            dec.feed(dir, rec.bytes, &stamp, &mut out);
        }
        out.clear();
    }
    dec.close(2, &mut out);
    std::hint::black_box(&out);
});
