//! The protobuf envelopes of request and response frames, read with the
//! bounded wire reader ([`crate::protobuf::wire`]) rather than a schema, so
//! that a call's method is known whatever schemas are loaded.
//!
//! Field numbers, from containerd/ttrpc's `Request` and `Response` types
//! (request.proto / types.go):
//! - `Request { 1 service: string, 2 method: string, 3 payload: bytes,
//!   4 timeout_nano: int64, 5 metadata: repeated KeyValue }`,
//!   `KeyValue { 1 key: string, 2 value: string }`;
//! - `Response { 1 status: google.rpc.Status, 2 payload: bytes }`,
//!   `google.rpc.Status { 1 code: int32, 2 message: string, 3 details: repeated Any }`.
//!
//! Data frames carry the stream's message itself, with no envelope
//! (ttrpc's `SendMsg` sends `codec.Marshal(m)` as the frame's data).

use std::ops::Range;

use crate::protobuf::wire::{next_field, Wire};

/// Longest service or method name taken (containerd's are under 64 bytes).
pub const MAX_NAME: usize = 1024;
/// Most metadata entries kept per request; more are counted, not kept.
pub const MAX_METADATA: usize = 64;
/// The metadata key containerd puts its namespace under on ttrpc
/// (containerd `namespaces.TTRPCHeader`).
pub const NAMESPACE_KEY: &str = "containerd-namespace-ttrpc";

/// A request envelope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestEnv {
    /// Full service name, such as `containerd.task.v2.Task`.
    pub service: String,
    /// Method name, such as `Create`.
    pub method: String,
    /// Where the inner message lies in the frame's data.
    pub payload: Range<usize>,
    /// `timeout_nano`; 0 or negative means none.
    pub timeout_nano: i64,
    /// Metadata key/value pairs in order, at most [`MAX_METADATA`].
    pub metadata: Vec<(String, String)>,
}

impl RequestEnv {
    /// The call's path in gRPC's form, `/service/method`.
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service, self.method)
    }

    /// The value of the first metadata entry named `key`.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the service and method look like protobuf names
    /// (`[A-Za-z0-9_.]`, method without dots): the evidence that makes a
    /// request header a frame boundary when searching for one.
    pub fn names_plausible(&self) -> bool {
        let ident = |s: &str, dots: bool| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (dots && b == b'.'))
        };
        ident(&self.service, true) && ident(&self.method, false)
    }
}

/// `google.rpc.Status` of a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The gRPC status code (0 is OK), as its int32's low 32 bits.
    pub code: u32,
    /// The error message, if any.
    pub message: String,
}

/// A response envelope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseEnv {
    /// The status, if the envelope has one (ttrpc servers always send it).
    pub status: Option<Status>,
    /// Where the inner message lies in the frame's data.
    pub payload: Range<usize>,
}

/// Where `part` (a subslice of `whole`) starts in it.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

fn string(v: &[u8], max: usize) -> Result<String, ()> {
    match v.len() <= max {
        true => Ok(String::from_utf8_lossy(v).into_owned()),
        false => Err(()),
    }
}

/// Parses a request frame's data; `None` if it is not a `ttrpc.Request`.
/// Unknown fields are skipped (a newer peer may add some), but every field
/// must be well formed and the known ones of their declared wire type.
pub fn parse_request(data: &[u8]) -> Option<RequestEnv> {
    read_request(data).ok()
}

fn read_request(data: &[u8]) -> Result<RequestEnv, ()> {
    let mut req = RequestEnv::default();
    let mut rest = data;
    while !rest.is_empty() {
        match next_field(&mut rest).ok_or(())? {
            (1, Wire::Len(v)) => req.service = string(v, MAX_NAME)?,
            (2, Wire::Len(v)) => req.method = string(v, MAX_NAME)?,
            (3, Wire::Len(v)) => req.payload = offset_in(data, v)..offset_in(data, v) + v.len(),
            // int64 on the wire: the varint's 64 bits, two's complement.
            (4, Wire::Varint(v)) => req.timeout_nano = v as i64,
            (5, Wire::Len(v)) => {
                let kv = key_value(v)?;
                if req.metadata.len() < MAX_METADATA {
                    req.metadata.push(kv);
                }
            }
            (1..=5, _) => return Err(()),
            _ => {}
        }
    }
    Ok(req)
}

fn key_value(mut v: &[u8]) -> Result<(String, String), ()> {
    let (mut key, mut value) = (String::new(), String::new());
    while !v.is_empty() {
        match next_field(&mut v).ok_or(())? {
            (1, Wire::Len(k)) => key = string(k, usize::MAX)?,
            (2, Wire::Len(x)) => value = string(x, usize::MAX)?,
            (1 | 2, _) => return Err(()),
            _ => {}
        }
    }
    Ok((key, value))
}

/// Parses a response frame's data, with the same rules as [`parse_request`].
pub fn parse_response(data: &[u8]) -> Option<ResponseEnv> {
    read_response(data).ok()
}

fn read_response(data: &[u8]) -> Result<ResponseEnv, ()> {
    let mut resp = ResponseEnv::default();
    let mut rest = data;
    while !rest.is_empty() {
        match next_field(&mut rest).ok_or(())? {
            (1, Wire::Len(v)) => resp.status = Some(status(v)?),
            (2, Wire::Len(v)) => resp.payload = offset_in(data, v)..offset_in(data, v) + v.len(),
            (1 | 2, _) => return Err(()),
            _ => {}
        }
    }
    Ok(resp)
}

fn status(mut v: &[u8]) -> Result<Status, ()> {
    let mut st = Status::default();
    while !v.is_empty() {
        match next_field(&mut v).ok_or(())? {
            // int32: the low 32 bits of the varint.
            (1, Wire::Varint(c)) => st.code = c as u32,
            (2, Wire::Len(m)) => st.message = string(m, usize::MAX)?,
            // details: `Any`s, not shown.
            (3, Wire::Len(_)) => {}
            (1..=3, _) => return Err(()),
            _ => {}
        }
    }
    Ok(st)
}

#[cfg(test)]
mod tests;
