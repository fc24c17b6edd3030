//! Per-stream call state: pairs a gRPC request with its messages and its
//! end (trailers, RST_STREAM, or connection close), and emits call events.

use std::collections::{BTreeMap, BTreeSet};

use super::grpc::{self, Assembler, Encoding};
use super::hpack::{HeaderField, Octets};
use crate::decode::unrequested::{ClientStreams, Named, Unrequested, WAIT_NS};
use crate::decode::{CallMeta, Dir, Error, Event, PathInfo, Request, Stamp};

/// Ended streams below the first one we saw, remembered so late frames for
/// them do not revive them.
const MAX_PRE_CLOSED: usize = 1 << 16;
/// Open calls kept per connection (each may buffer a partial message).
pub const MAX_OPEN_CALLS: usize = 1024;
/// One HTTP/2 stream carrying a gRPC call.
#[derive(Debug)]
struct Call {
    path: PathInfo,
    meta: CallMeta,
    request_seen: bool,
    response_seen: bool,
    started_ns: Option<u64>,
    http_status: Option<u16>,
    status: Option<u32>,
    message: Option<String>,
    /// `grpc-encoding` of each direction's messages.
    encoding: [Encoding; 2],
    asm: [Assembler; 2],
    /// The client's side ended (END_STREAM, a reset), or nothing of it is
    /// to be waited for (a request from before the capture).
    client_done: bool,
    /// The server's side ended: the write that ended it, and the reset
    /// code if a reset did. The call ends when both sides did.
    server_end: Option<(Stamp, Option<u32>)>,
}

impl Call {
    /// A call whose request headers were not seen; message boundaries are
    /// known from the start only in directions whose headers open the data.
    fn unknown(c2s_synced: bool, s2c_synced: bool) -> Call {
        Call {
            path: PathInfo::Unknown,
            meta: CallMeta::default(),
            request_seen: false,
            response_seen: false,
            started_ns: None,
            http_status: None,
            status: None,
            message: None,
            encoding: [Encoding::Unknown, Encoding::Unknown],
            asm: [Assembler::new(c2s_synced), Assembler::new(s2c_synced)],
            client_done: false,
            server_end: None,
        }
    }
}

/// The calls of one connection.
///
/// Whatever the interleaving of the two directions, a call decodes the
/// same: what the server says on a stream its client has not opened yet
/// waits for the request ([`Unrequested`]), and a call the server ended
/// waits for its client's side to end too (both at most [`WAIT_NS`]).
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
    /// Streams the client direction opened.
    client: ClientStreams,
    /// Server events of streams whose request is still to come.
    unrequested: Unrequested,
    /// Calls the server ended that wait for their client's side, by the
    /// time the server ended them.
    ending: BTreeSet<(u64, u32)>,
    /// The latest write time seen (ns).
    now: u64,
}

impl Calls {
    /// Highest stream id seen.
    pub fn highest(&self) -> Option<u32> {
        self.highest
    }

    /// The client direction was seen from its first byte (its preface).
    pub fn client_seen_from_start(&mut self) {
        self.client.seen_from_start();
    }

    /// The call on `sid`, creating it with `make` if the stream can be a call
    /// we have not seen yet: client-initiated (odd), and either newer than
    /// all the client opened or older than the first seen (open before the
    /// capture) and not ended since. A server frame on a stream its client
    /// has not opened yet makes a call that waits for its request.
    ///
    /// At most [`MAX_OPEN_CALLS`] stay open: calls whose end was lost in a
    /// gap would otherwise pile up, so the oldest ends as unfinished.
    fn get_or_admit(
        &mut self,
        dir: Dir,
        sid: u32,
        stamp: &Stamp,
        out: &mut Vec<Event>,
        make: impl FnOnce() -> Call,
    ) -> Option<&mut Call> {
        if self.open.contains_key(&sid) {
            return self.open.get_mut(&sid);
        }
        if sid % 2 == 0 {
            return None;
        }
        let before_capture = self
            .boundary
            .is_some_and(|b| sid < b && !self.pre_closed.contains(&sid));
        let awaited = dir == Dir::ToClient && self.client.not_yet_opened(sid);
        let admit = awaited
            || before_capture
            || match self.client.known() {
                true => dir == Dir::ToServer && self.client.not_yet_opened(sid),
                // Nothing says which streams the client opened: newer than
                // every stream seen is new.
                false => self.highest.is_none_or(|h| sid > h),
            };
        if !admit {
            return None;
        }
        if self.open.len() >= MAX_OPEN_CALLS {
            if let Some(&oldest) = self.open.keys().next() {
                self.finish(oldest, stamp, None, true, out);
            }
        }
        self.highest = Some(self.highest.map_or(sid, |h| h.max(sid)));
        self.boundary.get_or_insert(sid);
        if awaited {
            self.unrequested.expect(sid, stamp.ts_ns);
        }
        Some(self.open.entry(sid).or_insert_with(make))
    }

