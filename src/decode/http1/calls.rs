//! The calls of one HTTP/1.x connection: requests paired with their
//! responses, bodies turned into messages, hijacked streams.
//!
//! A server answers requests in the order they came (RFC 9112 section
//! 9.3.2), so a response answers the oldest request not answered yet.
//! What a capture cannot order (its two directions' bytes are exact, the
//! order between them comes from acks or time) the write times settle: a
//! response answers a request written before it. A response with no such
//! request waits (bounded) for one; a response written before every
//! request still waiting answers none seen (it is unnamed). After the
//! server's bytes were lost, responses to the older requests may have been
//! in them: the next response answers the latest request written before
//! it (clients that wait for each answer, as Go's `net/http` does, have
//! one), the older requests end unfinished.

use std::collections::VecDeque;

use super::head::{Framing, Head, RequestFacts, Start};
use super::ops;
use super::part::{is_json_type, Collector, JsonScan, PartKind};
use super::secrets;
use super::stream::{Demux, StreamFraming, Ttys};
use super::HttpCall;
use crate::decode::unrequested::WAIT_NS;
use crate::decode::{
    CallMeta, Dir, Event, HeaderField, LiteralValue, Octets, PathInfo, Request, Stamp,
};

/// Requests waiting for their responses, at most; past it the oldest ends
/// unfinished.
pub const MAX_WAITING: usize = 1024;

/// A call: its request, or (for a response whose request was not seen)
/// what is known.
#[derive(Clone, Debug)]
struct Call {
    id: u32,
    path: PathInfo,
    meta: CallMeta,
    facts: RequestFacts,
    /// When the request head was written.
    started_ns: Option<u64>,
    /// The `Tty` its request body gave (ContainerCreate, ContainerExec,
    /// ExecStart; libpod's `terminal`).
    tty: Option<bool>,
}

impl Call {
    /// The request target, or "" when the request was not seen.
    fn target(&self) -> &str {
        self.meta
            .http
            .as_ref()
            .and_then(|h| h.target.as_deref())
            .unwrap_or_default()
    }

    fn http(&mut self) -> &mut HttpCall {
        self.meta.http.get_or_insert_with(Default::default)
    }
}

/// A body under way, of the call it belongs to.
#[derive(Debug)]
struct Body {
    call: Call,
    part: Collector,
    /// A streamed JSON response: one message per value.
    json_stream: bool,
    /// A chunked response of another type (logs): one message per chunk.
    per_chunk: bool,
    scan: JsonScan,
    /// Messages emitted from it so far.
    emitted: u32,
    /// A 1xx response: its end is not the call's.
    interim: bool,
    /// A container's logs in stdcopy frames (or raw, for a TTY): its
    /// messages are cut as the frames say.
    logs: Option<Demux>,
}

impl Body {
    /// The bytes collected so far as messages: as the logs' frames cut
    /// them, or as one.
    fn emit(&mut self, dir: Dir, stamp: &Stamp, out: &mut Vec<Event>) {
        let taken = self.part.take();
        let Some(demux) = self
            .logs
            .as_mut()
            .filter(|_| taken.2.kept && taken.1.len() == 1)
        else {
            out.push(message(&self.call, dir, stamp, taken));
            return;
        };
        let mut pieces = Vec::new();
        demux.split(&taken.0, taken.1[0].start, &mut pieces);
        for (kind, bytes, at) in pieces {
            let mut part = Collector::new(kind, None);
            part.push(bytes, at);
            out.push(message(&self.call, dir, stamp, part.take()));
        }
    }
}

/// A response head that waits for its request.
#[derive(Debug)]
struct Stalled {
    head: Head,
    stamp: Stamp,
}

/// The calls of one connection.
#[derive(Debug, Default)]
pub struct Calls {
    waiting: VecDeque<Call>,
    next_id: u32,
    /// The body under way per direction.
    body: [Option<Body>; 2],
    /// The call whose connection was switched to a raw stream.
    switched: Option<Call>,
    stalled: Option<Stalled>,
    /// The next call found in each direction was found by resynchronising.
    resynced: [bool; 2],
    /// The server's bytes were lost since its last response.
    server_lost: bool,
    /// Per direction, how a switched stream's bytes are cut.
    demux: [Option<Demux>; 2],
    /// What create calls said of their containers' and execs' TTYs.
    pub ttys: Ttys,
    /// The latest request that asked for `Upgrade: h2c`, as HTTP/2 fields.
    h2c: Option<Vec<HeaderField>>,
}

