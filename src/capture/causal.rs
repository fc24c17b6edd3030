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
//! start-up race described in snoop.bpf.c), and at most `MAX_HELD` bytes wait.

use std::collections::{HashMap, VecDeque};

use super::record::{self, FLAG_PEER_PENDING, KIND_CLOSE, KIND_DATA, KIND_GAP, OFFSET_BASE};

/// Longest wait for the peer's records.
pub const MAX_HOLD_NS: u64 = 500_000_000;
/// Bytes held at most; past this the oldest record is released.
pub const MAX_HELD: usize = 8 << 20;
/// Sockets whose progress is remembered; past this, those with nothing held are forgotten.
const MAX_SOCKETS: usize = 1 << 17;

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
    /// Bytes held now.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    fn ready(&self, h: &Held) -> bool {
        // Bytes below the base were sent before the tracer saw the
        // connection: no record of them will come, unless the kernel side
        // said one is pending.
        let unseen = if h.pending_peer { i64::MIN } else { 0 };
        match h.ack {
            None => true,
            Some(ack) => ack <= self.progress.get(&h.peer).copied().unwrap_or(unseen),
        }
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
            self.advance(ino, end, h.peer_ino, out);
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
            while self.held > MAX_HELD {
                self.force_oldest(out, true);
            }
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
mod tests {
    use super::*;
    use crate::capture::record::{HEADER_LEN, KIND_SOCK_INFO};
    use crate::capture::skel::types::snoop_event;

    /// A data record of socket `ino` (peer `peer`) at `off` of `len` bytes, acking `ack`.
    fn data(ino: u64, peer: u64, off: i64, len: u32, ack: i64) -> Vec<u8> {
        let h = snoop_event {
            sock_ino: ino,
            peer_ino: peer,
            offset: (OFFSET_BASE as i64 + off) as u64,
            ack: (OFFSET_BASE as i64 + ack) as u64,
            kind: KIND_DATA,
            len,
            ..Default::default()
        };
        let mut v = vec![0u8; HEADER_LEN];
        record::set_header(&mut v, &h);
        v.extend(std::iter::repeat_n(b'x', len as usize));
        v
    }

    fn who(out: &[Vec<u8>]) -> Vec<(u64, i64)> {
        out.iter()
            .map(|r| {
                let h = record::header(r).unwrap();
                (h.sock_ino, rel(h.offset))
            })
            .collect()
    }

    #[test]
    fn a_reply_waits_for_the_request_it_acknowledges() {
        let mut c = Causal::default();
        let mut out = vec![];
        // The server (2) answers after reading 10 bytes of the client (1),
        // whose record of those bytes is late.
        c.push(data(2, 1, 0, 5, 10), 0, &mut out);
        assert!(out.is_empty(), "the reply must wait");
        c.push(data(1, 2, 0, 10, 0), 1, &mut out);
        assert_eq!(who(&out), [(1, 0), (2, 0)]);
        assert_eq!(c.held_bytes(), 0);
    }

    #[test]
    fn records_of_one_socket_keep_their_order() {
        let mut c = Causal::default();
        let mut out = vec![];
        c.push(data(2, 1, 0, 5, 10), 0, &mut out);
        let mut info = data(2, 1, 5, 0, 0);
        let mut h = record::header(&info).unwrap();
        h.kind = KIND_SOCK_INFO;
        record::set_header(&mut info, &h);
        c.push(info, 0, &mut out);
        assert!(out.is_empty(), "behind a held record");
        c.push(data(1, 2, 0, 10, 0), 1, &mut out);
        assert_eq!(who(&out), [(1, 0), (2, 0), (2, 5)]);
    }

    #[test]
    fn a_pending_peer_write_is_waited_for_even_below_the_base() {
        let mut c = Causal::default();
        let mut out = vec![];
        // The server answered the first bytes of a client write that was
        // still blocked (its record comes later, starting below the base).
        let mut reply = data(2, 1, 0, 5, -100);
        let mut h = record::header(&reply).unwrap();
        h.flags |= FLAG_PEER_PENDING;
        record::set_header(&mut reply, &h);
        c.push(reply.clone(), 0, &mut out);
        assert!(out.is_empty());
        c.push(data(1, 2, -164, 4096, 0), 1, &mut out);
        assert_eq!(who(&out), [(1, -164), (2, 0)]);
        // A peer that never sends: released at the bound, not counted, and
        // later records of the same wait need not wait again.
        let mut c = Causal::default();
        let mut out = vec![];
        c.push(reply.clone(), 0, &mut out);
        c.expire(MAX_HOLD_NS, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(c.forced, 0);
        let mut next = data(2, 1, 5, 5, -100);
        let mut h = record::header(&next).unwrap();
        h.flags |= FLAG_PEER_PENDING;
        record::set_header(&mut next, &h);
        c.push(next, MAX_HOLD_NS, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn bytes_before_the_tracer_need_nothing() {
        let mut c = Causal::default();
        let mut out = vec![];
        c.push(data(2, 1, 0, 5, -300), 0, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_record_whose_ack_never_comes_leaves_after_the_bound() {
        let mut c = Causal::default();
        let mut out = vec![];
        c.push(data(2, 1, 0, 5, 10), 0, &mut out);
        c.expire(MAX_HOLD_NS - 1, &mut out);
        assert!(out.is_empty());
        c.expire(MAX_HOLD_NS, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(c.forced, 1);
    }

    #[test]
    fn memory_is_bounded() {
        let mut c = Causal::default();
        let mut out = vec![];
        for i in 0..400 {
            c.push(data(2, 1, i * 32768, 32768, i64::MAX / 2), 0, &mut out);
            assert!(c.held_bytes() <= MAX_HELD);
        }
        assert!(!out.is_empty());
    }
}
