//! Per-stream call state of a ttrpc connection: pairs a request with its
//! data and its response, and emits the same call events as gRPC's.
//!
//! Stream life (containerd/ttrpc PROTOCOL.md, "Streaming"): a request opens
//! the stream; a unary request (no flags) carries the one request message
//! and is answered by one response; `remote open` on a request means the
//! client streams data frames, `remote closed` on a data frame ends a
//! side's data, and a response always ends the stream. A server's data
//! frame with `remote closed` finishes it too ("finished" in the diagrams).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Range;

use super::frame::{Head, NO_DATA, REMOTE_CLOSED, REMOTE_OPEN};
use super::message::{RequestEnv, ResponseEnv, NAMESPACE_KEY};
use super::Error;
use crate::decode::unrequested::{ClientStreams, Named, Unrequested};
use crate::decode::{CallMeta, Dir, Event, PathInfo, Request, Stamp};
use crate::decode::{HeaderField, Octets};

/// Ended streams below the first one we saw, remembered so late frames for
/// them do not revive them.
const MAX_PRE_CLOSED: usize = 1 << 16;
/// Open calls kept per connection; beyond it the oldest ends unfinished.
pub const MAX_OPEN_CALLS: usize = 1024;
/// Streams a server's data frame ended, remembered so that a final
/// response after it is not taken for a response to an ended call.
const MAX_DATA_ENDED: usize = 64;

#[derive(Debug)]
struct Call {
    path: PathInfo,
    meta: CallMeta,
    started_ns: Option<u64>,
    /// The request was unary (no flags), or the call's request was not seen.
    unary: bool,
}

/// A frame's data and where it lies in the direction's stream.
#[derive(Clone, Copy, Debug)]
pub struct Data<'a> {
    /// The frame's data.
    pub bytes: &'a [u8],
    /// Stream offset of `bytes[0]`.
    pub at: u64,
}

impl Data<'_> {
    fn message(&self, r: Range<usize>) -> (Vec<u8>, Vec<Range<u64>>) {
        let payload = self.bytes.get(r.clone()).unwrap_or_default().to_vec();
        let mut ranges = Vec::new();
        if !r.is_empty() {
            ranges.push(self.at + r.start as u64..self.at + r.end as u64);
        }
        (payload, ranges)
    }
}

/// The calls of one connection.
///
/// Whatever the interleaving of the two directions, a call decodes the
/// same: a response (or data) on a stream its client has not opened yet
/// waits for the request ([`Unrequested`]).
#[derive(Debug, Default)]
pub struct Calls {
    open: BTreeMap<u32, Call>,
    /// Highest stream id a call was created for.
    highest: Option<u32>,
    /// The first stream id a call was created for: lower ids were opened
    /// before the capture.
    boundary: Option<u32>,
    /// Ended streams below `boundary`.
    pre_closed: BTreeSet<u32>,
    /// The latest streams a server's `remote closed` data frame ended.
    data_ended: VecDeque<u32>,
    /// Streams the client direction opened.
    client: ClientStreams,
    /// Server events of streams whose request is still to come.
    unrequested: Unrequested,
    /// The latest write time seen (ns).
    now: u64,
}

fn message_event(
    sid: u32,
    dir: Dir,
    call: &Call,
    stamp: &Stamp,
    data: &Data<'_>,
    r: Range<usize>,
) -> Event {
    let (payload, stream_ranges) = data.message(r);
    Event::Message {
        stream_id: sid,
        dir,
        path: call.path.clone(),
        stamp: *stamp,
        compressed: false,
        payload,
        decompress_error: None,
        stream_ranges,
        meta: call.meta.clone(),
        http: None,
    }
}

impl Calls {
    /// Whether a stream never seen may be a call, for a frame from `dir`:
    /// one the client opens now, or older than the first seen (open before
    /// the capture) and not ended; while nothing says which streams the
    /// client opened, newer than all seen.
    fn admissible(&self, dir: Dir, sid: u32) -> bool {
        let before_capture = self
            .boundary
            .is_some_and(|b| sid < b && !self.pre_closed.contains(&sid));
        before_capture
            || match self.client.known() {
                true => dir == Dir::ToServer && self.client.not_yet_opened(sid),
                false => self.highest.is_none_or(|h| sid > h),
            }
    }

