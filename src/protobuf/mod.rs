//! Protobuf layer: names gRPC/ttrpc methods and turns message payloads into
//! text and JSON.
//!
//! [`Schemas`] holds a descriptor pool: the containerd, CRI and ttrpc schemas
//! of `proto/` (compiled by `build.rs` and embedded in the binary) plus any
//! the user adds with `--proto`. [`Schemas::decode`] decodes a payload with
//! the message type of its method when it is known and the bytes fit it, and
//! falls back to a schema-less reading of the wire format otherwise;
//! [`Schemas::decode_forms`] builds only the text or only the JSON form.
//!
//! A [`SchemaSet`] layers several [`Schemas`]: a server binary's own
//! (see [`binary`]) first, the bundled ones as the fallback, method by
//! method; every typed [`Decoded`] says which one decoded it
//! ([`SchemaSource`]).
//!
//! Secret fields (passwords, tokens, registry auth: see [`is_secret_name`])
//! of typed messages are shown as `<redacted N bytes>` unless
//! [`Schemas::with_redaction`] turns that off, and
//! [`Schemas::secret_ranges`] says where their values lie in a payload.
//!
//! Payloads are untrusted: decoding never panics, nesting is cut at
//! [`MAX_DEPTH`], and output is bounded ([`TEXT_CAP`], [`JSON_CAP`],
//! [`STRING_CAP`], [`BYTES_CAP`]) whatever the payload size, so a 1 MiB
//! `Content/Write` chunk costs a few hundred bytes of text.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

pub mod binary;
mod json;
mod load;
mod raw;
mod render;
pub use render::cut_str;
mod secret;
mod set;
mod text;
pub mod wire;

pub use secret::is_secret_name;
pub use set::SchemaSet;

/// Deepest nesting of messages rendered; deeper ones show as `{…}`.
/// Real containerd and CRI messages nest less than 8 levels, `Any` included.
pub const MAX_DEPTH: usize = 16;
/// Longest text form, in bytes; longer ones end in `…`.
pub const TEXT_CAP: usize = 64 * 1024;
/// Rough bound on the JSON form, in bytes of names and values; past it,
/// objects get a `"…": "truncated"` member and arrays a `"…"` element.
pub const JSON_CAP: usize = 256 * 1024;
/// Longest string (or printable bytes value) shown, in bytes; longer ones
/// are cut and followed by `…(N bytes)`. JSON bytes values (base64) are cut
/// at the same length.
pub const STRING_CAP: usize = 4096;
/// Most bytes of a binary value shown as hex in the text form.
pub const BYTES_CAP: usize = 64;

/// The embedded descriptor set that `build.rs` compiles from `proto/`.
const EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/containerd_descriptors.bin"));

/// A set of protobuf schemas, with every method of every service indexed by
/// its path. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Schemas {
    inner: Arc<Inner>,
    /// Show secret fields as `<redacted N bytes>` (the default).
    redact: bool,
}

#[derive(Debug)]
struct Inner {
    pool: DescriptorPool,
    /// `/pkg.Service/Method` -> method, built once so that decoding a message
    /// costs one hash look-up and no descriptor work.
    methods: HashMap<String, Method>,
    /// File name -> where it came from.
    files: HashMap<String, SchemaSource>,
}

#[derive(Debug)]
struct Method {
    info: MethodInfo,
    source: SchemaSource,
    input: MessageDescriptor,
    output: MessageDescriptor,
}

/// What a schema says about one RPC method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodInfo {
    /// Full name of the service, such as `containerd.services.tasks.v1.Tasks`.
    pub service: String,
    /// Name of the method, such as `Create`.
    pub method: String,
    /// Full name of the request message type.
    pub input: String,
    /// Full name of the response message type.
    pub output: String,
    /// The client sends a stream of requests.
    pub client_streaming: bool,
    /// The server sends a stream of responses.
    pub server_streaming: bool,
}