fn message(call: &Call, dir: Dir, stamp: &Stamp, taken: TakenPart) -> Event {
    let (payload, stream_ranges, part) = taken;
    Event::Message {
        stream_id: call.id,
        dir,
        path: call.path.clone(),
        stamp: *stamp,
        compressed: false,
        payload,
        decompress_error: None,
        stream_ranges,
        meta: call.meta.clone(),
        http: Some(Box::new(part)),
    }
}

type TakenPart = (Vec<u8>, Vec<std::ops::Range<u64>>, super::Part);

/// Fields an HTTP/1.1 request's fields become in HTTP/2 (RFC 9113 section
/// 8.2.2 and 8.3.1): pseudo-fields first, names lower-cased, the
/// connection-specific ones and `Host` (now `:authority`) left out.
fn h2_fields(method: &str, target: &str, h: &Head) -> Vec<HeaderField> {
    const CONNECTION_SPECIFIC: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "http2-settings",
        "te",
        "host",
    ];
    let field = |n: &[u8], v: &[u8]| HeaderField {
        name: Octets::Known(n.to_vec()),
        value: Octets::Known(v.to_vec()),
    };
    let mut out = vec![
        field(b":method", method.as_bytes()),
        field(b":scheme", b"http"),
        field(b":path", target.as_bytes()),
    ];
    if let Some(host) = h.field("host") {
        out.push(field(b":authority", host));
    }
    for f in &h.fields {
        let name = f.name.to_ascii_lowercase();
        if !CONNECTION_SPECIFIC.contains(&name.as_str()) {
            out.push(field(name.as_bytes(), &f.value));
        }
    }
    out
}

/// The container a `/containers/{id}/ACTION` target (Docker's or libpod's) names.
fn container_in<'a>(target: &'a str, action: &str) -> Option<&'a str> {
    let segs: Vec<&str> = ops::api_path(target).split('/').collect();
    match segs.as_slice() {
        ["", "containers", id, a] | ["", "libpod", "containers", id, a] if *a == action => Some(id),
        _ => None,
    }
}

/// How a stream is framed, by the `Tty` of its container or exec.
fn by_tty(tty: Option<bool>) -> StreamFraming {
    match tty {
        Some(true) => StreamFraming::Raw,
        Some(false) => StreamFraming::Multiplexed,
        None => StreamFraming::Unknown,
    }
}