    /// The client direction used stream `sid`: streams below it whose
    /// request was awaited will not get one (a client opens its streams in
    /// order), so their events go out unnamed.
    fn client_used(&mut self, sid: u32, out: &mut Vec<Event>) {
        self.client.used(sid);
        let passed: Vec<u32> = self
            .open
            .range(..sid)
            .map(|(s, _)| *s)
            .filter(|s| self.unrequested.waits(*s))
            .collect();
        for s in passed {
            self.unrequested.release(s, None, out);
        }
    }

    /// Streams that waited too long for their request go on unnamed.
    fn expire(&mut self, stamp: &Stamp, out: &mut Vec<Event>) {
        self.now = self.now.max(stamp.ts_ns);
        self.unrequested.expire(self.now, out);
    }

    /// Bytes of the client direction were lost (requests among them, maybe):
    /// nothing waits for a request any more.
    pub fn client_lost(&mut self, out: &mut Vec<Event>) {
        self.client.lost();
        self.unrequested.release_all(out);
    }

    fn admit(&mut self, sid: u32, call: Call, stamp: &Stamp, out: &mut Vec<Event>) {
        if self.open.len() >= MAX_OPEN_CALLS {
            if let Some(&oldest) = self.open.keys().next() {
                self.finish(oldest, stamp, None, true, out);
            }
        }
        self.highest = Some(self.highest.map_or(sid, |h| h.max(sid)));
        self.boundary.get_or_insert(sid);
        self.open.insert(sid, call);
    }

    /// The open call on `sid`, or one whose request came before the
    /// capture, or (a server frame) one whose request is still to come.
    fn get_or_unknown(
        &mut self,
        dir: Dir,
        sid: u32,
        stamp: &Stamp,
        out: &mut Vec<Event>,
    ) -> Option<&mut Call> {
        if !self.open.contains_key(&sid) {
            let awaited = dir == Dir::ToClient && self.client.not_yet_opened(sid);
            if !awaited && !self.admissible(dir, sid) {
                return None;
            }
            if awaited {
                self.unrequested.expect(sid, stamp.ts_ns);
            }
            let call = Call {
                path: PathInfo::Unknown,
                meta: CallMeta::default(),
                started_ns: None,
                unary: true,
            };
            self.admit(sid, call, stamp, out);
        }
        self.open.get_mut(&sid)
    }

    /// A request frame with its envelope.
    pub fn on_request(
        &mut self,
        head: &Head,
        env: RequestEnv,
        data: &Data<'_>,
        stamp: &Stamp,
        out: &mut Vec<Event>,
    ) {
        self.expire(stamp, out);
        let sid = head.stream_id;
        let awaited = self.unrequested.waits(sid);
        if !awaited && (self.open.contains_key(&sid) || !self.admissible(Dir::ToServer, sid)) {
            out.push(Event::Error {
                dir: Dir::ToServer,
                error: Error::RequestOnUsedStream { stream_id: sid }.into(),
            });
            return;
        }
        self.client_used(sid, out);
        let meta = CallMeta {
            namespace: env.meta(NAMESPACE_KEY).map(str::to_owned),
            // ttrpc sends 0 for "no deadline".
            timeout_ns: u64::try_from(env.timeout_nano).ok().filter(|&t| t > 0),
            http: None,
        };
        let call = Call {
            path: PathInfo::Known(env.path()),
            meta: meta.clone(),
            started_ns: Some(stamp.ts_ns),
            unary: head.flags & (REMOTE_OPEN | REMOTE_CLOSED) == 0,
        };
        let headers = env
            .metadata
            .iter()
            .map(|(k, v)| HeaderField {
                name: Octets::Known(k.clone().into_bytes()),
                value: Octets::Known(v.clone().into_bytes()),
            })
            .collect();
        out.push(Event::CallStart {
            stream_id: sid,
            path: call.path.clone(),
            request: Request {
                headers,
                decoded: true,
                meta,
                ..Request::default()
            },
            stamp: *stamp,
        });
        // A client-streaming request carries no message: its data frames do.
        let streams_data = head.has(REMOTE_OPEN) && env.payload.is_empty();
        if !streams_data {
            out.push(message_event(
                sid,
                Dir::ToServer,
                &call,
                stamp,
                data,
                env.payload.clone(),
            ));
        }
        if !awaited {
            self.admit(sid, call, stamp, out);
            return;
        }
        // What the server said first goes out now, named; the call stays
        // open only if that did not end it.
        let named = Named {
            path: &call.path,
            meta: &call.meta,
            started_ns: call.started_ns,
        };
        self.unrequested.release(sid, Some(named), out);
        if let Some(open) = self.open.get_mut(&sid) {
            *open = call;
        }
    }

