//! Records back into the order their system calls began.
//!
//! The ring buffer receives a write's bytes when the call returns. A client
//! preempted between sending a request and returning from `write(2)` can
//! be overtaken by the server's answer, and a capture in that order shows
//! a response before its request (Wireshark's gRPC dissector then fails an
//! assertion, and a decoder cannot name the call). Each record carries the
//! time its call began, and the peer cannot have read the bytes before
//! then, so releasing records in that order is causal. Records are held
//! for `WINDOW_NS` (or less, when more than `MAX_HELD` bytes wait).

use crate::sizes::Sizes;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How long a record waits for records that began earlier.
pub const WINDOW_NS: u64 = 20_000_000;
/// Bytes held at most; past this, the oldest are released early.
pub const MAX_HELD: usize = 4 << 20;

/// Raw ring buffer records held until they are due.
#[derive(Default)]
pub struct Reorder {
    heap: BinaryHeap<Reverse<(u64, u64, Vec<u8>)>>,
    held: usize,
    newest: u64,
    seq: u64,
}

impl Reorder {
    /// Records waiting for their time.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("reorder.held", self.heap.len());
    }

    /// Hold `raw`, a record whose call began at `ts`.
    pub fn push(&mut self, ts: u64, raw: Vec<u8>) {
        self.newest = self.newest.max(ts);
        self.held += raw.len();
        self.seq += 1;
        self.heap.push(Reverse((ts, self.seq, raw)));
    }

    /// The next record that is due: older than `WINDOW_NS` before `now`
    /// (or before the newest record held), or any when too much is held.
    pub fn pop_due(&mut self, now: u64) -> Option<Vec<u8>> {
        let Reverse((ts, _, _)) = self.heap.peek()?;
        let horizon = now.max(self.newest).saturating_sub(WINDOW_NS);
        if *ts > horizon && self.held <= MAX_HELD {
            return None;
        }
        self.pop_any()
    }

    /// The oldest record, due or not (end of capture).
    pub fn pop_any(&mut self) -> Option<Vec<u8>> {
        let Reverse((_, _, raw)) = self.heap.pop()?;
        self.held -= raw.len();
        Some(raw)
    }
}

#[cfg(test)]
mod tests;
