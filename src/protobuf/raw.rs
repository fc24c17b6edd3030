//! Schema-less reading of the protobuf wire format: a pure function of the
//! bytes, for methods without a schema and payloads that do not fit theirs.
//!
//! Fields are read by [`super::wire`]; a payload holding groups (wire
//! types 3 and 4, unused by proto3) is taken as not protobuf.
//!
//! A length-delimited value may be a string, bytes or a nested message; the
//! wire does not say. We show it as a string when its bytes are printable
//! UTF-8 (short strings often parse as messages by accident: `"hi"` is
//! field 13 = 105), else as a message when the bytes parse completely as
//! one, else as hex. Each level is checked by one linear scan before it is
//! rendered, and nesting stops at [`MAX_DEPTH`], so the work is bounded by
//! `MAX_DEPTH` passes over the payload and nothing is allocated in
//! proportion to it beyond the capped output.

use std::fmt::Write;

use serde_json::{Map, Value};

use super::render::{
    cut_string, printable_prefix, write_bytes, write_hex, write_quoted, Budget, TextOut, TRUNCATED,
};
use super::wire::{is_message, next_field, Wire};
use super::{Decoded, Forms, SchemaUse, BYTES_CAP, MAX_DEPTH};

/// What a length-delimited value most likely holds.
enum LenKind<'a> {
    /// Printable UTF-8: the first [`super::STRING_CAP`] bytes.
    Text(&'a str),
    Message,
    Bytes,
}

fn classify(b: &[u8]) -> LenKind<'_> {
    if let Some(s) = printable_prefix(b) {
        LenKind::Text(s)
    } else if is_message(b) {
        LenKind::Message
    } else {
        LenKind::Bytes
    }
}

/// Decodes a whole payload without a schema, in the `forms` asked for.
pub(super) fn decode(payload: &[u8], forms: Forms) -> Decoded {
    if is_message(payload) {
        let mut text = TextOut::new();
        if forms.text {
            write_fields(&mut text, payload, 0, &mut true);
        }
        Decoded {
            type_name: None,
            text: text.finish(),
            json: if forms.json {
                Value::Object(fields_json(payload, 0, &mut Budget::new()))
            } else {
                Value::Null
            },
            schema: SchemaUse::SchemaLess,
            source: None,
        }
    } else {
        let mut out = TextOut::new();
        write_bytes(&mut out, payload);
        let shown = out.finish();
        Decoded {
            type_name: None,
            json: if forms.json {
                Value::String(shown.clone())
            } else {
                Value::Null
            },
            text: if forms.text { shown } else { String::new() },
            schema: SchemaUse::Invalid,
            source: None,
        }
    }
}

/// Writes the fields of `b` (which [`is_message`]) at nesting `depth`, each
/// as `number:value`, separated from what `first` says came before.
pub(super) fn write_fields(out: &mut TextOut, b: &[u8], depth: usize, first: &mut bool) {
    let mut rest = b;
    while let Some((number, wire)) = next_field(&mut rest) {
        if out.full() {
            return;
        }
        out.sep(first);
        let _ = write!(out, "{number}:");
        let _ = match wire {
            Wire::Varint(v) => write!(out, "{v}"),
            Wire::Fixed64(v) => write!(out, "0x{v:016x}"),
            Wire::Fixed32(v) => write!(out, "0x{v:08x}"),
            Wire::Len(v) => {
                write_len(out, v, depth);
                Ok(())
            }
        };
    }
}

/// Writes a length-delimited value found in a message at `depth`.
pub(super) fn write_len(out: &mut TextOut, b: &[u8], depth: usize) {
    match classify(b) {
        LenKind::Text(s) => write_quoted(out, s, b.len()),
        LenKind::Message if depth + 1 >= MAX_DEPTH => out.push("{…}"),
        LenKind::Message => {
            out.push("{");
            write_fields(out, b, depth + 1, &mut true);
            out.push("}");
        }
        LenKind::Bytes => write_hex(out, b),
    }
}

/// The JSON object of the fields of `b` (which [`is_message`]): keys are
/// field numbers, a repeated number gives an array.
fn fields_json(b: &[u8], depth: usize, budget: &mut Budget) -> Map<String, Value> {
    let mut obj = Map::new();
    let mut rest = b;
    while let Some((number, wire)) = next_field(&mut rest) {
        if budget.exhausted() {
            obj.insert(TRUNCATED.0.into(), TRUNCATED.1.into());
            break;
        }
        let value = match wire {
            Wire::Varint(v) | Wire::Fixed64(v) => Value::from(v),
            Wire::Fixed32(v) => Value::from(v),
            Wire::Len(v) => len_json(v, depth, budget),
        };
        budget.spend(8);
        match obj.entry(number.to_string()) {
            serde_json::map::Entry::Vacant(e) => {
                e.insert(value);
            }
            serde_json::map::Entry::Occupied(mut e) => match e.get_mut() {
                Value::Array(items) => items.push(value),
                old => {
                    let first = old.take();
                    *old = Value::Array(vec![first, value]);
                }
            },
        }
    }
    obj
}

/// JSON of a length-delimited value found at `depth`: a string, an object,
/// or `0x` hex of at most [`BYTES_CAP`] bytes.
pub(super) fn len_json(b: &[u8], depth: usize, budget: &mut Budget) -> Value {
    match classify(b) {
        LenKind::Text(s) => {
            budget.spend(s.len());
            Value::String(cut_string(s, b.len()))
        }
        LenKind::Message if depth + 1 >= MAX_DEPTH => Value::String("{…}".into()),
        LenKind::Message => Value::Object(fields_json(b, depth + 1, budget)),
        LenKind::Bytes => {
            let mut hex = String::with_capacity(2 * BYTES_CAP + 2);
            hex.push_str("0x");
            for byte in &b[..b.len().min(BYTES_CAP)] {
                let _ = write!(hex, "{byte:02x}");
            }
            if b.len() > BYTES_CAP {
                let _ = write!(hex, "…({} bytes)", b.len());
            }
            budget.spend(hex.len());
            Value::String(hex)
        }
    }
}
