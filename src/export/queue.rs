//! The spans waiting for the exporting thread: one buffer of encoded spans,
//! each already framed as a `ScopeSpans.spans` field, so that a batch is
//! the middle of its request as it stands. A span costs the capture's thread
//! one copy under an uncontended lock: no allocation, no channel, nothing
//! freed on another thread; a batch is taken by swapping buffers.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::wire;
use crate::protobuf::wire::next_field;

/// What became of a span offered to the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offered {
    /// Queued.
    Queued,
    /// The queue was full.
    Full,
    /// The queue was closed (the exporter is shutting down).
    Closed,
}

/// Spans waiting, and how many.
#[derive(Default)]
struct Waiting {
    /// Each span framed as field 2 of `ScopeSpans`.
    bytes: Vec<u8>,
    spans: usize,
    closed: bool,
}

/// A bounded queue of encoded spans, shared by its makers and one taker.
pub struct SpanQueue {
    waiting: Mutex<Waiting>,
    /// Signalled when the first span comes into an empty queue, when a
    /// batch's worth is queued, and at close: the taker sleeps otherwise.
    wake: Condvar,
    capacity: usize,
    batch: usize,
}

impl SpanQueue {
    /// A queue of at most `capacity` spans (at least one), whose taker
    /// takes up to `batch` at a time.
    pub fn new(capacity: usize, batch: usize) -> Self {
        let capacity = capacity.max(1);
        SpanQueue {
            waiting: Mutex::new(Waiting::default()),
            wake: Condvar::new(),
            capacity,
            batch: batch.clamp(1, capacity),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue the encoded span `span`, unless the queue is full or closed.
    pub fn offer(&self, span: &[u8]) -> Offered {
        let mut w = self.lock();
        if w.closed {
            return Offered::Closed;
        }
        if w.spans >= self.capacity {
            return Offered::Full;
        }
        wire::bytes(&mut w.bytes, 2, span);
        w.spans += 1;
        if w.spans == 1 || w.spans == self.batch {
            self.wake.notify_one();
        }
        Offered::Queued
    }

    /// Spans queued now.
    pub fn len(&self) -> usize {
        self.lock().spans
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wait until a span is queued (true) or the queue is closed and empty
    /// (false).
    pub fn wait_first(&self) -> bool {
        let mut w = self.lock();
        loop {
            if w.spans > 0 {
                return true;
            }
            if w.closed {
                return false;
            }
            w = self.wake.wait(w).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Wait until a batch's worth is queued, the queue is closed, or
    /// `most` has passed.
    pub fn wait_batch(&self, most: Duration) {
        let until = Instant::now() + most;
        let mut w = self.lock();
        while w.spans < self.batch && !w.closed {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            w = self
                .wake
                .wait_timeout(w, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Move up to a batch of spans, the oldest, into `batch` (emptied
    /// first; its buffer is kept for the queue when all are taken); how
    /// many.
    pub fn take(&self, batch: &mut Vec<u8>) -> usize {
        let max = self.batch;
        batch.clear();
        let mut w = self.lock();
        if w.spans <= max {
            std::mem::swap(&mut w.bytes, batch);
            return std::mem::take(&mut w.spans);
        }
        let cut = span_ends(&w.bytes).nth(max - 1).unwrap_or(w.bytes.len());
        batch.extend_from_slice(&w.bytes[..cut]);
        w.bytes.drain(..cut);
        w.spans -= max;
        max
    }

    /// No span is queued from now on; the taker is woken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    /// Forget what is queued (counted as lost by the caller); how many.
    pub fn clear(&self) -> usize {
        let mut w = self.lock();
        w.bytes = Vec::new();
        std::mem::take(&mut w.spans)
    }
}

/// Where each framed span of `bytes` ends (as [`SpanQueue::offer`] wrote
/// them: fields of `ScopeSpans`).
fn span_ends(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        next_field(&mut rest)?;
        Some(bytes.len() - rest.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_or_closed_queue_refuses_and_batches_keep_order_and_bounds() {
        let q = SpanQueue::new(3, 2);
        let big = vec![7u8; 300];
        assert_eq!(q.offer(b"a"), Offered::Queued);
        assert_eq!(q.offer(&big), Offered::Queued);
        assert_eq!(q.offer(b"c"), Offered::Queued);
        assert_eq!(q.offer(b"d"), Offered::Full);
        assert!(q.wait_first());
        let mut batch = Vec::new();
        assert_eq!(q.take(&mut batch), 2);
        let mut want = Vec::new();
        wire::bytes(&mut want, 2, b"a");
        wire::bytes(&mut want, 2, &big);
        assert_eq!(batch, want);
        assert_eq!(q.len(), 1);
        assert_eq!(q.take(&mut batch), 1);
        want.clear();
        wire::bytes(&mut want, 2, b"c");
        assert_eq!(batch, want);
        assert!(q.is_empty());
        q.close();
        assert_eq!(q.offer(b"e"), Offered::Closed);
        assert!(!q.wait_first());
    }

    #[test]
    fn a_waiting_taker_is_woken_by_the_first_span_and_by_close() {
        let q = std::sync::Arc::new(SpanQueue::new(8, 2));
        let taker = {
            let q = q.clone();
            std::thread::spawn(move || q.wait_first())
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        q.offer(b"x");
        assert!(taker.join().unwrap());
        // A batch's worth ends the wait at once; a short one at the bound.
        let t = Instant::now();
        q.wait_batch(Duration::from_millis(200));
        assert!(
            t.elapsed() >= Duration::from_millis(190),
            "{:?}",
            t.elapsed()
        );
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                q.wait_batch(Duration::from_secs(10));
                t.elapsed()
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        q.offer(b"y");
        assert!(waiter.join().unwrap() < Duration::from_secs(5));
        assert_eq!(q.clear(), 2);
        let taker = {
            let q = q.clone();
            std::thread::spawn(move || q.wait_first())
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        q.close();
        assert!(!taker.join().unwrap());
    }
}
