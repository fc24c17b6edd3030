//! Causal order from acks, without trusting timestamps.
//!
//! On the sock hook a record is made when its send completes, and a writer
//! preempted between queueing its bytes and the tracepoint can be overtaken
//! by the reply of a peer that already read them. Each record carries its
//! `ack`: how far the sending socket had read its peer's send stream when
//! it sent (in the peer's offsets). A record is released only once the
//! peer's own records up to that offset are released, so a reply always
//! follows the request it answered. Records of one socket keep their order.
//!
//! Bounded: a record waits at most `MAX_HOLD_NS` (the bytes it waits for
//! may have been lost with a full ring, or the ack may be off by the
//! start-up race described in src/bpf/sock_hook.bpf.h), and at most `MAX_HELD` bytes wait.

use std::collections::{HashMap, VecDeque};

use super::record::{self, FLAG_PEER_PENDING, KIND_CLOSE, KIND_DATA, KIND_GAP, OFFSET_BASE};
use crate::sizes::Sizes;

/// Longest wait for the peer's records.
pub const MAX_HOLD_NS: u64 = 500_000_000;
/// Bytes held at most; past this the oldest record is released.
pub const MAX_HELD: usize = 8 << 20;
/// Sockets whose progress is remembered; past this, those with nothing held are forgotten.
const MAX_SOCKETS: usize = 1 << 17;
/// How long a closed socket's progress is kept: records of its peer that
/// refer to it may still be on their way (they wait at most `MAX_HOLD_NS`).
const CLOSED_KEEP_NS: u64 = 2 * MAX_HOLD_NS;

struct Held {
    raw: Vec<u8>,
    peer: u64,
    /// Offset of the peer's stream this record needs released first.
    ack: Option<i64>,
    /// The ack may refer to a peer write whose record has not come yet,
    /// even at or below the base: wait for the peer's first record.
    pending_peer: bool,
    /// When it arrived (CLOCK_MONOTONIC ns).
    since: u64,
    seq: u64,
}

/// Records held until their peer's stream has caught up with their ack.
#[derive(Default)]
pub struct Causal {
    queues: HashMap<u64, VecDeque<Held>>,
    /// Per sending socket: the end of its send stream released so far
    /// (offsets relative to the base, as the records' acks).
    progress: HashMap<u64, i64>,
    held: usize,
    seq: u64,
    /// Sockets whose close record went out, and when: their progress is
    /// forgotten `CLOSED_KEEP_NS` later.
    closed: VecDeque<(u64, u64)>,
    /// The latest time given (CLOCK_MONOTONIC ns).
    now: u64,
    /// Records released by the time or memory bound, not by their ack.
    pub forced: u64,
}

fn rel(v: u64) -> i64 {
    v.wrapping_sub(OFFSET_BASE) as i64
}

/// The end, in its socket's send stream, of what a record carries.
fn stream_end(raw: &[u8]) -> Option<(u64, i64)> {
    let h = record::header(raw)?;
    let end = match h.kind {
        KIND_DATA => rel(h.offset) + i64::from(h.len),
        KIND_GAP => rel(h.offset) + i64::from(h.gap_len),
        // Nothing of the socket follows its close.
        KIND_CLOSE => rel(h.offset),
        _ => return None,
    };
    Some((h.sock_ino, end))
}