    /// The client direction used stream `sid`: streams below it whose
    /// request was awaited will not get one (a client opens its streams in
    /// order), so their events go out unnamed.
    fn client_used(&mut self, sid: u32, out: &mut Vec<Event>) {
        self.client.used(sid);
        let passed: Vec<u32> = self
            .open
            .range(..sid)
            .filter(|(s, c)| !c.request_seen && self.unrequested.waits(**s))
            .map(|(s, _)| *s)
            .collect();
        for s in passed {
            self.unrequested.release(s, None, out);
            if let Some(call) = self.open.get_mut(&s) {
                call.client_done = true;
            }
            self.finish_if_done(s, out);
        }
    }

    /// `ev` of the call on `sid`: held while its request is awaited.
    fn emit(&mut self, sid: u32, ev: Event, out: &mut Vec<Event>) {
        self.unrequested.emit(sid, ev, out);
    }

    /// A decoded header block (`None` if it could not be decoded) on a stream.
    pub fn on_headers(
        &mut self,
        dir: Dir,
        sid: u32,
        fields: Option<Vec<HeaderField>>,
        end_stream: bool,
        stamp: &Stamp,
        out: &mut Vec<Event>,
    ) {
        self.expire(stamp.ts_ns, out);
        // Headers open the data that follows them in their own direction.
        let make = || match dir {
            Dir::ToServer => Call::unknown(true, true),
            Dir::ToClient => Call::unknown(false, true),
        };
        let admitted = self.get_or_admit(dir, sid, stamp, out, make).is_some();
        if dir == Dir::ToServer {
            self.client_used(sid, out);
        }
        if !admitted {
            // Client streams only: even ones are server pushes, not calls.
            if sid % 2 == 1 {
                let error = Error::HeadersAfterEnd { stream_id: sid };
                out.push(Event::Error { dir, error });
            }
            return;
        }
        let Some(call) = self.open.get_mut(&sid) else {
            return;
        };
        let fields = fields.as_deref();
        match dir {
            Dir::ToServer if !call.request_seen => {
                call.request_seen = true;
                call.path = path_of(fields);
                call.started_ns = Some(stamp.ts_ns);
                call.encoding[0] = encoding_of(fields);
                call.asm[0] = Assembler::new(true);
                let request = request_of(fields);
                call.meta = request.meta.clone();
                out.push(Event::CallStart {
                    stream_id: sid,
                    path: call.path.clone(),
                    request,
                    stamp: *stamp,
                });
                let named = Named {
                    path: &call.path,
                    meta: &call.meta,
                    started_ns: call.started_ns,
                };
                self.unrequested.release(sid, Some(named), out);
            }
            Dir::ToServer => {}
            Dir::ToClient => {
                if !call.response_seen {
                    call.response_seen = true;
                    call.encoding[1] = encoding_of(fields);
                }
                let f = fields.unwrap_or_default();
                if let Some(s) = text(f, b":status").and_then(|s| s.parse().ok()) {
                    call.http_status = Some(s);
                }
                if let Some(s) = text(f, b"grpc-status").and_then(|s| s.parse().ok()) {
                    call.status = Some(s);
                }
                if let Some(m) = value(f, b"grpc-message") {
                    call.message = Some(percent_decode(m));
                }
            }
        }
        if end_stream {
            self.end_stream(dir, sid, stamp, out);
        } else {
            self.finish_if_done(sid, out);
        }
    }

    /// A DATA frame's payload (without padding), at stream offset `at`, on a stream.
    pub fn on_data(
        &mut self,
        dir: Dir,
        sid: u32,
        (data, at): (&[u8], u64),
        end_stream: bool,
        stamp: &Stamp,
        out: &mut Vec<Event>,
    ) {
        self.expire(stamp.ts_ns, out);
        let make = || Call::unknown(false, false);
        let admitted = self.get_or_admit(dir, sid, stamp, out, make).is_some();
        if dir == Dir::ToServer {
            self.client_used(sid, out);
        }
        let Some(call) = self.open.get_mut(&sid).filter(|_| admitted) else {
            return;
        };
        let d = dir.index();
        let mut msgs = Vec::new();
        call.asm[d].push(data, at, &mut msgs);
        let mut events = Vec::with_capacity(msgs.len());
        for m in msgs {
            let event = match m {
                Ok(raw) => {
                    let (payload, decompress_error) = match raw.compressed {
                        false => (raw.data, None),
                        true => match grpc::decompress(&call.encoding[d], &raw.data) {
                            Ok(p) => (p, None),
                            Err(e) => (raw.data, Some(e)),
                        },
                    };
                    Event::Message {
                        stream_id: sid,
                        dir,
                        path: call.path.clone(),
                        stamp: *stamp,
                        compressed: raw.compressed,
                        payload,
                        decompress_error,
                        stream_ranges: raw.stream_ranges,
                        meta: call.meta.clone(),
                        http: None,
                    }
                }
                Err(error) => Event::Error {
                    dir,
                    error: Error::Grpc {
                        stream_id: sid,
                        error,
                    },
                },
            };
            events.push(event);
        }
        for ev in events {
            self.emit(sid, ev, out);
        }
        if end_stream {
            self.end_stream(dir, sid, stamp, out);
        }
    }

