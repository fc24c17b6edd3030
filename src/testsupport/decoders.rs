//! Driving the protocol decoders in tests: a write's stamp and a driver
//! that feeds writes (cut at random points) to a decoder.

use std::collections::BTreeMap;

use super::Rng;
use crate::decode::{ConnDecoder, Dir, Event, PathInfo, Stamp};

/// The stamp of a write at time `ts` by `ctr` (pid 42, thread 43).
pub fn stamp(ts: u64) -> Stamp {
    Stamp {
        ts_ns: ts,
        by: crate::flow::Process::thread(42, 43, crate::flow::Comm::from_name("ctr")),
    }
}

/// Feeds writes (write i has time i) to `feed`, each cut into chunks by
/// `rng` when given: the driver of every decoder's split tests.
pub fn feed_writes(
    writes: &[(Dir, Vec<u8>)],
    mut rng: Option<&mut Rng>,
    mut feed: impl FnMut(Dir, &[u8], &Stamp),
) {
    for (i, (dir, bytes)) in writes.iter().enumerate() {
        let m = stamp(i as u64);
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let n = match rng.as_deref_mut() {
                Some(r) => 1 + r.below(rest.len().min(40)),
                None => rest.len(),
            };
            feed(*dir, &rest[..n], &m);
            rest = &rest[n..];
        }
    }
}

/// The HTTP/2 decoder fed `writes` as [`feed_writes`] does, then closed
/// at time 1_000_000.
pub fn run(at_start: bool, writes: &[(Dir, Vec<u8>)], rng: Option<&mut Rng>) -> Vec<Event> {
    let mut dec = ConnDecoder::new(at_start);
    let mut out = Vec::new();
    feed_writes(writes, rng, |dir, bytes, m| {
        dec.feed(dir, bytes, m, &mut out)
    });
    dec.close(1_000_000, &mut out);
    out
}

/// The writes of `writes` in a random interleaving that keeps each
/// direction's own order (what a capture may deliver when the order
/// between the two directions is off).
pub fn interleave(writes: &[(Dir, Vec<u8>)], rng: &mut Rng) -> Vec<(Dir, Vec<u8>)> {
    let mut sides: [std::collections::VecDeque<&(Dir, Vec<u8>)>; 2] = Default::default();
    for w in writes {
        sides[w.0.index()].push_back(w);
    }
    let mut out = Vec::with_capacity(writes.len());
    while let Some(side) = match (sides[0].is_empty(), sides[1].is_empty()) {
        (true, true) => None,
        (false, true) => Some(0),
        (true, false) => Some(1),
        (false, false) => Some(rng.below(2)),
    } {
        if let Some(w) = sides[side].pop_front() {
            out.push(w.clone());
        }
    }
    out
}

/// Path, status, message, reset and `unfinished` of a call's end.
pub type EndSummary = (PathInfo, Option<u32>, Option<String>, Option<u32>, bool);

/// What a decoder said of one call, whatever the order of its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallSummary {
    /// The path its start gave, if it started.
    pub started: Option<PathInfo>,
    /// Its messages per direction, in order, with the path each carried.
    pub messages: [Vec<(Vec<u8>, PathInfo)>; 2],
    /// Path, status, message, reset and `unfinished` of its end, if it ended.
    pub end: Option<EndSummary>,
    /// Events of the call after its end.
    pub after_end: usize,
}

/// The calls of `events`, by stream id.
pub fn calls_of(events: &[Event]) -> BTreeMap<u32, CallSummary> {
    let mut calls: BTreeMap<u32, CallSummary> = BTreeMap::new();
    for e in events {
        match e {
            Event::CallStart {
                stream_id, path, ..
            } => {
                let c = calls.entry(*stream_id).or_default();
                c.after_end += usize::from(c.end.is_some());
                c.started = Some(path.clone());
            }
            Event::Message {
                stream_id,
                dir,
                path,
                payload,
                ..
            } => {
                let c = calls.entry(*stream_id).or_default();
                c.after_end += usize::from(c.end.is_some());
                c.messages[dir.index()].push((payload.clone(), path.clone()));
            }
            Event::CallEnd {
                stream_id,
                path,
                status,
                message,
                reset,
                unfinished,
                ..
            } => {
                let c = calls.entry(*stream_id).or_default();
                c.after_end += usize::from(c.end.is_some());
                c.end = Some((path.clone(), *status, message.clone(), *reset, *unfinished));
            }
            _ => {}
        }
    }
    calls
}
