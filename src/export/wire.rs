//! The OTLP protobuf written straight into bytes: a span costs one buffer,
//! not a message tree of two dozen strings to build, encode and free (the
//! capture's thread makes it, at every call's end). Field numbers are
//! opentelemetry-proto's (`trace/v1/trace.proto`, `common/v1/common.proto`);
//! the tests decode what is written here with that crate's types.

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

/// A length-delimited field: `bytes` (a string, bytes, or an encoded message).
pub fn bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    encode_key(field, WireType::LengthDelimited, buf);
    encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

/// A varint field (uint32, uint64, int64, an enum, a bool).
pub fn varint(buf: &mut Vec<u8>, field: u32, v: u64) {
    encode_key(field, WireType::Varint, buf);
    encode_varint(v, buf);
}

/// A fixed64 field.
pub fn fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    encode_key(field, WireType::SixtyFourBit, buf);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// `KeyValue` attributes appended to a message being written, each as the
/// repeated field `field` (a span's 9, an event's 3, a resource's 1).
pub struct Attrs<'a> {
    buf: &'a mut Vec<u8>,
    field: u32,
}

/// A value of an attribute.
enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

impl<'a> Attrs<'a> {
    /// Attributes as field `field` of the message in `buf`.
    pub fn new(buf: &'a mut Vec<u8>, field: u32) -> Self {
        Attrs { buf, field }
    }

    /// A string attribute.
    pub fn string(&mut self, key: &str, v: &str) {
        self.put(key, Value::Str(v));
    }

    /// An integer attribute.
    pub fn int(&mut self, key: &str, v: i64) {
        self.put(key, Value::Int(v));
    }

    /// A boolean attribute.
    pub fn boolean(&mut self, key: &str, v: bool) {
        self.put(key, Value::Bool(v));
    }

    fn put(&mut self, key: &str, v: Value<'_>) {
        // AnyValue: string_value 1, bool_value 2, int_value 3.
        let any = match v {
            Value::Str(s) => 1 + encoded_len_varint(s.len() as u64) + s.len(),
            Value::Int(i) => 1 + encoded_len_varint(i as u64),
            Value::Bool(_) => 2,
        };
        // KeyValue: key 1, value 2.
        let kv = 1
            + encoded_len_varint(key.len() as u64)
            + key.len()
            + 1
            + encoded_len_varint(any as u64)
            + any;
        let buf = &mut *self.buf;
        encode_key(self.field, WireType::LengthDelimited, buf);
        encode_varint(kv as u64, buf);
        bytes(buf, 1, key.as_bytes());
        encode_key(2, WireType::LengthDelimited, buf);
        encode_varint(any as u64, buf);
        match v {
            Value::Str(s) => bytes(buf, 1, s.as_bytes()),
            Value::Int(i) => varint(buf, 3, i as u64),
            Value::Bool(b) => varint(buf, 2, u64::from(b)),
        }
    }
}

/// An `ExportTraceServiceRequest` of one resource and one scope holding
/// `spans` (each an encoded `Span`): `resource` and `scope` are the
/// encoded `Resource` and `InstrumentationScope`.
pub fn request(resource: &[u8], scope: &[u8], schema_url: &str, spans: &[Vec<u8>]) -> Vec<u8> {
    let field = |len: usize| 1 + encoded_len_varint(len as u64) + len;
    let url = field(schema_url.len());
    // ScopeSpans: scope 1, spans 2, schema_url 3.
    let scope_spans =
        field(scope.len()) + spans.iter().map(|s| field(s.len())).sum::<usize>() + url;
    // ResourceSpans: resource 1, scope_spans 2, schema_url 3.
    let resource_spans = field(resource.len()) + field(scope_spans) + url;
    let mut out = Vec::with_capacity(field(resource_spans));
    // ExportTraceServiceRequest: resource_spans 1.
    encode_key(1, WireType::LengthDelimited, &mut out);
    encode_varint(resource_spans as u64, &mut out);
    bytes(&mut out, 1, resource);
    encode_key(2, WireType::LengthDelimited, &mut out);
    encode_varint(scope_spans as u64, &mut out);
    bytes(&mut out, 1, scope);
    for s in spans {
        bytes(&mut out, 2, s);
    }
    bytes(&mut out, 3, schema_url.as_bytes());
    bytes(&mut out, 3, schema_url.as_bytes());
    out
}