/// The API version a target names (`/v1.41/...` is (1, 41)).
fn api_version(target: &str) -> Option<(u32, u32)> {
    let v = target.strip_prefix("/v")?.split('/').next()?;
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The API's error message of a response body: the `message` member of a
/// JSON object (Docker's and Podman's error bodies both have one).
fn api_message(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v.get("message")?.as_str().map(str::to_owned)
}

impl Calls {
    /// Calls waiting for their responses (for the bounds).
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The next call found in `dir` came by resynchronising.
    pub fn resynced(&mut self, dir: Dir) {
        self.resynced[dir.index()] = true;
    }

    /// A request head: its call starts; returns its body framing and
    /// whether the client's bytes after it are a raw stream.
    pub fn on_request(&mut self, h: &Head, stamp: &Stamp, out: &mut Vec<Event>) -> Framing {
        let Start::Request { method, target } = &h.start else {
            return Framing::Empty;
        };
        self.next_id = self.next_id.wrapping_add(1);
        let resynced = std::mem::take(&mut self.resynced[0]);
        let (name, route) = ops::named(method, target);
        let meta = CallMeta {
            http: Some(Box::new(HttpCall {
                method: Some(method.clone()),
                target: Some(target.clone()),
                route,
                status: None,
                resynced,
            })),
            ..CallMeta::default()
        };
        let call = Call {
            id: self.next_id,
            path: PathInfo::Known(name),
            meta: meta.clone(),
            facts: RequestFacts::of(h),
            started_ns: Some(stamp.ts_ns),
            tty: None,
        };
        let text = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
        let mut headers = vec![
            HeaderField {
                name: Octets::Known(b":method".to_vec()),
                value: Octets::Known(method.clone().into_bytes()),
            },
            HeaderField {
                name: Octets::Known(b":path".to_vec()),
                value: Octets::Known(target.clone().into_bytes()),
            },
        ];
        headers.extend(h.fields.iter().map(|f| HeaderField {
            name: Octets::Known(f.name.to_ascii_lowercase().into_bytes()),
            value: Octets::Known(f.value.clone()),
        }));
        out.push(Event::CallStart {
            stream_id: call.id,
            path: call.path.clone(),
            request: Request {
                method: Some(method.clone()),
                authority: h.field("host").map(text),
                content_type: h.field("content-type").map(text),
                user_agent: h.field("user-agent").map(text),
                headers,
                decoded: true,
                meta,
                ..Request::default()
            },
            stamp: *stamp,
        });
        let framing = match h.request_framing() {
            Ok(f) => f,
            Err(e) => {
                out.push(Event::Error {
                    dir: Dir::ToServer,
                    error: e.into(),
                });
                Framing::Empty
            }
        };
        if call.facts.h2c {
            self.h2c = Some(h2_fields(method, target, h));
        }
        if self.waiting.len() >= MAX_WAITING {
            if let Some(old) = self.waiting.pop_front() {
                end(old, stamp, true, out);
            }
        }
        self.waiting.push_back(call.clone());
        self.body[0] = Some(Body {
            call,
            part: Collector::new(PartKind::Body, h.content_type()),
            json_stream: false,
            per_chunk: false,
            scan: JsonScan::default(),
            emitted: 0,
            interim: false,
            logs: None,
        });
        framing
    }

    /// Where the values of request head `h` (at stream offset `at`) that
    /// are secret lie: an [`Event::Literals`] for the call just started.
    pub fn literals(&self, h: &Head, at: u64, out: &mut Vec<Event>) {
        let Start::Request { method, target } = &h.start else {
            return;
        };
        let literal = |name: &[u8], value: &[u8], start: u64| LiteralValue {
            field: HeaderField {
                name: Octets::Known(name.to_vec()),
                value: Octets::Known(value.to_vec()),
            },
            huffman: false,
            stream_ranges: std::iter::once(start..start + value.len() as u64).collect(),
        };
        // The target follows the method and one space.
        let target_at = at + method.len() as u64 + 1;
        let mut values: Vec<LiteralValue> = secrets::query_secrets(target)
            .into_iter()
            .map(|r| {
                let name = target[..r.start - 1]
                    .rsplit(['?', '&'])
                    .next()
                    .unwrap_or_default();
                literal(
                    name.as_bytes(),
                    &target.as_bytes()[r.clone()],
                    target_at + r.start as u64,
                )
            })
            .collect();
        values.extend(
            h.fields
                .iter()
                .filter(|f| secrets::is_secret_field(&f.name) && !f.value.is_empty())
                .map(|f| literal(f.name.as_bytes(), &f.value, at + f.at.start as u64)),
        );
        if !values.is_empty() {
            out.push(Event::Literals {
                dir: Dir::ToServer,
                stream_id: self.next_id,
                values,
            });
        }
    }

    /// A response head: its framing once its request is known; `None`
    /// while the request may still come (the head is kept: see
    /// [`Calls::retry`]). `client_done`: no request can come any more.
    pub fn on_response(
        &mut self,
        h: Head,
        stamp: &Stamp,
        client_done: bool,
        out: &mut Vec<Event>,
    ) -> Option<Framing> {
        let status = h.status().unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // An interim response (100 Continue): no call of its own.
            self.body[1] = Some(Body {
                call: Call {
                    id: 0,
                    path: PathInfo::Unknown,
                    meta: CallMeta::default(),
                    facts: RequestFacts::default(),
                    started_ns: None,
                    tty: None,
                },
                part: Collector::new(PartKind::Body, None),
                json_stream: false,
                per_chunk: false,
                scan: JsonScan::default(),
                emitted: 0,
                interim: true,
                logs: None,
            });
            return Some(Framing::Empty);
        }
        self.stalled = Some(Stalled {
            head: h,
            stamp: *stamp,
        });
        self.retry(client_done, stamp.ts_ns, out)
    }

    /// A stalled response head is paired if its request came, or unnamed
    /// if none can come (`client_done`) or it waited past the bound at
    /// `now`: its framing then.
    pub fn retry(&mut self, client_done: bool, now: u64, out: &mut Vec<Event>) -> Option<Framing> {
        let s = self.stalled.as_ref()?;
        let t = s.stamp.ts_ns;
        let sent_before = |c: &Call| c.started_ns.is_some_and(|s| s <= t);
        let call = match self.waiting.front() {
            _ if self.server_lost => {
                // Responses to the older requests were lost with the bytes.
                match self.waiting.iter().rposition(sent_before) {
                    Some(i) => {
                        for old in self.waiting.drain(..i).collect::<Vec<_>>() {
                            end(old, &s.stamp, true, out);
                        }
                        self.waiting.pop_front()
                    }
                    None if client_done || now.saturating_sub(t) > WAIT_NS => None,
                    None => return None,
                }
            }
            Some(c) if sent_before(c) => self.waiting.pop_front(),
            Some(_) => None,
            None if client_done || now.saturating_sub(t) > WAIT_NS => None,
            None => return None,
        };
        let Stalled { head, .. } = self.stalled.take()?;
        self.server_lost = false;
        let resynced = std::mem::take(&mut self.resynced[1]);
        let mut call = call.unwrap_or_else(|| {
            self.next_id = self.next_id.wrapping_add(1);
            Call {
                id: self.next_id,
                path: PathInfo::Unknown,
                meta: CallMeta::default(),
                facts: RequestFacts::default(),
                started_ns: None,
                tty: None,
            }
        });
        let status = head.status();
        let http = call.http();
        http.status = status;
        http.resynced |= resynced;
        let framing = match head.response_framing(call.facts) {
            Ok(f) => f,
            Err(e) => {
                out.push(Event::Error {
                    dir: Dir::ToClient,
                    error: e.into(),
                });
                Framing::UntilClose
            }
        };
        let content_type = head.content_type();
        let json_stream =
            framing == Framing::Chunked && content_type.as_deref().is_some_and(is_json_type);
        // Logs are text, whatever type they are sent as.
        let logs = matches!(
            call.path.known(),
            Some("/docker/ContainerLogs" | "/podman/ContainerLogsLibpod")
        );
        let demux = logs.then(|| Demux::new(self.logs_framing(&call, content_type.as_deref())));
        let part = match logs {
            true => Collector::new(PartKind::Body, content_type).keep_text(),
            false => Collector::new(PartKind::Body, content_type),
        };
        self.body[1] = Some(Body {
            call,
            part,
            json_stream,
            per_chunk: framing == Framing::Chunked && !json_stream,
            scan: JsonScan::default(),
            emitted: 0,
            interim: false,
            logs: demux,
        });
        Some(framing)
    }

    /// The fields of the request that asked for `Upgrade: h2c`, once: the
    /// connection is HTTP/2 from here, that request its stream 1.
    pub fn take_h2c(&mut self) -> Option<Vec<HeaderField>> {
        self.h2c.take()
    }

    /// Whether a response head waits for its request.
    pub fn is_stalled(&self) -> bool {
        self.stalled.is_some()
    }

    /// Body or stream bytes of `dir`.
    pub fn on_data(&mut self, dir: Dir, data: &[u8], at: u64, stamp: &Stamp, out: &mut Vec<Event>) {
        if let Some(b) = &mut self.body[dir.index()] {
            b.part.push(data, at);
            return;
        }
        // A switched stream: one message per piece, as written or as
        // its frames cut it.
        let Some(call) = &self.switched else {
            return;
        };
        let demux = self.demux[dir.index()].get_or_insert_with(|| match dir {
            Dir::ToServer => Demux::new(StreamFraming::Raw),
            Dir::ToClient => Demux::new(StreamFraming::Unknown),
        });
        let mut pieces = Vec::new();
        demux.split(data, at, &mut pieces);
        for (kind, bytes, at) in pieces {
            // What a client writes into the stream is its user's typing.
            let kind = match dir {
                Dir::ToServer => PartKind::Stdin,
                Dir::ToClient => kind,
            };
            let mut part = Collector::new(kind, None);
            part.push(bytes, at);
            out.push(message(call, dir, stamp, part.take()));
        }
    }

    /// The `Tty` a request body of the call named `name` gives.
    fn request_tty(name: &PathInfo, body: &[u8]) -> Option<bool> {
        let key = match name.known()? {
            "/docker/ContainerCreate" | "/docker/ContainerExec" | "/docker/ExecStart" => "Tty",
            "/podman/ContainerExecLibpod" | "/podman/ExecStartLibpod" => "Tty",
            "/podman/ContainerCreateLibpod" => "terminal",
            _ => return None,
        };
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        // Left out, it is false: the servers decode into a Go bool.
        match v.as_object()?.get(key) {
            None => Some(false),
            Some(t) => t.as_bool(),
        }
    }

    /// A create call answered with an id: its `Tty` is remembered by the
    /// id (and a container's name).
    fn learn_tty(&self, call: &Call, body: &[u8]) {
        let Some(tty) = call.tty else {
            return;
        };
        let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let id = v
            .as_ref()
            .and_then(|v| v.get("Id").or_else(|| v.get("id")))
            .and_then(|i| i.as_str());
        if let Some(id) = id {
            self.ttys.learn(id, tty);
        }
        let target = call.target();
        if let Some(q) = target.split_once('?').map(|(_, q)| q) {
            for (k, v) in q.split('&').filter_map(|p| p.split_once('=')) {
                if k == "name" && !v.is_empty() {
                    self.ttys.learn(v, tty);
                }
            }
        }
    }

    /// How the logs a response of `call` carries are cut: stdcopy frames
    /// unless the container has a TTY (then raw); unknown when nothing says.
    fn logs_framing(&self, call: &Call, content_type: Option<&str>) -> StreamFraming {
        if content_type == Some("application/vnd.docker.multiplexed-stream") {
            return StreamFraming::Multiplexed;
        }
        let target = call.target();
        by_tty(container_in(target, "logs").and_then(|id| self.ttys.tty(id)))
    }

    /// How the server's bytes of the stream `call` switched to are cut.
    fn stream_framing(&self, call: &Call, content_type: Option<&str>) -> StreamFraming {
        let target = call.target();
        match content_type {
            Some("application/vnd.docker.multiplexed-stream") => return StreamFraming::Multiplexed,
            // API 1.42 and later say raw-stream only for a TTY.
            Some("application/vnd.docker.raw-stream") if api_version(target) >= Some((1, 42)) => {
                return StreamFraming::Raw
            }
            _ => {}
        }
        let id = container_in(target, "attach");
        by_tty(call.tty.or_else(|| id.and_then(|id| self.ttys.tty(id))))
    }

    /// `n` bytes of the body or stream under way in `dir` were lost. A
    /// switched stream's frames cannot be followed across the hole: the
    /// rest of it is shown with its framing unknown.
    pub fn lost_in_body(&mut self, dir: Dir, n: u64) {
        match &mut self.body[dir.index()] {
            Some(b) => b.part.lose(n),
            None if self.switched.is_some() && dir == Dir::ToClient => {
                self.demux[dir.index()] = Some(Demux::new(StreamFraming::Unknown));
            }
            None => {}
        }
    }

    /// A chunk of `dir`'s body ended: a streamed JSON response hands out
    /// the values it completed.
    pub fn on_chunk_end(&mut self, dir: Dir, stamp: &Stamp, out: &mut Vec<Event>) {
        let Some(b) = &mut self.body[dir.index()] else {
            return;
        };
        if b.per_chunk && b.part.keeps() && !b.part.is_empty() {
            b.emitted += 1;
            b.emit(dir, stamp, out);
            return;
        }
        while b.json_stream && b.part.keeps() {
            match b.scan.value_end(b.part.bytes()) {
                Ok(Some(n)) => {
                    b.scan.reset();
                    b.emitted += 1;
                    out.push(message(&b.call, dir, stamp, b.part.split_off_front(n)));
                }
                Ok(None) => break,
                // Not a stream of JSON values after all: one message at the end.
                Err(()) => b.json_stream = false,
            }
        }
    }

    /// `dir`'s message ended; `switch`: the connection is a raw stream
    /// from here. True when that was a 101 to `Upgrade: h2c`: HTTP/2 from here.
    pub fn on_end(&mut self, dir: Dir, switch: bool, stamp: &Stamp, out: &mut Vec<Event>) -> bool {
        self.on_chunk_end(dir, stamp, out);
        let Some(mut b) = self.body[dir.index()].take() else {
            return false;
        };
        if b.interim {
            return false;
        }
        let only_space = b.part.bytes().iter().all(u8::is_ascii_whitespace) && b.part.keeps();
        let content_type = b.part.content_type().map(str::to_owned);
        if dir == Dir::ToServer {
            b.call.tty = Calls::request_tty(&b.call.path, b.part.bytes());
            if let Some(w) = self.waiting.iter_mut().find(|c| c.id == b.call.id) {
                w.tty = b.call.tty;
            }
        }
        let status = b.call.meta.http.as_ref().and_then(|h| h.status);
        let error_text = match status {
            Some(400..) => api_message(b.part.bytes()),
            _ => None,
        };
        let body = b.part.bytes().to_vec();
        // A stream's whitespace after its last value is no message.
        if !(b.emitted > 0 && only_space) {
            b.emit(dir, stamp, out);
        }
        if dir == Dir::ToServer {
            if switch {
                self.switched = Some(b.call);
            }
            return false;
        }
        if switch && b.call.facts.h2c && status == Some(101) {
            // The HTTP/1.1 call ends here; stream 1 of HTTP/2 carries its answer.
            end_with(b.call, stamp, status, None, false, out);
            return true;
        }
        if switch {
            let framing = self.stream_framing(&b.call, content_type.as_deref());
            self.demux[1] = Some(Demux::new(framing));
            self.switched = Some(b.call);
            return false;
        }
        if matches!(status, Some(200..=299)) {
            self.learn_tty(&b.call, &body);
        }
        end_with(b.call, stamp, status, error_text, false, out);
        false
    }

    /// `dir` lost step (bytes lost or not HTTP): its message under way
    /// ends as far as it came.
    pub fn lost(&mut self, dir: Dir, stamp: &Stamp, out: &mut Vec<Event>) {
        self.resynced[dir.index()] = true;
        if dir == Dir::ToClient {
            self.server_lost = true;
            // A response head waiting for its request: lost with its body.
            self.stalled = None;
        }
        if let Some(mut b) = self.body[dir.index()].take() {
            if !b.interim {
                if !b.part.is_empty() {
                    out.push(message(&b.call, dir, stamp, b.part.take()));
                }
                if dir == Dir::ToClient {
                    let status = b.call.meta.http.as_ref().and_then(|h| h.status);
                    end_with(b.call, stamp, status, None, false, out);
                }
            }
        }
    }

    /// The connection closed at `ts_ns`: bodies under way end as they are,
    /// open calls end unfinished, a switched stream's call ends.
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<Event>) {
        let stamp = Stamp {
            ts_ns,
            ..Stamp::default()
        };
        for dir in Dir::BOTH {
            if let Some(mut b) = self.body[dir.index()].take() {
                if b.interim {
                    continue;
                }
                if !b.part.is_empty() {
                    out.push(message(&b.call, dir, &stamp, b.part.take()));
                }
                if dir == Dir::ToClient {
                    end(b.call, &stamp, true, out);
                }
            }
        }
        if let Some(call) = self.switched.take() {
            let status = call.meta.http.as_ref().and_then(|h| h.status);
            end_with(call, &stamp, status, None, false, out);
        }
        for call in std::mem::take(&mut self.waiting) {
            end(call, &stamp, true, out);
        }
    }
}

fn end(call: Call, stamp: &Stamp, unfinished: bool, out: &mut Vec<Event>) {
    let status = call.meta.http.as_ref().and_then(|h| h.status);
    end_with(call, stamp, status, None, unfinished, out);
}

fn end_with(
    call: Call,
    stamp: &Stamp,
    http_status: Option<u16>,
    message: Option<String>,
    unfinished: bool,
    out: &mut Vec<Event>,
) {
    out.push(Event::CallEnd {
        stream_id: call.id,
        path: call.path,
        http_status,
        status: None,
        message,
        reset: None,
        started_ns: call.started_ns,
        ended_ns: stamp.ts_ns,
        unfinished,
        stamp: *stamp,
        meta: call.meta,
    });
}
