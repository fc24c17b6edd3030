//! The OTLP protobuf written straight into bytes: a span costs one buffer,
//! not a message tree of two dozen strings to build, encode and free (the
//! capture's thread makes it, at every call's end). Field numbers are
//! opentelemetry-proto's (`trace/v1/trace.proto`, `common/v1/common.proto`);
//! the tests decode what is written here with that crate's types. Bytes go
//! in with `Vec::push` and one `extend_from_slice` a string: this runs a few
//! dozen times a call.

/// Protobuf's wire types used here.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// `v` as a varint.
#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Bytes `v` takes as a varint.
#[inline]
pub fn varint_len(v: u64) -> usize {
    // One byte per 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A field's key.
#[inline]
fn key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(buf, u64::from(field << 3 | wire));
}

/// Bytes a length-delimited field of `len` bytes takes, key (a field under
/// 16) included.
#[inline]
pub fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A length-delimited field: `bytes` (a string, bytes, or an encoded message).
#[inline]
pub fn bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(buf, field, LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A length-delimited field whose content is `parts` one after the other
/// (a name made of a service, a slash and a method, with no string built).
#[inline]
pub fn concat(buf: &mut Vec<u8>, field: u32, parts: &[&str]) {
    key(buf, field, LEN);
    put_varint(buf, parts.iter().map(|p| p.len()).sum::<usize>() as u64);
    for p in parts {
        buf.extend_from_slice(p.as_bytes());
    }
}

/// A varint field (uint32, uint64, int64, an enum, a bool).
#[inline]
pub fn varint(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, VARINT);
    put_varint(buf, v);
}

/// A fixed64 field.
#[inline]
pub fn fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// The header of a length-delimited field whose `len` bytes the caller
/// writes next.
#[inline]
pub fn header(buf: &mut Vec<u8>, field: u32, len: usize) {
    key(buf, field, LEN);
    put_varint(buf, len as u64);
}

/// `KeyValue` attributes appended to a message being written, each as the
/// repeated field `field` (a span's 9, an event's 3, a resource's 1).
pub struct Attrs<'a> {
    buf: &'a mut Vec<u8>,
    field: u32,
}

/// A value of an attribute.
enum Value<'a> {
    Str(&'a [&'a str]),
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
        self.put(key, Value::Str(&[v]));
    }

    /// A string attribute whose value is `parts` one after the other.
    pub fn concat(&mut self, key: &str, parts: &[&str]) {
        self.put(key, Value::Str(parts));
    }

    /// An integer attribute.
    pub fn int(&mut self, key: &str, v: i64) {
        self.put(key, Value::Int(v));
    }

    /// A boolean attribute.
    pub fn boolean(&mut self, key: &str, v: bool) {
        self.put(key, Value::Bool(v));
    }

    fn put(&mut self, name: &str, v: Value<'_>) {
        // AnyValue: string_value 1, bool_value 2, int_value 3.
        let any = match v {
            Value::Str(parts) => field_len(parts.iter().map(|p| p.len()).sum()),
            Value::Int(i) => 1 + varint_len(i as u64),
            Value::Bool(_) => 2,
        };
        // KeyValue: key 1, value 2.
        let kv = field_len(name.len()) + field_len(any);
        let buf = &mut *self.buf;
        if kv < 0x80 && self.field < 16 {
            // Most attributes: every length is one byte, and so is every
            // key (a field under 16), so the framing around the name and
            // the value goes in as two short arrays.
            buf.reserve(kv + 2);
            let tag = (self.field << 3 | LEN) as u8;
            buf.extend_from_slice(&[tag, kv as u8, 0x0a, name.len() as u8]);
            buf.extend_from_slice(name.as_bytes());
            match v {
                Value::Str(parts) => {
                    buf.extend_from_slice(&[0x12, any as u8, 0x0a, (any - 2) as u8]);
                    for p in parts {
                        buf.extend_from_slice(p.as_bytes());
                    }
                }
                Value::Int(i) => {
                    buf.extend_from_slice(&[0x12, any as u8, 0x18]);
                    put_varint(buf, i as u64);
                }
                Value::Bool(b) => buf.extend_from_slice(&[0x12, 2, 0x10, u8::from(b)]),
            }
            return;
        }
        buf.reserve(kv + 6);
        header(buf, self.field, kv);
        bytes(buf, 1, name.as_bytes());
        header(buf, 2, any);
        match v {
            Value::Str(parts) => concat(buf, 1, parts),
            Value::Int(i) => varint(buf, 3, i as u64),
            Value::Bool(b) => varint(buf, 2, u64::from(b)),
        }
    }
}

