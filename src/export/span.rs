//! One OpenTelemetry span per finished call: its name, kind, times, status
//! and attributes (semantic conventions 1.42, the
//! `opentelemetry-semantic-conventions` crate's names where it has them,
//! ours, written once below, where it does not).

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;

use foldhash::HashMap;

use super::call::{Call, HttpPart};
use super::wire::{self, Attrs};
use crate::decode::Protocol;
use crate::flow::{Comm, ConnId, InContainer, Process};
use crate::pipeline::{ConnInfo, Item};
use crate::protobuf::cut_str;
use crate::subjects::Subject;

/// Our attribute names, where the conventions have none. The pod and
/// container a call is about are `containerd.subject.*`, the caller's
/// container `client.container.*` / `client.pod.*`: names the Collector's
/// k8sattributes processor (which writes `k8s.pod.name` and the like for
/// the agent's own pod) cannot be mistaken for.
pub mod attr {
    /// The containerd namespace of the call (`k8s.io`, `default`, `moby`).
    pub const CONTAINERD_NAMESPACE: &str = "containerd.namespace";
    /// The Kubernetes namespace of the pod the call is about.
    pub const SUBJECT_POD_NAMESPACE: &str = "containerd.subject.pod.namespace";
    /// The name of the pod the call is about.
    pub const SUBJECT_POD_NAME: &str = "containerd.subject.pod.name";
    /// The uid of the pod the call is about.
    pub const SUBJECT_POD_UID: &str = "containerd.subject.pod.uid";
    /// The pod sandbox id of the pod the call is about.
    pub const SUBJECT_SANDBOX_ID: &str = "containerd.subject.sandbox.id";
    /// The id of the container the call is about.
    pub const SUBJECT_CONTAINER_ID: &str = "containerd.subject.container.id";
    /// The name, in its pod, of the container the call is about.
    pub const SUBJECT_CONTAINER_NAME: &str = "containerd.subject.container.name";
    /// The id of the container the calling process runs in.
    pub const CLIENT_CONTAINER_ID: &str = "client.container.id";
    /// The name of the container the calling process runs in.
    pub const CLIENT_CONTAINER_NAME: &str = "client.container.name";
    /// The Kubernetes namespace of the calling process's pod.
    pub const CLIENT_POD_NAMESPACE: &str = "client.pod.namespace";
    /// The name of the calling process's pod.
    pub const CLIENT_POD_NAME: &str = "client.pod.name";
    /// The uid of the calling process's pod.
    pub const CLIENT_POD_UID: &str = "client.pod.uid";
    /// The calling process's pid (in the node's pid namespace).
    pub const CLIENT_PROCESS_PID: &str = "client.process.pid";
    /// The calling process's name (its comm, up to 15 bytes).
    pub const CLIENT_PROCESS_EXECUTABLE_NAME: &str = "client.process.executable.name";
    /// The serving process's pid (in the node's pid namespace).
    pub const SERVER_PROCESS_PID: &str = "server.process.pid";
    /// The serving process's name (its comm, up to 15 bytes).
    pub const SERVER_PROCESS_EXECUTABLE_NAME: &str = "server.process.executable.name";
    /// Messages seen on the call (both directions; a stream's count).
    pub const MESSAGES: &str = "containerdsnoop.messages";
    /// The HTTP/2 or ttrpc stream id.
    pub const STREAM_ID: &str = "containerdsnoop.stream.id";
    /// The call was still open when its connection or the capture ended.
    pub const UNFINISHED: &str = "containerdsnoop.unfinished";
    /// The call began before the capture: its start is not known, and the
    /// span's start is its end.
    pub const START_UNKNOWN: &str = "containerdsnoop.start_unknown";
    /// A message event's direction as the server saw it: `RECEIVED` (a
    /// request) or `SENT` (a response). The conventions' `rpc.message.type`
    /// is deprecated without replacement in 1.42.
    pub const MESSAGE_DIRECTION: &str = "containerdsnoop.message.direction";
    /// A message event's number in its call, from 1.
    pub const MESSAGE_ID: &str = "containerdsnoop.message.id";
    /// A message event's protobuf type.
    pub const MESSAGE_PROTO_TYPE: &str = "containerdsnoop.message.type";
    /// A message event's protobuf text, redacted, cut to [`super::MAX_EVENT_TEXT`].
    pub const MESSAGE_TEXT: &str = "containerdsnoop.message.text";
    /// A message event's size in bytes (uncompressed).
    pub const MESSAGE_SIZE: &str = "containerdsnoop.message.size";
}