    /// END_STREAM from `dir`. The server's ends the call (gRPC trailers)
    /// once the client's side ended too; the client's only half-closes it.
    pub fn end_stream(&mut self, dir: Dir, sid: u32, stamp: &Stamp, out: &mut Vec<Event>) {
        let Some(call) = self.open.get_mut(&sid) else {
            return;
        };
        let truncated = call.asm[dir.index()].truncated();
        call.asm[dir.index()] = Assembler::new(false);
        match dir {
            Dir::ToServer => call.client_done = true,
            Dir::ToClient => {
                // A request from before the capture has no side to wait for.
                if !call.request_seen && !self.unrequested.waits(sid) {
                    call.client_done = true;
                }
                call.server_end.get_or_insert((*stamp, None));
                if !call.client_done {
                    self.ending.insert((stamp.ts_ns, sid));
                }
            }
        }
        if let Some(error) = truncated {
            let error = Error::Grpc {
                stream_id: sid,
                error,
            };
            self.emit(sid, Event::Error { dir, error }, out);
        }
        self.finish_if_done(sid, out);
    }

    /// RST_STREAM on a stream from either side ends both its sides (its
    /// call ends once its request, if awaited, came).
    pub fn on_reset(&mut self, sid: u32, code: u32, stamp: &Stamp, out: &mut Vec<Event>) {
        let Some(call) = self.open.get_mut(&sid) else {
            return;
        };
        call.client_done = true;
        // A client's reset after the server's end (grpc-go resets a stream
        // it had not half-closed when the trailers come) ends nothing more.
        call.server_end.get_or_insert((*stamp, Some(code)));
        self.finish_if_done(sid, out);
        if self.open.contains_key(&sid) {
            self.ending.insert((stamp.ts_ns, sid));
        }
    }

    /// Bytes of `dir` were lost: no open call knows its message boundaries.
    /// Lost client bytes may have held requests and ends of calls: nothing
    /// more is waited for.
    pub fn lose_data(&mut self, dir: Dir, out: &mut Vec<Event>) {
        for call in self.open.values_mut() {
            call.asm[dir.index()].lose_sync();
        }
        if dir == Dir::ToServer {
            self.client.lost();
            self.unrequested.release_all(out);
            for call in self.open.values_mut() {
                call.client_done = true;
            }
            let sids: Vec<u32> = self.open.keys().copied().collect();
            for sid in sids {
                self.finish_if_done(sid, out);
            }
        }
    }

    /// Bytes of one stream's `dir` were lost.
    pub fn lose_stream_data(&mut self, dir: Dir, sid: u32) {
        if let Some(call) = self.open.get_mut(&sid) {
            call.asm[dir.index()].lose_sync();
        }
    }

    /// The connection closed: every open call ends (unfinished unless the
    /// server had ended it).
    pub fn close_all(&mut self, ts_ns: u64, out: &mut Vec<Event>) {
        let stamp = Stamp {
            ts_ns,
            ..Stamp::default()
        };
        let sids: Vec<u32> = self.open.keys().copied().collect();
        for sid in sids {
            self.finish(sid, &stamp, None, true, out);
        }
    }

    /// Streams that waited [`WAIT_NS`] for their request by `now` go on
    /// unnamed, and calls the server ended that long ago stop waiting for
    /// their client's side.
    fn expire(&mut self, now: u64, out: &mut Vec<Event>) {
        self.now = self.now.max(now);
        let now = self.now;
        for sid in self.unrequested.expire(now, out) {
            if let Some(call) = self.open.get_mut(&sid) {
                call.client_done = true;
            }
            self.finish_if_done(sid, out);
        }
        while let Some(&(ts, sid)) = self.ending.first() {
            if ts.saturating_add(WAIT_NS) >= now {
                return;
            }
            self.ending.pop_first();
            self.unrequested.release(sid, None, out);
            if let Some(call) = self.open.get_mut(&sid) {
                call.client_done = true;
            }
            self.finish_if_done(sid, out);
        }
    }

