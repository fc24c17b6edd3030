//! Driving the protocol decoders in tests: a write's stamp and a driver
//! that feeds writes (cut at random points) to a decoder.

use super::Rng;
use crate::decode::{ConnDecoder, Dir, Event, Stamp};

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
