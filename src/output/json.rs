//! `--json`: NDJSON, one object per gRPC message, finished call, gap and note.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use super::glob::MethodFilter;
use super::{grpc_status_name, time};
use crate::calls::{Item, Output, Proc, What};
use crate::decode::PathInfo;
use crate::protobuf::Schemas;

/// Writes NDJSON.
pub struct Json<W: Write> {
    w: W,
    schemas: Arc<Schemas>,
    methods: MethodFilter,
    /// Objects written.
    pub objects: u64,
}

fn proc_json(p: &Proc) -> Value {
    json!({ "pid": p.pid, "tid": p.tid, "comm": p.comm })
}

fn path_json(p: &PathInfo) -> Value {
    match p {
        PathInfo::Known(s) => Value::String(s.clone()),
        PathInfo::Unknown => Value::Null,
    }
}

impl<W: Write> Json<W> {
    /// NDJSON on `w`.
    pub fn new(w: W, schemas: Arc<Schemas>, methods: MethodFilter) -> Self {
        Json {
            w,
            schemas,
            methods,
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
        let mut o = Map::new();
        let path = match &item.what {
            What::Message { path, .. } | What::CallEnd { path, .. } => Some(path),
            _ => None,
        };
        match path {
            Some(p) => {
                let p = super::known(p);
                if !self.methods.accepts(p) {
                    return Ok(());
                }
            }
            None if !self.methods.is_empty() => return Ok(()),
            None => {}
        }
        let kind = match &item.what {
            What::Message { .. } => "message",
            What::CallEnd { .. } => "call",
            What::Gap { .. } => "gap",
            What::Note { .. } => "note",
        };
        o.insert("type".into(), kind.into());
        o.insert("time".into(), time::rfc3339(item.ts_ns).into());
        o.insert("ts_ns".into(), item.ts_ns.into());
        o.insert("connection".into(), item.conn.id.into());
        o.insert("socket".into(), item.conn.path.clone().into());
        o.insert("writer".into(), proc_json(&item.writer));
        o.insert("peer".into(), proc_json(&item.peer));
        match &item.what {
            What::Message {
                request,
                stream,
                path,
                compressed,
                payload,
                decompress_error,
            } => {
                o.insert(
                    "direction".into(),
                    if *request { "request" } else { "response" }.into(),
                );
                o.insert("stream".into(), (*stream).into());
                o.insert("method".into(), path_json(path));
                o.insert("compressed".into(), (*compressed).into());
                o.insert("size".into(), payload.len().into());
                if let Some(e) = decompress_error {
                    o.insert("error".into(), e.clone().into());
                } else {
                    let p = super::known(path);
                    let d = self.schemas.decode_forms(
                        p,
                        *request,
                        payload,
                        crate::protobuf::Forms::JSON,
                    );
                    o.insert("message_type".into(), d.type_name.into());
                    o.insert(
                        "schema".into(),
                        format!("{:?}", d.schema).to_lowercase().into(),
                    );
                    o.insert("message".into(), d.json);
                }
            }
            What::CallEnd {
                stream,
                path,
                status,
                message,
                reset,
                latency_ns,
                unfinished,
            } => {
                o.insert("stream".into(), (*stream).into());
                o.insert("method".into(), path_json(path));
                o.insert("status".into(), (*status).into());
                o.insert("status_name".into(), status.map(grpc_status_name).into());
                o.insert("grpc_message".into(), message.clone().into());
                o.insert(
                    "reset".into(),
                    reset
                        .map(|c| crate::decode::frame::error_code_name(c).unwrap_or("UNKNOWN"))
                        .into(),
                );
                o.insert(
                    "latency_us".into(),
                    latency_ns.map(|ns| ns as f64 / 1000.0).into(),
                );
                o.insert("unfinished".into(), (*unfinished).into());
            }
            What::Gap { request, bytes } => {
                o.insert(
                    "direction".into(),
                    if *request { "request" } else { "response" }.into(),
                );
                o.insert("bytes".into(), (*bytes).into());
            }
            What::Note { request, text } => {
                o.insert(
                    "direction".into(),
                    if *request { "request" } else { "response" }.into(),
                );
                o.insert("text".into(), text.clone().into());
            }
        }
        self.objects += 1;
        serde_json::to_writer(&mut self.w, &Value::Object(o)).context("writing JSON")?;
        self.w.write_all(b"\n").context("writing JSON")
    }

    fn flush(&mut self) -> Result<()> {
        self.w.flush().context("writing JSON")
    }
}