/// Which forms of a message [`Schemas::decode_forms`] builds; the others are
/// left empty (`""`, `null`). Each form costs about as much as the decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forms {
    /// Build [`Decoded::text`].
    pub text: bool,
    /// Build [`Decoded::json`].
    pub json: bool,
}

impl Forms {
    /// Text and JSON.
    pub const BOTH: Forms = Forms {
        text: true,
        json: true,
    };
    /// Text only, for tables.
    pub const TEXT: Forms = Forms {
        text: true,
        json: false,
    };
    /// JSON only, for NDJSON.
    pub const JSON: Forms = Forms {
        text: false,
        json: true,
    };
    /// Neither: no output prints messages (the agent, span export without
    /// message events).
    pub const NONE: Forms = Forms {
        text: false,
        json: false,
    };
}

/// How a payload was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaUse {
    /// With the message type of its method.
    Typed,
    /// As bare wire format: the method or its schema is unknown, or the bytes
    /// did not fit the schema. Fields are named by number.
    SchemaLess,
    /// Not protobuf wire format at all; shown as a string or hex.
    Invalid,
}

impl SchemaUse {
    /// Its name in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            SchemaUse::Typed => "typed",
            SchemaUse::SchemaLess => "schemaless",
            SchemaUse::Invalid => "invalid",
        }
    }
}

/// Where the schema that decoded a message came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SchemaSource {
    /// The schemas built into containerdsnoop (containerd 1.6, CRI, ttrpc).
    Bundled,
    /// A `.proto` file given with `--proto`.
    Proto,
    /// The descriptors compiled into this executable (its path as the
    /// process or the user named it, such as `/usr/bin/containerd`).
    Binary(Arc<str>),
}

impl SchemaSource {
    /// Its name in JSON output: `bundled`, `proto` or `binary:PATH`.
    pub fn name(&self) -> String {
        match self {
            SchemaSource::Bundled => "bundled".to_owned(),
            SchemaSource::Proto => "proto".to_owned(),
            SchemaSource::Binary(path) => format!("binary:{path}"),
        }
    }
}

/// One decoded message payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// Full name of the message type, when decoded [`SchemaUse::Typed`].
    pub type_name: Option<String>,
    /// Compact one-line protobuf text form, such as
    /// `name:"foo" labels:{key:"a" value:"b"}`; schema-less fields are named
    /// by number (`1:"ctr" 2:{1:42} 3:0x1f2e`).
    pub text: String,
    /// Proto3 JSON mapping when typed; an object keyed by field number when
    /// schema-less; a string when invalid.
    pub json: serde_json::Value,
    /// How the payload was read.
    pub schema: SchemaUse,
    /// Which schemas decoded it, when [`SchemaUse::Typed`].
    pub source: Option<SchemaSource>,
}

impl Schemas {
    /// The schemas embedded in the binary: containerd 1.6 services and
    /// types, CRI `runtime.v1` and `runtime.v1alpha2`, ttrpc task and events,
    /// and the google/protobuf well-known types. Decoded on first use only.
    pub fn embedded() -> Schemas {
        static EMBEDDED_SCHEMAS: OnceLock<Schemas> = OnceLock::new();
        EMBEDDED_SCHEMAS
            .get_or_init(|| {
                let pool = DescriptorPool::decode(EMBEDDED)
                    .expect("build.rs embeds a valid descriptor set");
                Schemas::from_pool(pool, |_| SchemaSource::Bundled)
            })
            .clone()
    }