/// Longest message text in an event, in bytes.
pub const MAX_EVENT_TEXT: usize = 1024;
/// Most message events a span carries; the rest are counted as dropped.
pub const MAX_EVENTS: usize = 64;
/// Longest status message kept.
const MAX_STATUS_MESSAGE: usize = 256;

/// A string attribute, as a message (the resource's, built once).
pub fn string(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// Span and trace ids: a splitmix64 sequence seeded from the clock and the
/// pid (ids need to be unique, not secret).
struct Ids(u64);

impl Default for Ids {
    fn default() -> Self {
        let t = crate::output::time_now_ns();
        Ids(t ^ (u64::from(std::process::id()) << 40) ^ 0x9e37_79b9_7f4a_7c15)
    }
}

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).max(1)
    }

    fn trace_id(&mut self) -> [u8; 16] {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&self.next().to_be_bytes());
        v[8..].copy_from_slice(&self.next().to_be_bytes());
        v
    }

    fn span_id(&mut self) -> [u8; 8] {
        self.next().to_be_bytes()
    }
}

/// What the tap gathered about a call before it ended.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Messages seen.
    pub messages: u64,
    /// Message events (with `--otlp-messages`), each an encoded `Event`.
    pub events: Vec<Vec<u8>>,
    /// Events left out past [`MAX_EVENTS`].
    pub dropped_events: u32,
}

/// Connections whose shared attributes are kept encoded; past it, they are
/// all forgotten and encoded again as calls end.
const MAX_CONNS: usize = 1024;

/// What spans are made with: the id sequence, and the attributes every
/// call of a connection shares (transport, socket, both processes, RPC
/// system), encoded once per connection rather than once per call.
#[derive(Default)]
pub struct Encoder {
    ids: Ids,
    conns: HashMap<ConnId, Shared>,
    /// The span being written, its buffer kept from one call to the next.
    buf: Vec<u8>,
}

/// A connection's shared attributes, encoded, and what they were made of.
struct Shared {
    protocol: Option<Protocol>,
    path: Option<String>,
    server: (Option<u32>, Option<Comm>),
    client: (Option<u32>, Option<Comm>),
    bytes: Vec<u8>,
}

impl Shared {
    /// Whether these are still `conn`'s (its processes are learned as it
    /// goes, its protocol once decided).
    fn of(&self, conn: &ConnInfo) -> bool {
        self.protocol == conn.protocol
            && self.server == (conn.server.pid, conn.server.comm)
            && self.client == (conn.client.pid, conn.client.comm)
            && self.path == conn.path
    }

    fn new(conn: &ConnInfo) -> Shared {
        let mut bytes = Vec::with_capacity(256);
        let mut a = Attrs::new(&mut bytes, SPAN_ATTRIBUTES);
        if conn.protocol != Some(Protocol::Http1) {
            let system = conn.protocol.map_or("unknown", |p| p.name());
            a.string(semconv::RPC_SYSTEM_NAME, system);
        }
        a.string(semconv::NETWORK_TRANSPORT, "unix");
        if let Some(p) = &conn.path {
            a.string(semconv::SERVER_ADDRESS, p);
        }
        process(
            &conn.server,
            attr::SERVER_PROCESS_PID,
            attr::SERVER_PROCESS_EXECUTABLE_NAME,
            &mut a,
        );
        process(
            &conn.client,
            attr::CLIENT_PROCESS_PID,
            attr::CLIENT_PROCESS_EXECUTABLE_NAME,
            &mut a,
        );
        Shared {
            protocol: conn.protocol,
            path: conn.path.clone(),
            server: (conn.server.pid, conn.server.comm),
            client: (conn.client.pid, conn.client.comm),
            bytes,
        }
    }
}

