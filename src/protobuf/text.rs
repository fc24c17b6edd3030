//! Compact one-line text form of typed messages (protobuf text format with
//! `:` after every field name and one space between fields), and the bounded
//! writer and value formatting that the schema-less form shares.

use std::fmt::{self, Write};

use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage, Value};

use super::{raw, secret, BYTES_CAP, MAX_DEPTH, STRING_CAP, TEXT_CAP};

/// A string that stops growing at [`TEXT_CAP`] bytes and then ends in `…`.
pub(super) struct TextOut {
    buf: String,
    full: bool,
}

impl TextOut {
    pub(super) fn new() -> TextOut {
        TextOut {
            buf: String::new(),
            full: false,
        }
    }

    pub(super) fn push(&mut self, s: &str) {
        if self.full {
            return;
        }
        if self.buf.len() + s.len() <= TEXT_CAP {
            self.buf.push_str(s);
        } else {
            self.buf
                .push_str(cut_str(s, TEXT_CAP.saturating_sub(self.buf.len())));
            self.buf.push('…');
            self.full = true;
        }
    }

    /// True once the cap is reached: callers stop walking.
    pub(super) fn full(&self) -> bool {
        self.full
    }

    /// Writes the separator before a field: nothing before the first.
    pub(super) fn sep(&mut self, first: &mut bool) {
        if !*first {
            self.push(" ");
        }
        *first = false;
    }

    pub(super) fn finish(self) -> String {
        self.buf
    }
}

impl Write for TextOut {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s);
        Ok(())
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char
/// boundary.
pub(super) fn cut_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The first [`STRING_CAP`] bytes of `b` as a string, if they are UTF-8
/// without control characters other than tab, CR and LF. A multi-byte char
/// split by the cap does not count against `b`.
pub(super) fn printable_prefix(b: &[u8]) -> Option<&str> {
    let head = &b[..b.len().min(STRING_CAP)];
    let s = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() && head.len() < b.len() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    let printable = s
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    printable.then_some(s)
}

/// Writes `"shown"` with text-format escapes, then `…(N bytes)` if `shown`
/// is a cut of a value `total` bytes long.
pub(super) fn write_quoted(out: &mut TextOut, shown: &str, total: usize) {
    out.push("\"");
    let mut start = 0;
    for (i, c) in shown.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c.is_control() => "",
            _ => continue,
        };
        out.push(&shown[start..i]);
        if esc.is_empty() {
            let mut utf8 = [0; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                let _ = write!(out, "\\x{byte:02x}");
            }
        } else {
            out.push(esc);
        }
        start = i + c.len_utf8();
    }
    out.push(&shown[start..]);
    out.push("\"");
    if total > shown.len() {
        let _ = write!(out, "…({total} bytes)");
    }
}

/// Writes a string value, cut at [`STRING_CAP`].
pub(super) fn write_string(out: &mut TextOut, s: &str) {
    write_quoted(out, cut_str(s, STRING_CAP), s.len());
}

/// Writes a bytes value: quoted if printable, else `0x` and hex of at most
/// [`BYTES_CAP`] bytes, then `…(N bytes)` if cut.
pub(super) fn write_bytes(out: &mut TextOut, b: &[u8]) {
    match printable_prefix(b) {
        Some(s) => write_quoted(out, s, b.len()),
        None => write_hex(out, b),
    }
}

pub(super) fn write_hex(out: &mut TextOut, b: &[u8]) {
    out.push("0x");
    for byte in &b[..b.len().min(BYTES_CAP)] {
        let _ = write!(out, "{byte:02x}");
    }
    if b.len() > BYTES_CAP {
        let _ = write!(out, "…({} bytes)", b.len());
    }
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

/// The `type_url` and `value` of an `Any`, or `None` if `msg` does not look
/// like one.
pub(super) fn any_parts(msg: &DynamicMessage) -> Option<(String, prost::bytes::Bytes)> {
    let type_url = msg.get_field_by_number(1)?.as_str()?.to_owned();
    let value = msg.get_field_by_number(2)?.as_bytes()?.clone();
    Some((type_url, value))
}

/// The message inside an `Any` at `depth`, if its type is in the pool, the
/// bytes decode as that type and there is room to nest.
pub(super) fn resolve_any(
    any: &DynamicMessage,
    type_url: &str,
    value: &[u8],
    depth: usize,
) -> Option<DynamicMessage> {
    if depth + 1 >= MAX_DEPTH {
        return None;
    }
    // "The last segment of the URL's path must represent the fully
    // qualified name of the type" (google/protobuf/any.proto).
    let name = type_url.rsplit('/').next()?;
    let desc = any.descriptor().parent_pool().get_message_by_name(name)?;
    let inner = DynamicMessage::decode(desc, value).ok()?;
    // A decode that left everything unknown did not fit.
    let fits = inner.unknown_fields().next().is_none() || inner.fields().next().is_some();
    fits.then_some(inner)
}