    /// The embedded schemas plus those in `paths`: `.proto` files, or
    /// directories whose `.proto` files (at any depth) are all added.
    ///
    /// Imports resolve against each directory given, the directory of each
    /// file given, the embedded schemas (so `google/protobuf/*.proto` and
    /// `containerd/types/*.proto` need not be supplied) and the well-known
    /// types. Files whose name the embedded set already has are skipped.
    ///
    /// # Errors
    ///
    /// A path that cannot be read, a directory without `.proto` files, a
    /// file that does not compile (with its line and column), or a type
    /// defined twice.
    pub fn with_extra(paths: &[PathBuf]) -> anyhow::Result<Schemas> {
        let embedded = Schemas::embedded();
        if paths.is_empty() {
            return Ok(embedded);
        }
        let pool = load::compile_extra(&embedded.inner.pool, EMBEDDED, paths)?;
        let bundled = embedded.pool();
        Ok(Schemas::from_pool(pool, |file| {
            match bundled.get_file_by_name(file) {
                Some(_) => SchemaSource::Bundled,
                None => SchemaSource::Proto,
            }
        }))
    }

    /// The schemas of `pool`, each method labelled by `source_of` the name
    /// of the file that defines its service.
    pub(crate) fn from_pool(
        pool: DescriptorPool,
        source_of: impl Fn(&str) -> SchemaSource,
    ) -> Schemas {
        let files: HashMap<String, SchemaSource> = pool
            .files()
            .map(|f| (f.name().to_owned(), source_of(f.name())))
            .collect();
        let mut methods = HashMap::new();
        for service in pool.services() {
            let source = files
                .get(service.parent_file().name())
                .cloned()
                .unwrap_or(SchemaSource::Bundled);
            for m in service.methods() {
                let info = MethodInfo {
                    service: service.full_name().to_owned(),
                    method: m.name().to_owned(),
                    input: m.input().full_name().to_owned(),
                    output: m.output().full_name().to_owned(),
                    client_streaming: m.is_client_streaming(),
                    server_streaming: m.is_server_streaming(),
                };
                let path = format!("/{}/{}", info.service, info.method);
                let method = Method {
                    info,
                    source: source.clone(),
                    input: m.input(),
                    output: m.output(),
                };
                methods.insert(path, method);
            }
        }
        Schemas {
            inner: Arc::new(Inner {
                pool,
                methods,
                files,
            }),
            redact: true,
        }
    }

    /// These schemas, hiding the values of secret fields in the text and
    /// JSON forms if `redact` (the default), or showing them.
    pub fn with_redaction(mut self, redact: bool) -> Schemas {
        self.redact = redact;
        self
    }

    /// These schemas without the methods of the services named in
    /// `services` (full names), as if they were not bundled: for testing
    /// that a binary's schemas decode what the bundled ones would.
    pub fn without_services(&self, services: &[String]) -> Schemas {
        if services.is_empty() {
            return self.clone();
        }
        let methods = self
            .inner
            .methods
            .iter()
            .filter(|(_, m)| !services.contains(&m.info.service))
            .map(|(path, m)| {
                let copy = Method {
                    info: m.info.clone(),
                    source: m.source.clone(),
                    input: m.input.clone(),
                    output: m.output.clone(),
                };
                (path.clone(), copy)
            })
            .collect();
        Schemas {
            inner: Arc::new(Inner {
                pool: self.inner.pool.clone(),
                methods,
                files: self.inner.files.clone(),
            }),
            redact: self.redact,
        }
    }

    /// Whether secret fields are hidden.
    pub fn redacts(&self) -> bool {
        self.redact
    }

    /// The descriptor pool, for callers that need more than methods.
    pub fn pool(&self) -> &DescriptorPool {
        &self.inner.pool
    }

    /// The method at `path` (`/pkg.Service/Method`), if a schema defines it.
    pub fn method(&self, path: &str) -> Option<MethodInfo> {
        self.inner.methods.get(path).map(|m| m.info.clone())
    }

    /// Decodes one gRPC/ttrpc message `payload` of the call at `path`: a
    /// request if `is_request` (client to server), else a response.
    ///
    /// Typed when the method is known and the bytes decode as its message
    /// type; schema-less otherwise. Never fails and never panics.
    pub fn decode(&self, path: Option<&str>, is_request: bool, payload: &[u8]) -> Decoded {
        self.decode_forms(path, is_request, payload, Forms::BOTH)
    }