impl Causal {
    /// Entries kept per socket.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("causal.queues", self.queues.len());
        out.add("causal.progress", self.progress.len());
        out.add("causal.closed", self.closed.len());
    }

    /// Bytes held now.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    fn ready(&self, h: &Held) -> bool {
        let Some(ack) = h.ack else {
            return true;
        };
        let progress = match self.progress.get(&h.peer) {
            Some(p) => *p,
            // Bytes below the base were sent before the tracer saw the
            // connection: no record of them will come, unless the kernel
            // side said one is pending. Then the peer's first record is
            // waited for; once it is here (held itself), nothing of the
            // peer's stream comes before its start. Both ends' first
            // records may say so of each other (each end's count starts
            // with the other's send in flight): each waits for the other's
            // first record to be here, not to be released, or both would
            // wait for the time bound.
            None if h.pending_peer => self.first_held(h.peer).unwrap_or(i64::MIN),
            None => 0,
        };
        ack <= progress
    }

    /// Where the first record held for socket `ino` starts in its stream.
    fn first_held(&self, ino: u64) -> Option<i64> {
        let front = self.queues.get(&ino)?.front()?;
        let h = record::header(&front.raw)?;
        matches!(h.kind, KIND_DATA | KIND_GAP).then(|| rel(h.offset))
    }

    /// A record leaves by the time bound: counted, unless it only waited for
    /// a peer that never sent (its pending bytes predate the tracer), which
    /// is then taken as caught up with the record's ack.
    fn release_forced(&mut self, h: Held, out: &mut Vec<Vec<u8>>) {
        match (h.pending_peer, h.ack, self.progress.contains_key(&h.peer)) {
            (true, Some(ack), false) => {
                self.progress.insert(h.peer, ack);
            }
            _ => self.forced += 1,
        }
        self.release(h, out);
    }

    /// A record left by another route (the timestamp window): its socket's
    /// progress moves, which may release the peer's records.
    pub fn note(&mut self, raw: &[u8], out: &mut Vec<Vec<u8>>) {
        if let (Some((ino, end)), Some(h)) = (stream_end(raw), record::header(raw)) {
            self.closing(raw, ino);
            self.advance(ino, end, h.peer_ino, out);
        }
    }

    /// A socket's close record went out: nothing of it follows, and its
    /// peer's progress is forgotten too (see `liveness::note`: the peer's
    /// own close is seldom recorded; a half-closed peer that writes again
    /// starts its progress anew, which only its own records move).
    fn closing(&mut self, raw: &[u8], ino: u64) {
        if let Some(h) = record::header(raw).filter(|h| h.kind == KIND_CLOSE) {
            self.closed.push_back((self.now, ino));
            if h.peer_ino != 0 {
                self.closed.push_back((self.now, h.peer_ino));
            }
        }
    }

    fn advance(&mut self, ino: u64, end: i64, peer: u64, out: &mut Vec<Vec<u8>>) {
        let p = self.progress.entry(ino).or_insert(i64::MIN);
        *p = (*p).max(end);
        self.cascade(peer, out);
        if self.progress.len() > MAX_SOCKETS {
            let queues = &self.queues;
            self.progress.retain(|ino, _| queues.contains_key(ino));
        }
    }

    fn release(&mut self, h: Held, out: &mut Vec<Vec<u8>>) {
        self.held -= h.raw.len();
        let end = stream_end(&h.raw);
        if let Some((ino, _)) = end {
            self.closing(&h.raw, ino);
        }
        out.push(h.raw);
        if let Some((ino, end)) = end {
            self.advance(ino, end, h.peer, out);
        }
    }

    /// Release what became ready in the queue of `ino`, and onwards.
    fn cascade(&mut self, ino: u64, out: &mut Vec<Vec<u8>>) {
        loop {
            let ready = match self.queues.get(&ino).and_then(|q| q.front()) {
                Some(front) => self.ready(front),
                None => false,
            };
            if !ready {
                break;
            }
            let h = self.pop(ino);
            if let Some(h) = h {
                self.release(h, out);
            }
        }
    }

    fn pop(&mut self, ino: u64) -> Option<Held> {
        let q = self.queues.get_mut(&ino)?;
        let h = q.pop_front();
        if q.is_empty() {
            self.queues.remove(&ino);
        }
        h
    }

    /// Take one record that carries an ack (or an info/close record of a
    /// socket whose records do); what may go now is appended to `out`.
    pub fn push(&mut self, raw: Vec<u8>, now: u64, out: &mut Vec<Vec<u8>>) {
        self.now = self.now.max(now);
        let Some(hdr) = record::header(&raw) else {
            out.push(raw);
            return;
        };
        let ack = matches!(hdr.kind, KIND_DATA | KIND_GAP).then(|| rel(hdr.ack));
        self.seq += 1;
        let h = Held {
            raw,
            peer: hdr.peer_ino,
            ack,
            pending_peer: hdr.flags & FLAG_PEER_PENDING != 0,
            since: now,
            seq: self.seq,
        };
        self.held += h.raw.len();
        let queued = self
            .queues
            .get(&hdr.sock_ino)
            .is_some_and(|q| !q.is_empty());
        if !queued && self.ready(&h) {
            self.release(h, out);
        } else {
            self.queues.entry(hdr.sock_ino).or_default().push_back(h);
            if !queued {
                // The peer's first record may have waited for this one.
                self.cascade(hdr.peer_ino, out);
            }
            self.break_cycle(hdr.sock_ino, out);
            while self.held > MAX_HELD {
                self.force_oldest(out, true);
            }
        }
    }

    /// The first records held for `ino` and for its peer, each waiting for
    /// the other to go first (acks that contradict each other: see the
    /// start-up races in src/bpf/sock_hook.bpf.h). Nothing that comes later
    /// can release either (a socket's later records wait behind its first),
    /// so waiting for the time bound would change nothing but the delay:
    /// the older goes now, counted as released by the bound.
    fn break_cycle(&mut self, ino: u64, out: &mut Vec<Vec<u8>>) {
        loop {
            let Some(a) = self.queues.get(&ino).and_then(|q| q.front()) else {
                return;
            };
            let peer = a.peer;
            let Some(b) = self.queues.get(&peer).and_then(|q| q.front()) else {
                return;
            };
            if b.peer != ino || self.ready(a) || self.ready(b) {
                return;
            }
            let older = if a.seq <= b.seq { ino } else { peer };
            let Some(h) = self.pop(older) else { return };
            self.release_forced(h, out);
            self.cascade(older, out);
        }
    }

    fn force_oldest(&mut self, out: &mut Vec<Vec<u8>>, count: bool) {
        let oldest = self
            .queues
            .iter()
            .filter_map(|(ino, q)| q.front().map(|h| (h.seq, *ino)))
            .min();
        if let Some((_, ino)) = oldest {
            if let Some(h) = self.pop(ino) {
                if count {
                    self.release_forced(h, out);
                } else {
                    self.release(h, out);
                }
                self.cascade(ino, out);
            }
        }
    }

    /// Release records that waited longer than `MAX_HOLD_NS` before `now`.
    pub fn expire(&mut self, now: u64, out: &mut Vec<Vec<u8>>) {
        self.now = self.now.max(now);
        while let Some(&(at, ino)) = self.closed.front() {
            if at.saturating_add(CLOSED_KEEP_NS) > now {
                break;
            }
            self.closed.pop_front();
            if !self.queues.contains_key(&ino) {
                self.progress.remove(&ino);
            }
        }
        loop {
            let due = self
                .queues
                .iter()
                .filter_map(|(ino, q)| q.front().map(|h| (h.since, *ino)))
                .filter(|(since, _)| since.saturating_add(MAX_HOLD_NS) <= now)
                .min();
            let Some((_, ino)) = due else { return };
            if let Some(h) = self.pop(ino) {
                self.release_forced(h, out);
                self.cascade(ino, out);
            }
        }
    }

    /// End of capture: everything, oldest first.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) {
        while !self.queues.is_empty() {
            self.force_oldest(out, false);
        }
    }
}

#[cfg(test)]
mod tests;