/// An `ExportTraceServiceRequest` of one resource and one scope, written
/// into `out` (emptied first): `resource` and `scope` are the encoded
/// `Resource` and `InstrumentationScope`, `spans` the spans each framed as
/// field 2 of `ScopeSpans` (as [`super::queue::SpanQueue`] holds them).
pub fn request(resource: &[u8], scope: &[u8], schema_url: &str, spans: &[u8], out: &mut Vec<u8>) {
    let url = field_len(schema_url.len());
    // ScopeSpans: scope 1, spans 2, schema_url 3.
    let scope_spans = field_len(scope.len()) + spans.len() + url;
    // ResourceSpans: resource 1, scope_spans 2, schema_url 3.
    let resource_spans = field_len(resource.len()) + field_len(scope_spans) + url;
    out.clear();
    out.reserve(field_len(resource_spans));
    // ExportTraceServiceRequest: resource_spans 1.
    header(out, 1, resource_spans);
    bytes(out, 1, resource);
    header(out, 2, scope_spans);
    bytes(out, 1, scope);
    out.extend_from_slice(spans);
    bytes(out, 3, schema_url.as_bytes());
    bytes(out, 3, schema_url.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

    /// What prost writes for attribute `key` = `value` as field 9.
    fn theirs(key: &str, value: any_value::Value) -> Vec<u8> {
        let kv = KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        };
        let mut out = Vec::new();
        prost::encoding::message::encode(9, &kv, &mut out);
        out
    }

    #[test]
    fn attributes_short_and_long_are_what_prost_writes() {
        let long = "x".repeat(300);
        for (k, v) in [
            ("a", "b"),
            ("server.address", "/run/containerd/containerd.sock"),
            ("k", long.as_str()),
            (long.as_str(), "v"),
            ("e", ""),
        ] {
            let mut ours = Vec::new();
            Attrs::new(&mut ours, 9).string(k, v);
            assert_eq!(
                ours,
                theirs(k, any_value::Value::StringValue(v.into())),
                "{k} {v}"
            );
            let mut parts = Vec::new();
            Attrs::new(&mut parts, 9).concat(k, &[v, "/", v]);
            assert_eq!(
                parts,
                theirs(k, any_value::Value::StringValue(format!("{v}/{v}")))
            );
        }
        for i in [0, 1, 127, 128, -1, i64::MAX, i64::MIN] {
            let mut ours = Vec::new();
            Attrs::new(&mut ours, 9).int("pid", i);
            assert_eq!(ours, theirs("pid", any_value::Value::IntValue(i)), "{i}");
        }
        for b in [false, true] {
            let mut ours = Vec::new();
            Attrs::new(&mut ours, 9).boolean("flag", b);
            assert_eq!(ours, theirs("flag", any_value::Value::BoolValue(b)));
        }
    }

    #[test]
    fn varints_and_their_lengths_agree_with_prost() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut ours = Vec::new();
            put_varint(&mut ours, v);
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(v, &mut theirs);
            assert_eq!(ours, theirs, "{v}");
            assert_eq!(varint_len(v), prost::encoding::encoded_len_varint(v), "{v}");
        }
    }
}
