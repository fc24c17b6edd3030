//! The HTTP/1.x decoder (heads, bodies, chunks, pairing, hijacked streams)
//! on writes and gaps of both directions, and its promise that the cut
//! into writes does not matter while in step.
//!
//! First byte: bit 0 selects the split check: every record's bytes go to
//! one direction (bit 1: server to client) with no gaps, and when the bytes
//! fed at once begin with a head and decode without an error, a later
//! resynchronisation or a switch to a raw stream (whose pieces are rows as
//! written), the events must equal theirs. Otherwise, record ctrl: bit 0 server to client; bit 1 a gap of
//! the record's length field (times 256 with bit 2) instead of bytes; bits
//! 3 to 7 advance the time.
#![no_main]

use containerdsnoop::decode::http1::PartKind;
use containerdsnoop::decode::{Dir, Event, Http1Decoder, Stamp};
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

/// The events leave the in-step path, or never were on it (the bytes did
/// not begin with a head: where a later head is taken up depends on the
/// writes, by design): the cut may then matter.
fn off_step(events: &[Event]) -> bool {
    let began_in_step = matches!(events.first(), Some(Event::Resync { skipped: 0, .. }));
    !began_in_step
        || events.iter().any(|e| match e {
            Event::Error { .. } => true,
            Event::Resync { skipped, .. } => *skipped > 0,
            Event::Message { http, .. } => http.as_ref().is_some_and(|p| p.kind != PartKind::Body),
            _ => false,
        })
}

fn split_check(dir: Dir, data: &[u8], stamp: &Stamp) {
    let mut whole = Vec::new();
    let mut dec = Http1Decoder::new();
    let mut cut: Vec<Event> = Vec::new();
    for rec in Records(data) {
        whole.extend_from_slice(rec.bytes);
        dec.feed(dir, rec.bytes, stamp, &mut cut);
    }
    dec.close(2, &mut cut);
    let mut once = Vec::new();
    let mut dec = Http1Decoder::new();
    dec.feed(dir, &whole, stamp, &mut once);
    dec.close(2, &mut once);
    // A first record that is empty is no write.
    if !off_step(&once) && !whole.is_empty() {
        assert_eq!(cut, once, "the cut into writes changed the events");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut stamp = Stamp {
        ts_ns: 1,
        by: Process::thread(7, 7, Comm::from_name("fuzz")),
    };
    if first & 1 != 0 {
        return split_check(dir_of(first & 2 != 0), rest, &stamp);
    }
    let mut dec = Http1Decoder::new();
    let mut out = Vec::new();
    for rec in Records(rest) {
        let dir = dir_of(rec.ctrl & 1 != 0);
        stamp.ts_ns += u64::from(rec.ctrl >> 3) * 100_000_000;
        if rec.ctrl & 2 != 0 {
            let n = u64::from(rec.len) << if rec.ctrl & 4 != 0 { 8 } else { 0 };
            dec.gap(dir, n, &mut out);
        } else {
            dec.feed(dir, rec.bytes, &stamp, &mut out);
        }
        assert!(dec.held() <= 3 << 20, "held {} bytes", dec.held());
        out.clear();
    }
    dec.close(stamp.ts_ns + 1, &mut out);
    std::hint::black_box(&out);
});
