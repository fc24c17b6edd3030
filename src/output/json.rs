//! `--json`: NDJSON, one object per gRPC or ttrpc message, finished call,
//! gap and note. Each names its `writer` and `peer` by `pid`, `tid`, `comm`
//! (the process's name) and `thread_comm` (the writing thread's own name,
//! such as a grpcio client's `event_engine`), every member present and null
//! when unknown: a peer has no thread, and files written before thread
//! names were recorded have none. Message and call objects say their
//! `protocol` (`grpc` or `ttrpc`) and their call's `namespace` and
//! `timeout_ms` (null when not known: not sent, or the request was not
//! seen), and the `pod` (`namespace`, `name`, `uid`), `container` (`id`,
//! `name`) and `sandbox_id` their call is about (see `subjects`; null when
//! not known). On a connection that began before the capture and whose HPACK
//! tables were recovered from the server, objects carry
//! `"hpack": "recovered"`. Where the writer and peer run: `"container":
//! null` for the host, `{"id": .., "name": .., "pod": {"namespace": ..,
//! "name": .., "uid": ..}}` for a container (its name and pod's as the
//! traffic named that container id, the uid also from a kubelet cgroup
//! path; each null when not known, `pod` null when nothing names it), the
//! member absent when not known (other tools' captures, files recorded
//! before); objects of a connection whose client runs in a container carry
//! `"from_container": true`. HTTP/1.x (Docker and Podman API) objects say
//! `"protocol": "http"`, their `method` is `/docker/OPERATION`,
//! `/podman/OPERATION` or `METHOD /path`, and they carry `"http": {"method",
//! "target", "status"}` (`"resynced": true` on a call found by
//! resynchronising); their messages carry `"body": {"kind", "content_type",
//! "bytes", "lost", "summarised"}` and a JSON body as a JSON value in
//! `message` (text as a string, stream pieces as `{"base64", "preview"}`);
//! an error status's API message is the call's `grpc_message`.

use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::per_subject::PerSubject;
use super::{grpc_status_name, time};
use crate::decode::http1::{HttpCall, Part, PartKind};
use crate::flow::{InContainer, Process};
use crate::pipeline::{Item, Output, What};
use crate::subjects::extract::PodMeta;
use crate::subjects::Subject;

/// Writes NDJSON.
pub struct Json<W: Write> {
    w: W,
    /// Subjects' members, written once per subject.
    subjects: PerSubject<SubjectJson>,
    /// Objects written.
    pub objects: u64,
}

/// One NDJSON line, serialized in this order of keys.
#[derive(Serialize)]
struct Record<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    time: String,
    ts_ns: u64,
    connection: u64,
    socket: &'a Option<String>,
    writer: ProcessJson<'a>,
    peer: ProcessJson<'a>,
    /// The connection's client runs inside a container (its id is in
    /// `writer` or `peer`): present, true, only then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    from_container: bool,
    /// `"recovered"` once the connection's HPACK tables came from the
    /// server (header fields from before the capture are exact).
    #[serde(skip_serializing_if = "Option::is_none")]
    hpack: Option<&'static str>,
    #[serde(flatten)]
    body: Body<'a>,
}

/// The pod a call is about; a member is null when not known.
#[derive(Serialize)]
struct PodJson<'a> {
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    uid: Option<&'a str>,
}

impl<'a> PodJson<'a> {
    /// `p`'s members, each None when empty.
    fn of(p: &'a PodMeta) -> Self {
        PodJson {
            namespace: non_empty(&p.namespace),
            name: non_empty(&p.name),
            uid: non_empty(&p.uid),
        }
    }
}

/// The container a call is about.
#[derive(Serialize)]
struct ContainerJson<'a> {
    id: &'a str,
    name: Option<&'a str>,
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A subject's members as JSON (`null` when not known), written once per
/// subject: every message of a pod's calls carries them.
struct SubjectJson {
    pod: Box<RawValue>,
    container: Box<RawValue>,
    sandbox_id: Box<RawValue>,
}

impl SubjectJson {
    fn new(subject: &Subject) -> Self {
        let pod = subject.pod.as_deref().map(PodJson::of);
        let container = subject.container.as_ref().map(|c| ContainerJson {
            id: &c.id,
            name: c.name.as_deref(),
        });
        SubjectJson {
            pod: raw(&pod),
            container: raw(&container),
            sandbox_id: raw(&subject.sandbox_id.as_deref()),
        }
    }
}