    /// [`Schemas::decode`] building only the `forms` asked for.
    pub fn decode_forms(
        &self,
        path: Option<&str>,
        is_request: bool,
        payload: &[u8],
        forms: Forms,
    ) -> Decoded {
        match self.typed(path, is_request, payload, forms) {
            Some(d) => d,
            None => raw::decode(payload, forms),
        }
    }

    /// The payload decoded with its method's message type, if these
    /// schemas know the method and the bytes fit the type.
    pub(crate) fn typed(
        &self,
        path: Option<&str>,
        is_request: bool,
        payload: &[u8],
        forms: Forms,
    ) -> Option<Decoded> {
        let m = self.inner.methods.get(path?)?;
        let desc = if is_request { &m.input } else { &m.output };
        decode_typed(desc, payload, forms, self.redact, &m.source)
    }

    /// Whether a schema defines the method at `path`.
    pub fn knows(&self, path: &str) -> bool {
        self.inner.methods.contains_key(path)
    }

    /// Where the schema of the method at `path` comes from, if known.
    pub fn source(&self, path: &str) -> Option<SchemaSource> {
        self.inner.methods.get(path).map(|m| m.source.clone())
    }

    /// The byte ranges of `payload` (a message of the call at `path`, as
    /// for [`Schemas::decode`]) that hold the values of secret fields, in
    /// order, whether or not this `Schemas` hides them. `None` when the
    /// payload is not decoded typed: nothing is named then.
    pub fn secret_ranges(
        &self,
        path: Option<&str>,
        is_request: bool,
        payload: &[u8],
    ) -> Option<Vec<Range<usize>>> {
        secret::ranges(self.message_type(path, is_request)?, payload)
    }

    fn message_type(&self, path: Option<&str>, is_request: bool) -> Option<&MessageDescriptor> {
        let m = self.inner.methods.get(path?)?;
        Some(if is_request { &m.input } else { &m.output })
    }

    /// Decodes `payload` as the message type `type_name` (a full name such as
    /// `containerd.events.TaskExit`), for payloads whose type is known other
    /// than by method, like ttrpc event topics. Schema-less when the type is
    /// unknown or the bytes do not fit it.
    pub fn decode_as(&self, type_name: &str, payload: &[u8], forms: Forms) -> Decoded {
        match self.typed_as(type_name, payload, forms) {
            Some(d) => d,
            None => raw::decode(payload, forms),
        }
    }

    /// The payload decoded as `type_name`, if these schemas define the type
    /// and the bytes fit it; labelled as the methods of the file defining it.
    pub(crate) fn typed_as(
        &self,
        type_name: &str,
        payload: &[u8],
        forms: Forms,
    ) -> Option<Decoded> {
        let desc = self.inner.pool.get_message_by_name(type_name)?;
        let source = self.type_source(&desc);
        decode_typed(&desc, payload, forms, self.redact, &source)
    }

    /// The source of a message type: that of the file defining it.
    fn type_source(&self, desc: &MessageDescriptor) -> SchemaSource {
        let file = desc.parent_file();
        self.inner
            .files
            .get(file.name())
            .cloned()
            .unwrap_or(SchemaSource::Bundled)
    }
}

/// `payload` decoded as `desc`; None when the bytes do not fit it.
fn decode_typed(
    desc: &MessageDescriptor,
    payload: &[u8],
    forms: Forms,
    redact: bool,
    source: &SchemaSource,
) -> Option<Decoded> {
    match DynamicMessage::decode(desc.clone(), payload) {
        Ok(msg) => Some(Decoded {
            type_name: Some(desc.full_name().to_owned()),
            text: if forms.text {
                text::message(&msg, redact)
            } else {
                String::new()
            },
            json: if forms.json {
                json::message(&msg, redact)
            } else {
                serde_json::Value::Null
            },
            schema: SchemaUse::Typed,
            source: Some(source.clone()),
        }),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests;