    /// A response frame with its envelope: the call's last message, if OK,
    /// and its end.
    pub fn on_response(
        &mut self,
        head: &Head,
        env: ResponseEnv,
        data: &Data<'_>,
        stamp: &Stamp,
        out: &mut Vec<Event>,
    ) {
        self.expire(stamp, out);
        let sid = head.stream_id;
        if !self.open.contains_key(&sid) {
            // A server may close a stream with data and still answer it.
            if let Some(i) = self.data_ended.iter().position(|&s| s == sid) {
                self.data_ended.remove(i);
                return;
            }
        }
        let Some(call) = self.get_or_unknown(Dir::ToClient, sid, stamp, out) else {
            out.push(Event::Error {
                dir: Dir::ToClient,
                error: Error::ResponseAfterEnd { stream_id: sid }.into(),
            });
            return;
        };
        let ok = env.status.as_ref().is_none_or(|s| s.code == 0);
        // Streams end with an empty response after their data ("a server
        // sends a final empty response to finish a stream").
        if ok && (call.unary || !env.payload.is_empty()) {
            let ev = message_event(sid, Dir::ToClient, call, stamp, data, env.payload.clone());
            self.unrequested.emit(sid, ev, out);
        }
        // No status is OK: Go's `status.FromProto(nil)` is codes.OK, and
        // containerd 1.6's shims send none when a call succeeds.
        let status = env.status.unwrap_or_default();
        self.finish(sid, stamp, Some((status.code, status.message)), false, out);
    }

    /// A data frame from either side.
    pub fn on_data(
        &mut self,
        dir: Dir,
        head: &Head,
        data: &Data<'_>,
        stamp: &Stamp,
        out: &mut Vec<Event>,
    ) {
        self.expire(stamp, out);
        let sid = head.stream_id;
        let Some(call) = self.get_or_unknown(dir, sid, stamp, out) else {
            return;
        };
        call.unary = false;
        let ev = (!head.has(NO_DATA))
            .then(|| message_event(sid, dir, call, stamp, data, 0..data.bytes.len()));
        if dir == Dir::ToServer {
            self.client_used(sid, out);
        }
        if let Some(ev) = ev {
            self.unrequested.emit(sid, ev, out);
        }
        if dir == Dir::ToClient && head.has(REMOTE_CLOSED) {
            self.finish(sid, stamp, None, false, out);
            if self.data_ended.len() >= MAX_DATA_ENDED {
                self.data_ended.pop_front();
            }
            self.data_ended.push_back(sid);
        }
    }

    /// A response to `sid` lost in a gap: its call ended, how is unknown.
    pub fn lost_response(&mut self, sid: u32, stamp: &Stamp, out: &mut Vec<Event>) {
        self.finish(sid, stamp, None, false, out);
    }

    /// The connection closed: every open call ends unfinished.
    pub fn close_all(&mut self, ts_ns: u64, out: &mut Vec<Event>) {
        let stamp = Stamp {
            ts_ns,
            ..Stamp::default()
        };
        self.unrequested.release_all(out);
        let sids: Vec<u32> = self.open.keys().copied().collect();
        for sid in sids {
            self.finish(sid, &stamp, None, true, out);
        }
    }

    fn finish(
        &mut self,
        sid: u32,
        stamp: &Stamp,
        status: Option<(u32, String)>,
        unfinished: bool,
        out: &mut Vec<Event>,
    ) {
        let Some(call) = self.open.remove(&sid) else {
            return;
        };
        if self.boundary.is_some_and(|b| sid < b) {
            if self.pre_closed.len() >= MAX_PRE_CLOSED {
                self.pre_closed.pop_first();
            }
            self.pre_closed.insert(sid);
        }
        let (status, message) = match status {
            Some((code, msg)) => (Some(code), Some(msg).filter(|m| !m.is_empty())),
            None => (None, None),
        };
        let end = Event::CallEnd {
            stream_id: sid,
            path: call.path,
            http_status: None,
            status,
            message,
            reset: None,
            started_ns: call.started_ns,
            ended_ns: stamp.ts_ns,
            unfinished,
            stamp: *stamp,
            meta: call.meta,
        };
        // Held with the rest when the request is still to come.
        self.unrequested.emit(sid, end, out);
    }
}
