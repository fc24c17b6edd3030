//! Which calls the timeline draws one by one: at most [`MAX_DRAWN`], the
//! errors first, then the longest (request to end), then the earliest to
//! end. A call that loses its place goes to its lane's counts over time.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::calls::Call;

/// Calls drawn one by one at most.
pub const MAX_DRAWN: usize = 4_000;

/// A call with its rank (greater is kept first).
struct Ranked {
    key: (bool, u64, Reverse<u64>),
    lane: usize,
    call: Call,
}

impl Ranked {
    fn new(lane: usize, call: Call) -> Ranked {
        Ranked {
            key: (
                call.outcome.is_error(),
                call.duration_ns().unwrap_or(0),
                Reverse(call.seq),
            ),
            lane,
            call,
        }
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// The calls kept to draw.
#[derive(Default)]
pub struct Drawn {
    /// The least notable on top.
    heap: BinaryHeap<Reverse<Ranked>>,
}

impl Drawn {
    /// Offers `call` of lane `lane`; returns the call (and its lane) that
    /// is not drawn one by one, if any: `call` itself or one it displaced.
    pub fn offer(&mut self, lane: usize, call: Call) -> Option<(usize, Call)> {
        self.heap.push(Reverse(Ranked::new(lane, call)));
        if self.heap.len() <= MAX_DRAWN {
            return None;
        }
        self.heap.pop().map(|Reverse(r)| (r.lane, r.call))
    }

    /// The kept calls with their lanes, the most notable first.
    pub fn into_ranked(self) -> Vec<(usize, Call)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(r)| (r.lane, r.call))
            .collect()
    }

    /// Calls kept.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
