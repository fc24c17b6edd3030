//! Compact one-line text form of typed messages (protobuf text format with
//! `:` after every field name and one space between fields).

use std::fmt::Write;

use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage, Value};

use super::render::{any_parts, cut_str, resolve_any, write_bytes, write_quoted, TextOut};
use super::{raw, secret, MAX_DEPTH, STRING_CAP};

/// Writes a string value, cut at [`STRING_CAP`].
pub(super) fn write_string(out: &mut TextOut, s: &str) {
    write_quoted(out, cut_str(s, STRING_CAP), s.len());
}

/// The text form of a typed message; secret fields hidden if `redact`.
pub(super) fn message(msg: &DynamicMessage, redact: bool) -> String {
    let mut out = TextOut::new();
    write_message(&mut out, msg, 0, redact);
    out.finish()
}

/// Writes a hidden secret value: `"<redacted N bytes>"`.
fn write_redacted(out: &mut TextOut, value: &Value) {
    out.push("\"");
    out.push(&secret::placeholder(secret::value_len(value)));
    out.push("\"");
}

/// Writes the fields of `msg` (at nesting `depth`) without braces.
fn write_message(out: &mut TextOut, msg: &DynamicMessage, depth: usize, redact: bool) {
    if msg.descriptor().full_name() == "google.protobuf.Any" {
        write_any(out, msg, depth, redact);
        return;
    }
    let mut first = true;
    for (field, value) in msg.fields() {
        if out.full() {
            return;
        }
        let kind = field.kind();
        let hide = redact && secret::hides(&field);
        match value {
            Value::List(items) => {
                for item in items {
                    out.sep(&mut first);
                    out.push(field.name());
                    out.push(":");
                    match hide {
                        true => write_redacted(out, item),
                        false => write_value(out, item, &kind, depth, redact),
                    }
                }
            }
            Value::Map(map) => {
                let value_kind = kind
                    .as_message()
                    .map(|entry| entry.map_entry_value_field().kind());
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (key, v) in entries {
                    if out.full() {
                        return;
                    }
                    out.sep(&mut first);
                    out.push(field.name());
                    out.push(":{key:");
                    write_map_key(out, key);
                    out.push(" value:");
                    match &value_kind {
                        Some(_) if hide => write_redacted(out, v),
                        Some(k) => write_value(out, v, k, depth + 1, redact),
                        None => out.push("?"),
                    }
                    out.push("}");
                }
            }
            v => {
                out.sep(&mut first);
                out.push(field.name());
                out.push(":");
                match hide {
                    true => write_redacted(out, v),
                    false => write_value(out, v, &kind, depth, redact),
                }
            }
        }
    }
    // Fields the schema does not name (newer senders): shown by number.
    let mut unknown = Vec::new();
    for field in msg.unknown_fields() {
        field.encode(&mut unknown);
    }
    if !unknown.is_empty() {
        raw::write_fields(out, &unknown, depth, &mut first);
    }
}

/// Writes one singular value of `kind` found in a message at `depth`.
fn write_value(out: &mut TextOut, value: &Value, kind: &Kind, depth: usize, redact: bool) {
    match value {
        Value::Bool(v) => out.push(if *v { "true" } else { "false" }),
        Value::I32(v) => {
            let _ = write!(out, "{v}");
        }
        Value::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::U32(v) => {
            let _ = write!(out, "{v}");
        }
        Value::U64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::F32(v) => write_float(out, f64::from(*v)),
        Value::F64(v) => write_float(out, *v),
        Value::String(s) => write_string(out, s),
        Value::Bytes(b) => write_bytes(out, b),
        Value::EnumNumber(n) => match kind.as_enum().and_then(|e| e.get_value(*n)) {
            Some(v) => out.push(v.name()),
            None => {
                let _ = write!(out, "{n}");
            }
        },
        Value::Message(m) => {
            if depth + 1 >= MAX_DEPTH {
                out.push("{…}");
            } else {
                out.push("{");
                write_message(out, m, depth + 1, redact);
                out.push("}");
            }
        }
        // Lists and maps occur only as whole fields, handled by the caller.
        Value::List(_) | Value::Map(_) => out.push("?"),
    }
}

fn write_float(out: &mut TextOut, v: f64) {
    if v.is_nan() {
        out.push("nan");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn write_map_key(out: &mut TextOut, key: &MapKey) {
    let _ = match key {
        MapKey::String(s) => {
            write_string(out, s);
            Ok(())
        }
        MapKey::Bool(v) => write!(out, "{v}"),
        MapKey::I32(v) => write!(out, "{v}"),
        MapKey::I64(v) => write!(out, "{v}"),
        MapKey::U32(v) => write!(out, "{v}"),
        MapKey::U64(v) => write!(out, "{v}"),
    };
}

/// `google.protobuf.Any`: the payload inline as `[type_url]:{…}` when the
/// pool knows its type and the bytes fit it, as in protobuf text format;
/// otherwise `type_url:"…" value:` and the payload read schema-less.
fn write_any(out: &mut TextOut, any: &DynamicMessage, depth: usize, redact: bool) {
    let Some((type_url, value)) = any_parts(any) else {
        return;
    };
    if let Some(inner) = resolve_any(any, &type_url, &value, depth) {
        out.push("[");
        out.push(&type_url);
        out.push("]:{");
        write_message(out, &inner, depth + 1, redact);
        out.push("}");
        return;
    }
    let mut first = true;
    if !type_url.is_empty() {
        out.sep(&mut first);
        out.push("type_url:");
        write_string(out, &type_url);
    }
    if !value.is_empty() {
        out.sep(&mut first);
        out.push("value:");
        raw::write_len(out, &value, depth);
    }
}