/// `value` as JSON text kept to be written as it is.
fn raw<T: Serialize>(value: &T) -> Box<RawValue> {
    // Plain structs of strings always serialize.
    serde_json::to_string(value)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
        .unwrap_or_else(|| RawValue::from_string("null".into()).expect("null is JSON"))
}

/// A `writer` or `peer`: the process, and where it runs with the pod the
/// subject map names for its container.
struct ProcessJson<'a> {
    p: &'a Process,
    s: &'a Subject,
}

/// The container a process runs in.
#[derive(Serialize)]
struct RunsInJson<'a> {
    id: &'a str,
    name: Option<&'a str>,
    pod: Option<PodJson<'a>>,
}

impl Serialize for ProcessJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let p = self.p;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("pid", &p.pid)?;
        m.serialize_entry("tid", &p.tid)?;
        m.serialize_entry("comm", &p.comm)?;
        m.serialize_entry("thread_comm", &p.thread_comm)?;
        match &p.container {
            // Other tools' captures, files recorded before: left out.
            InContainer::Unknown => {}
            InContainer::Host => m.serialize_entry("container", &None::<()>)?,
            InContainer::Container(c) => {
                let cgroup_uid = c.pod_uid.as_ref().map(|u| u.as_str());
                let pod = match self.s.pod.as_ref() {
                    Some(k) => Some(PodJson {
                        uid: non_empty(&k.uid).or(cgroup_uid),
                        ..PodJson::of(k)
                    }),
                    None => cgroup_uid.map(|uid| PodJson {
                        namespace: None,
                        name: None,
                        uid: Some(uid),
                    }),
                };
                let name = self.s.container.as_ref().and_then(|c| c.name.as_deref());
                m.serialize_entry(
                    "container",
                    &RunsInJson {
                        id: c.id.as_str(),
                        name,
                        pod,
                    },
                )?;
            }
        }
        m.end()
    }
}

/// The members of each kind of record after the common ones.
#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Message {
        protocol: Option<&'static str>,
        direction: &'static str,
        stream: u32,
        method: Option<&'a str>,
        namespace: Option<&'a str>,
        timeout_ms: Option<f64>,
        pod: &'a RawValue,
        container: &'a RawValue,
        sandbox_id: &'a RawValue,
        compressed: bool,
        size: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message_type: Option<&'a Option<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        schema: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        schema_source: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        http: Option<HttpJson<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<BodyJson<'a>>,
    },
    Call {
        protocol: Option<&'static str>,
        stream: u32,
        method: Option<&'a str>,
        namespace: Option<&'a str>,
        timeout_ms: Option<f64>,
        pod: &'a RawValue,
        container: &'a RawValue,
        sandbox_id: &'a RawValue,
        status: Option<u32>,
        status_name: Option<&'static str>,
        /// grpc-message, or a ttrpc response's `google.rpc.Status` message.
        grpc_message: &'a Option<String>,
        reset: Option<&'static str>,
        latency_us: Option<f64>,
        unfinished: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        http: Option<HttpJson<'a>>,
    },
    Gap {
        direction: &'static str,
        bytes: u64,
    },
    Note {
        direction: &'static str,
        text: &'a str,
    },
}

/// An HTTP call's request line and status (the target with secret
/// query values hidden, unless secrets are shown).
#[derive(Serialize)]
struct HttpJson<'a> {
    method: Option<&'a str>,
    target: Option<&'a str>,
    status: Option<u16>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    resynced: bool,
}

impl<'a> HttpJson<'a> {
    fn of(h: &'a HttpCall) -> Self {
        HttpJson {
            method: h.method.as_deref(),
            target: h.target.as_deref(),
            status: h.status,
            resynced: h.resynced,
        }
    }
}

/// What an HTTP message is: a body or a stream's piece, its type, its
/// size as sent (chunk framing not counted), bytes lost, and whether it
/// was summarised rather than kept.
#[derive(Serialize)]
struct BodyJson<'a> {
    kind: &'static str,
    content_type: Option<&'a str>,
    bytes: u64,
    lost: u64,
    summarised: bool,
}