impl Encoder {
    /// The span of the call `item` ends (`call` is [`Call::of`] it),
    /// encoded, until the next.
    pub fn span(&mut self, item: &Item, call: &Call<'_>, gathered: Gathered) -> &[u8] {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        write(&mut buf, item, call, gathered, self);
        self.buf = buf;
        &self.buf
    }

    /// `conn`'s shared attributes, encoded (again, if they changed).
    fn shared(&mut self, conn: &ConnInfo) -> &[u8] {
        let fresh = self.conns.get(&conn.id).is_some_and(|s| s.of(conn));
        if !fresh {
            if self.conns.len() >= MAX_CONNS && !self.conns.contains_key(&conn.id) {
                self.conns.clear();
            }
            self.conns.insert(conn.id, Shared::new(conn));
        }
        &self.conns[&conn.id].bytes
    }

    /// Connections whose attributes are kept.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}

/// The span of the call `item` ends (`call` is [`Call::of`] it), as an
/// encoded OTLP `Span`.
pub fn of_call(item: &Item, call: &Call<'_>, gathered: Gathered, enc: &mut Encoder) -> Vec<u8> {
    enc.span(item, call, gathered).to_vec()
}

/// [`of_call`], written into `buf`.
fn write(buf: &mut Vec<u8>, item: &Item, call: &Call<'_>, gathered: Gathered, enc: &mut Encoder) {
    // Span: trace_id 1, span_id 2, name 5, kind 6, start 7, end 8,
    // attributes 9, events 11, dropped_events_count 12, status 15.
    wire::bytes(buf, 1, &enc.ids.trace_id());
    wire::bytes(buf, 2, &enc.ids.span_id());
    let name = call.name_parts();
    wire::concat(buf, 5, &name);
    wire::varint(buf, 6, SPAN_KIND_SERVER);
    wire::fixed64(buf, 7, call.start_ns.unwrap_or(call.end_ns));
    wire::fixed64(buf, 8, call.end_ns);
    buf.extend_from_slice(enc.shared(&item.conn));
    let mut a = Attrs::new(buf, SPAN_ATTRIBUTES);
    match &call.http {
        Some(h) => http_attributes(h, &mut a),
        None => {
            match (call.service, call.method) {
                (Some(_), Some(_)) => a.concat(semconv::RPC_METHOD, &name),
                _ => a.string(semconv::RPC_METHOD, "_OTHER"),
            }
            a.string(semconv::RPC_RESPONSE_STATUS_CODE, call.status);
        }
    }
    if call.failed() {
        a.string(semconv::ERROR_TYPE, call.status);
    }
    if let Some(ns) = call.namespace {
        a.string(attr::CONTAINERD_NAMESPACE, ns);
    }
    subject(&item.subject, &mut a);
    client_container(&item.conn.client.container, item.client_subject(), &mut a);
    a.int(attr::STREAM_ID, i64::from(call.stream));
    a.int(
        attr::MESSAGES,
        i64::try_from(gathered.messages).unwrap_or(i64::MAX),
    );
    if matches!(
        item.what,
        crate::pipeline::What::CallEnd {
            unfinished: true,
            ..
        }
    ) {
        a.boolean(attr::UNFINISHED, true);
    }
    if call.start_ns.is_none() {
        a.boolean(attr::START_UNKNOWN, true);
    }
    for e in &gathered.events {
        wire::bytes(buf, 11, e);
    }
    if gathered.dropped_events > 0 {
        wire::varint(buf, 12, u64::from(gathered.dropped_events));
    }
    // A server span of a successful call leaves its status unset.
    if call.failed() {
        let message = call
            .message
            .map_or(call.status, |m| cut_str(m, MAX_STATUS_MESSAGE));
        // Status: message 2, code 3.
        let mut status = Vec::with_capacity(message.len() + 8);
        wire::bytes(&mut status, 2, message.as_bytes());
        wire::varint(&mut status, 3, STATUS_CODE_ERROR);
        wire::bytes(buf, 15, &status);
    }
}

/// `Span.attributes`.
const SPAN_ATTRIBUTES: u32 = 9;
/// `SpanKind::Server`.
const SPAN_KIND_SERVER: u64 = 2;
/// `StatusCode::Error`.
const STATUS_CODE_ERROR: u64 = 2;

/// An encoded `Event` named `name` at `time_ns` with the attributes `attrs` writes.
pub fn event(time_ns: u64, name: &str, attrs: impl FnOnce(&mut Attrs<'_>)) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    // Event: time_unix_nano 1, name 2, attributes 3.
    wire::fixed64(&mut buf, 1, time_ns);
    wire::bytes(&mut buf, 2, name.as_bytes());
    attrs(&mut Attrs::new(&mut buf, 3));
    buf
}

/// An HTTP API call (Docker, Podman): `http.request.method`,
/// `http.response.status_code` and `http.route` (the route the API table
/// matched, with `*` for ids and names: the target as sent, with its ids,
/// names and query values, is never exported).
fn http_attributes(h: &HttpPart, out: &mut Attrs<'_>) {
    if let Some(m) = h.method {
        out.string(semconv::HTTP_REQUEST_METHOD, m);
    }
    if let Some(s) = h.status {
        out.int(semconv::HTTP_RESPONSE_STATUS_CODE, i64::from(s));
    }
    if let Some(r) = h.route {
        out.string(semconv::HTTP_ROUTE, r);
    }
}

fn process(p: &Process, pid_key: &str, name_key: &str, out: &mut Attrs<'_>) {
    if let Some(pid) = p.pid {
        out.int(pid_key, i64::from(pid));
    }
    if let Some(comm) = &p.comm {
        out.string(name_key, &comm.as_str());
    }
}

fn subject(s: &Subject, out: &mut Attrs<'_>) {
    if let Some(pod) = &s.pod {
        pod_of(
            pod,
            [
                attr::SUBJECT_POD_NAMESPACE,
                attr::SUBJECT_POD_NAME,
                attr::SUBJECT_POD_UID,
            ],
            out,
        );
    }
    if let Some(id) = &s.sandbox_id {
        out.string(attr::SUBJECT_SANDBOX_ID, id);
    }
    if let Some(c) = &s.container {
        out.string(attr::SUBJECT_CONTAINER_ID, &c.id);
        if let Some(n) = &c.name {
            out.string(attr::SUBJECT_CONTAINER_NAME, n);
        }
    }
}

/// The caller's container: its id from its cgroup, its name and pod from
/// what the subject map knows of it (the pod's uid from the cgroup when
/// the map does not name the pod).
fn client_container(c: &InContainer, known: &Subject, out: &mut Attrs<'_>) {
    let Some(c) = c.container() else {
        return;
    };
    out.string(attr::CLIENT_CONTAINER_ID, c.id.as_str());
    if let Some(n) = known.container.as_ref().and_then(|k| k.name.as_deref()) {
        out.string(attr::CLIENT_CONTAINER_NAME, n);
    }
    match &known.pod {
        Some(pod) => pod_of(
            pod,
            [
                attr::CLIENT_POD_NAMESPACE,
                attr::CLIENT_POD_NAME,
                attr::CLIENT_POD_UID,
            ],
            out,
        ),
        None => {
            if let Some(uid) = &c.pod_uid {
                out.string(attr::CLIENT_POD_UID, uid.as_str());
            }
        }
    }
}

fn pod_of(pod: &crate::subjects::extract::PodMeta, keys: [&str; 3], out: &mut Attrs<'_>) {
    for (k, v) in keys.into_iter().zip([&pod.namespace, &pod.name, &pod.uid]) {
        if !v.is_empty() {
            out.string(k, v);
        }
    }
}
