//! Calls whose reply reached the decoder before their request.
//!
//! Each direction's bytes are exact and in order, but the order between
//! the two directions may be off (the capture orders them by acks, and by
//! time when the acks cannot tell). A server only answers streams its
//! client opened, and a client opens them in increasing order, so a
//! server frame on a stream the client direction has not opened yet means
//! the request is still to come in the client's bytes. Both protocols'
//! calls hold that stream's events here until the request names the call,
//! then release them with its path and context, so a call decodes the same
//! whatever the interleaving of its request and its reply.
//!
//! Bounded: a stream waits at most [`WAIT_NS`] (by the times of the
//! connection's later writes: longer than the capture's ordering holds a
//! write) and at most [`MAX_HELD`] events wait, beyond which the oldest
//! stream's go out unnamed, as they do when the client direction loses
//! bytes (its request may have been in them) or the connection closes.

use std::collections::BTreeMap;

use super::{CallMeta, Event, PathInfo};

/// Events held at most, over all streams of one connection.
pub const MAX_HELD: usize = 4096;
/// How long a stream waits for its request, and a call its server ended
/// for the end of its client's side.
pub const WAIT_NS: u64 = 2_000_000_000;

/// Which client streams are opened so far, from the client direction's
/// bytes alone.
#[derive(Debug, Default)]
pub struct ClientStreams {
    /// The client direction was seen from its first byte.
    at_start: bool,
    /// Highest stream id the client direction used.
    high: Option<u32>,
    /// Bytes of the client direction were lost since it last opened a
    /// stream: they may have opened streams above `high`.
    lost: bool,
}

impl ClientStreams {
    /// The client direction is known to have been seen from its first byte
    /// (HTTP/2: its preface), so no stream was opened before the capture.
    pub fn seen_from_start(&mut self) {
        self.at_start = true;
    }

    /// The client direction used stream `sid`. Past every stream it used,
    /// it opened `sid` and everything below.
    pub fn used(&mut self, sid: u32) {
        if self.high.is_none_or(|h| sid > h) {
            self.high = Some(sid);
            self.lost = false;
        }
    }

    /// Bytes of the client direction were lost.
    pub fn lost(&mut self) {
        self.lost = true;
    }

    /// Whether anything says which streams the client opened: it was seen
    /// from its start, or used a stream since.
    pub fn known(&self) -> bool {
        !self.lost && (self.at_start || self.high.is_some())
    }

    /// Whether the client direction may still open client stream `sid`:
    /// above every stream it used, and nothing of it lost since.
    pub fn not_yet_opened(&self, sid: u32) -> bool {
        // Before the client said anything, a reply may be to a request
        // still to come as well as to one from before the capture: it
        // waits, for nothing in the second case (it goes on unnamed once
        // the client opens a later stream, or at the bound).
        sid % 2 == 1 && !self.lost && self.high.is_none_or(|h| sid > h)
    }
}

/// Events of streams whose request has not been seen, in arrival order.
#[derive(Debug, Default)]
pub struct Unrequested {
    /// Per stream: since when it waits, and its events.
    streams: BTreeMap<u32, (u64, Vec<Event>)>,
    held: usize,
}

impl Unrequested {
    /// From now on (`now`, ns), `sid`'s events wait for its request.
    pub fn expect(&mut self, sid: u32, now: u64) {
        self.streams.entry(sid).or_insert((now, Vec::new()));
    }

    /// Streams that waited longer than [`WAIT_NS`] at `now` stop waiting,
    /// their events unnamed; their ids are returned.
    pub fn expire(&mut self, now: u64, out: &mut Vec<Event>) -> Vec<u32> {
        let old: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, (since, _))| since.saturating_add(WAIT_NS) < now)
            .map(|(sid, _)| *sid)
            .collect();
        for &sid in &old {
            self.release(sid, None, out);
        }
        old
    }

    /// Whether `sid`'s events wait for its request.
    pub fn waits(&self, sid: u32) -> bool {
        self.streams.contains_key(&sid)
    }

    /// `ev`, of stream `sid`: held if the stream waits, else appended to
    /// `out`. Past [`MAX_HELD`], the stream that waited longest stops
    /// waiting and its events go out unnamed; its id is returned.
    pub fn emit(&mut self, sid: u32, ev: Event, out: &mut Vec<Event>) -> Option<u32> {
        let Some((_, held)) = self.streams.get_mut(&sid) else {
            out.push(ev);
            return None;
        };
        held.push(ev);
        self.held += 1;
        if self.held <= MAX_HELD {
            return None;
        }
        let oldest = *self.streams.keys().next()?;
        self.release(oldest, None, out);
        Some(oldest)
    }

    /// The request of `sid` arrived: its held events go out, named by
    /// `call` (path, context and start time) when given.
    pub fn release(&mut self, sid: u32, call: Option<Named<'_>>, out: &mut Vec<Event>) {
        let Some((_, events)) = self.streams.remove(&sid) else {
            return;
        };
        self.held -= events.len();
        for mut ev in events {
            if let Some(n) = &call {
                n.apply(&mut ev);
            }
            out.push(ev);
        }
    }

    /// Every stream stops waiting, its events unnamed (the client's bytes
    /// were lost, or the connection closed); their ids are returned.
    pub fn release_all(&mut self, out: &mut Vec<Event>) -> Vec<u32> {
        let sids: Vec<u32> = self.streams.keys().copied().collect();
        for &sid in &sids {
            self.release(sid, None, out);
        }
        sids
    }
}

/// What a request says of its call, given to the events held for it.
#[derive(Clone, Copy, Debug)]
pub struct Named<'a> {
    /// The method path.
    pub path: &'a PathInfo,
    /// Namespace and timeout.
    pub meta: &'a CallMeta,
    /// When the request was written.
    pub started_ns: Option<u64>,
}

impl Named<'_> {
    fn apply(&self, ev: &mut Event) {
        match ev {
            Event::Message { path, meta, .. } => {
                *path = self.path.clone();
                *meta = self.meta.clone();
            }
            Event::CallEnd {
                path,
                meta,
                started_ns,
                ..
            } => {
                *path = self.path.clone();
                *meta = self.meta.clone();
                *started_ns = self.started_ns;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