impl<'a> BodyJson<'a> {
    fn of(p: &'a Part) -> Self {
        BodyJson {
            kind: match p.kind {
                PartKind::Body => "body",
                PartKind::Stdin => "stdin",
                PartKind::Stdout => "stdout",
                PartKind::Stderr => "stderr",
                PartKind::Stream => "stream",
                PartKind::StreamUnknown => "stream (framing unknown)",
            },
            content_type: p.content_type.as_deref(),
            bytes: p.size,
            lost: p.lost,
            summarised: !p.kept,
        }
    }
}

impl<W: Write> Json<W> {
    /// NDJSON on `w`.
    pub fn new(w: W) -> Self {
        Json {
            w,
            subjects: PerSubject::default(),
            objects: 0,
        }
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }
}

impl<W: Write> Output for Json<W> {
    fn item(&mut self, item: &Item) -> Result<()> {
        let protocol = item.conn.protocol.map(|p| p.name());
        let timeout_ms = |t: Option<u64>| t.map(|ns| ns as f64 / 1e6);
        let subject = self.subjects.of(&item.subject, SubjectJson::new);
        let (pod, container, sandbox_id) =
            (&*subject.pod, &*subject.container, &*subject.sandbox_id);
        let body = match &item.what {
            What::Message {
                dir,
                stream,
                path,
                meta,
                compressed,
                payload,
                decompress_error,
                decoded,
                http,
            } => Body::Message {
                protocol,
                direction: dir.role(),
                stream: *stream,
                method: path.known(),
                namespace: meta.namespace.as_deref(),
                timeout_ms: timeout_ms(meta.timeout_ns),
                pod,
                container,
                sandbox_id,
                compressed: *compressed,
                size: http.as_ref().map_or(payload.len(), |p| p.size as usize),
                error: decompress_error.as_deref(),
                schema: decoded.as_ref().map(|d| d.schema.name()),
                schema_source: decoded
                    .as_ref()
                    .and_then(|d| d.source.as_ref())
                    .map(|s| s.name()),
                message_type: decoded.as_ref().map(|d| &d.type_name),
                message: decoded.as_ref().map(|d| &d.json),
                http: meta.http.as_deref().map(HttpJson::of),
                body: http.as_deref().map(BodyJson::of),
            },
            What::CallEnd {
                stream,
                path,
                meta,
                status,
                message,
                reset,
                latency_ns,
                unfinished,
                http_status: _,
            } => Body::Call {
                protocol,
                stream: *stream,
                method: path.known(),
                namespace: meta.namespace.as_deref(),
                timeout_ms: timeout_ms(meta.timeout_ns),
                pod,
                container,
                sandbox_id,
                status: *status,
                status_name: status.map(grpc_status_name),
                grpc_message: message,
                reset: reset
                    .map(|c| crate::decode::h2::frame::error_code_name(c).unwrap_or("UNKNOWN")),
                latency_us: latency_ns.map(|ns| ns as f64 / 1000.0),
                unfinished: *unfinished,
                http: meta.http.as_deref().map(HttpJson::of),
            },
            What::Gap { dir, bytes } => Body::Gap {
                direction: dir.role(),
                bytes: *bytes,
            },
            What::Note { dir, text } => Body::Note {
                direction: dir.role(),
                text,
            },
        };
        let record = Record {
            kind: match &item.what {
                What::Message { .. } => "message",
                What::CallEnd { .. } => "call",
                What::Gap { .. } => "gap",
                What::Note { .. } => "note",
            },
            time: time::rfc3339(item.ts_ns),
            ts_ns: item.ts_ns,
            connection: item.conn.id,
            socket: &item.conn.path,
            writer: ProcessJson {
                p: &item.writer,
                s: &item.ends.writer,
            },
            peer: ProcessJson {
                p: &item.peer,
                s: &item.ends.peer,
            },
            from_container: item.conn.client.container.container().is_some(),
            hpack: item.conn.hpack_recovered.then_some("recovered"),
            body,
        };
        self.objects += 1;
        serde_json::to_writer(&mut self.w, &record).context("writing JSON")?;
        self.w.write_all(b"\n").context("writing JSON")
    }

    fn flush(&mut self) -> Result<()> {
        self.w.flush().context("writing JSON")
    }
}

#[cfg(test)]
mod tests;