    /// End the call on `sid` if both its sides ended and its request is
    /// not awaited.
    fn finish_if_done(&mut self, sid: u32, out: &mut Vec<Event>) {
        let done = self.open.get(&sid).is_some_and(|c| {
            c.client_done && c.server_end.is_some() && !self.unrequested.waits(sid)
        });
        if done {
            self.finish(sid, &Stamp::default(), None, false, out);
        }
    }

    /// The call on `sid` ends: at the server's end when it had one
    /// (`stamp`, `reset` and `unfinished` otherwise). What waited for its
    /// request goes out first, unnamed.
    fn finish(
        &mut self,
        sid: u32,
        stamp: &Stamp,
        reset: Option<u32>,
        unfinished: bool,
        out: &mut Vec<Event>,
    ) {
        self.unrequested.release(sid, None, out);
        let Some(call) = self.open.remove(&sid) else {
            return;
        };
        if let Some((s, _)) = call.server_end {
            self.ending.remove(&(s.ts_ns, sid));
        }
        if self.boundary.is_some_and(|b| sid < b) {
            if self.pre_closed.len() >= MAX_PRE_CLOSED {
                self.pre_closed.pop_first();
            }
            self.pre_closed.insert(sid);
        }
        let (stamp, reset, unfinished) = match call.server_end {
            Some((s, r)) => (s, r, false),
            None => (*stamp, reset, unfinished),
        };
        out.push(Event::CallEnd {
            stream_id: sid,
            path: call.path,
            http_status: call.http_status,
            status: call.status,
            message: call.message,
            reset,
            started_ns: call.started_ns,
            ended_ns: stamp.ts_ns,
            unfinished,
            stamp,
            meta: call.meta,
        });
    }
}

/// The value of the first field named `name` whose value is known.
fn value<'a>(fields: &'a [HeaderField], name: &[u8]) -> Option<&'a [u8]> {
    fields
        .iter()
        .filter(|f| f.name.is(name))
        .find_map(|f| f.value.known())
}

fn text(fields: &[HeaderField], name: &[u8]) -> Option<String> {
    value(fields, name).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// `:path`, only if both its name and value were decoded from seen octets.
fn path_of(fields: Option<&[HeaderField]>) -> PathInfo {
    let field = fields
        .unwrap_or_default()
        .iter()
        .find(|f| f.name.is(b":path"));
    match field.map(|f| &f.value) {
        Some(Octets::Known(v)) => PathInfo::Known(String::from_utf8_lossy(v).into_owned()),
        _ => PathInfo::Unknown,
    }
}

/// The message encoding a header block announces; unknown if the block was
/// not decoded or a field name is unknown (it might be `grpc-encoding`).
fn encoding_of(fields: Option<&[HeaderField]>) -> Encoding {
    let Some(fields) = fields else {
        return Encoding::Unknown;
    };
    match fields.iter().find(|f| f.name.is(b"grpc-encoding")) {
        Some(f) => match f.value.known() {
            Some(v) => Encoding::from_header(Some(v)),
            None => Encoding::Unknown,
        },
        None if fields.iter().any(|f| f.name == Octets::Unknown) => Encoding::Unknown,
        None => Encoding::Identity,
    }
}

fn request_of(fields: Option<&[HeaderField]>) -> Request {
    let f = fields.unwrap_or_default();
    Request {
        method: text(f, b":method"),
        authority: text(f, b":authority"),
        content_type: text(f, b"content-type"),
        user_agent: text(f, b"user-agent"),
        grpc_timeout: text(f, b"grpc-timeout"),
        grpc_encoding: text(f, b"grpc-encoding"),
        headers: f.to_vec(),
        decoded: fields.is_some(),
        meta: CallMeta {
            namespace: text(f, b"containerd-namespace"),
            timeout_ns: value(f, b"grpc-timeout").and_then(timeout_ns),
            http: None,
        },
    }
}

/// `grpc-timeout` in ns: "TimeoutValue TimeoutUnit", at most 8 ASCII digits
/// and one of `H M S m u n` (gRPC PROTOCOL-HTTP2.md, "Requests").
fn timeout_ns(v: &[u8]) -> Option<u64> {
    let (&unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let scale: u64 = match unit {
        b'H' => 3_600_000_000_000,
        b'M' => 60_000_000_000,
        b'S' => 1_000_000_000,
        b'm' => 1_000_000,
        b'u' => 1_000,
        b'n' => 1,
        _ => return None,
    };
    Some(n.saturating_mul(scale))
}

/// gRPC percent-encodes `grpc-message` (PROTOCOL-HTTP2 spec): `%XX` is a
/// byte, the result is UTF-8; malformed escapes are kept as they are.
fn percent_decode(v: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        let esc = match (v[i], v.get(i + 1), v.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)),
            _ => None,
        };
        match esc {
            Some((h, l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            None => {
                out.push(v[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
