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
mod tests {
    use super::*;

    #[test]
    fn records_leave_in_the_order_their_calls_began() {
        let mut r = Reorder::default();
        r.push(1_000, b"response".to_vec());
        r.push(900, b"request".to_vec());
        assert_eq!(r.pop_due(1_000), None, "both are within the window");
        let late = 900 + WINDOW_NS;
        assert_eq!(r.pop_due(late).as_deref(), Some(&b"request"[..]));
        assert_eq!(r.pop_due(late), None, "the response is not due yet");
        assert_eq!(r.pop_any().as_deref(), Some(&b"response"[..]));
        assert_eq!(r.pop_any(), None);
    }

    #[test]
    fn equal_times_keep_their_arrival_order() {
        let mut r = Reorder::default();
        for i in 0..5u8 {
            r.push(7, vec![i]);
        }
        let out: Vec<u8> = std::iter::from_fn(|| r.pop_any()).map(|v| v[0]).collect();
        assert_eq!(out, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = Reorder::default();
        let chunk = vec![0u8; 32 << 10];
        let mut released = 0;
        for i in 0..1000 {
            r.push(i, chunk.clone());
            while r.pop_due(i).is_some() {
                released += 1;
            }
            assert!(r.held <= MAX_HELD, "{} bytes held", r.held);
        }
        assert!(released > 0);
    }
}
