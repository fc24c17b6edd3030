//! Proto3 JSON mapping of typed messages
//! (<https://protobuf.dev/programming-guides/json/>), bounded: strings and
//! bytes are cut at [`STRING_CAP`], the whole at about [`JSON_CAP`](super::JSON_CAP).
//!
//! Written here rather than with prost-reflect's serde support because that
//! one prints every bytes value whole (base64 of a 1 MiB chunk) and fails on
//! an `Any` whose type is not in the pool, as an OCI spec in a container is.
//! The well-known types with a special mapping (Timestamp, Duration, Struct,
//! wrappers, FieldMask, ...) hold no large values, so they do go through it.

use base64::prelude::{Engine, BASE64_STANDARD};
use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage, Value as PValue};
use serde_json::{Map, Value};

use super::render::{any_parts, cut_str, cut_string, resolve_any, Budget, TRUNCATED};
use super::{raw, secret, MAX_DEPTH, STRING_CAP};

/// Well-known types whose JSON form is not an object of their fields; inside
/// an `Any` they go under `"value"`.
fn has_special_mapping(full_name: &str) -> bool {
    matches!(
        full_name.strip_prefix("google.protobuf."),
        Some(
            "Any"
                | "Timestamp"
                | "Duration"
                | "Struct"
                | "Value"
                | "ListValue"
                | "FieldMask"
                | "Empty"
                | "DoubleValue"
                | "FloatValue"
                | "Int64Value"
                | "UInt64Value"
                | "Int32Value"
                | "UInt32Value"
                | "BoolValue"
                | "StringValue"
                | "BytesValue"
        )
    )
}

/// The JSON form of a typed message; secret fields hidden if `redact`.
pub(super) fn message(msg: &DynamicMessage, redact: bool) -> Value {
    message_json(msg, 0, &mut Budget::new(), redact)
}

/// A hidden secret value: `"<redacted N bytes>"`.
fn redacted_json(value: &PValue) -> Value {
    Value::String(secret::placeholder(secret::value_len(value)))
}

fn message_json(msg: &DynamicMessage, depth: usize, budget: &mut Budget, redact: bool) -> Value {
    let desc = msg.descriptor();
    let name = desc.full_name();
    if name == "google.protobuf.Any" {
        return any_json(msg, depth, budget, redact);
    }
    if has_special_mapping(name) {
        if let Some(v) = well_known_json(msg, name, depth, budget) {
            return v;
        }
    }
    let mut obj = Map::new();
    for (field, value) in msg.fields() {
        if budget.exhausted() {
            obj.insert(TRUNCATED.0.into(), TRUNCATED.1.into());
            break;
        }
        budget.spend(field.json_name().len() + 4);
        let kind = field.kind();
        let hide = redact && secret::hides(&field);
        let v = match value {
            PValue::List(items) => list_json(items, &kind, depth, budget, hide, redact),
            PValue::Map(map) => map_json(map, &kind, depth, budget, hide, redact),
            v if hide => redacted_json(v),
            v => value_json(v, &kind, depth, budget, redact),
        };
        obj.insert(field.json_name().to_owned(), v);
    }
    Value::Object(obj)
}

/// Special mappings: the string and bytes wrappers through our capped
/// scalars, the rest through prost-reflect (`None` if it refuses, for
/// example a Timestamp out of range: the caller then shows the fields).
fn well_known_json(
    msg: &DynamicMessage,
    name: &str,
    depth: usize,
    budget: &mut Budget,
) -> Option<Value> {
    if name.ends_with(".StringValue") || name.ends_with(".BytesValue") {
        let field = msg.descriptor().get_field(1)?;
        // The wrappers' one field, `value`, is never secret.
        return Some(value_json(
            &msg.get_field(&field),
            &field.kind(),
            depth,
            budget,
            false,
        ));
    }
    let v = serde_json::to_value(msg).ok()?;
    budget.spend(64);
    Some(v)
}

/// A repeated field; its items hidden if `hide` (secret strings or bytes).
fn list_json(
    items: &[PValue],
    kind: &Kind,
    depth: usize,
    budget: &mut Budget,
    hide: bool,
    redact: bool,
) -> Value {
    let mut out = Vec::with_capacity(items.len().min(1024));
    for item in items {
        if budget.exhausted() {
            out.push(TRUNCATED.0.into());
            break;
        }
        out.push(match hide {
            true => {
                budget.spend(24);
                redacted_json(item)
            }
            false => value_json(item, kind, depth, budget, redact),
        });
    }
    Value::Array(out)
}

/// A map; its values hidden if `hide` (a secret map of strings or bytes).
fn map_json(
    map: &std::collections::HashMap<MapKey, PValue>,
    kind: &Kind,
    depth: usize,
    budget: &mut Budget,
    hide: bool,
    redact: bool,
) -> Value {
    let Some(value_kind) = kind
        .as_message()
        .map(|entry| entry.map_entry_value_field().kind())
    else {
        return Value::Null;
    };
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut obj = Map::new();
    for (key, v) in entries {
        if budget.exhausted() {
            obj.insert(TRUNCATED.0.into(), TRUNCATED.1.into());
            break;
        }
        let key = match key {
            MapKey::String(s) => cut_string(cut_str(s, STRING_CAP), s.len()),
            MapKey::Bool(v) => v.to_string(),
            MapKey::I32(v) => v.to_string(),
            MapKey::I64(v) => v.to_string(),
            MapKey::U32(v) => v.to_string(),
            MapKey::U64(v) => v.to_string(),
        };
        budget.spend(key.len() + 4);
        let v = match hide {
            true => redacted_json(v),
            false => value_json(v, &value_kind, depth + 1, budget, redact),
        };
        obj.insert(key, v);
    }
    Value::Object(obj)
}

/// One singular value of `kind` found in a message at `depth`.
fn value_json(
    value: &PValue,
    kind: &Kind,
    depth: usize,
    budget: &mut Budget,
    redact: bool,
) -> Value {
    budget.spend(8);
    match value {
        PValue::Bool(v) => Value::Bool(*v),
        PValue::I32(v) => Value::from(*v),
        PValue::U32(v) => Value::from(*v),
        // 64-bit integers are strings: JavaScript numbers hold 53 bits.
        PValue::I64(v) => Value::String(v.to_string()),
        PValue::U64(v) => Value::String(v.to_string()),
        // Through the shortest decimal form, so 0.1f32 stays 0.1.
        PValue::F32(v) => float_json(v.to_string().parse().unwrap_or(f64::NAN)),
        PValue::F64(v) => float_json(*v),
        PValue::String(s) => {
            let shown = cut_str(s, STRING_CAP);
            budget.spend(shown.len());
            Value::String(cut_string(shown, s.len()))
        }
        PValue::Bytes(b) => {
            let shown = &b[..b.len().min(STRING_CAP)];
            let encoded = BASE64_STANDARD.encode(shown);
            budget.spend(encoded.len());
            Value::String(if shown.len() < b.len() {
                format!("{encoded}…({} bytes)", b.len())
            } else {
                encoded
            })
        }
        PValue::EnumNumber(n) => match kind.as_enum() {
            Some(e) if e.full_name() == "google.protobuf.NullValue" => Value::Null,
            Some(e) => match e.get_value(*n) {
                Some(v) => Value::String(v.name().to_owned()),
                None => Value::from(*n),
            },
            None => Value::from(*n),
        },
        PValue::Message(m) => {
            if depth + 1 >= MAX_DEPTH {
                Value::String("{…}".into())
            } else {
                message_json(m, depth + 1, budget, redact)
            }
        }
        // Lists and maps occur only as whole fields, handled by the caller.
        PValue::List(_) | PValue::Map(_) => Value::Null,
    }
}

fn float_json(v: f64) -> Value {
    if v.is_nan() {
        Value::String("NaN".into())
    } else if v.is_infinite() {
        Value::String(if v > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        Value::from(v)
    }
}

/// `{"@type": url, ...fields}` when the type is in the pool, with the
/// payload under `"value"` for special mappings; the payload schema-less
/// under `"value"` otherwise.
fn any_json(any: &DynamicMessage, depth: usize, budget: &mut Budget, redact: bool) -> Value {
    let mut obj = Map::new();
    let Some((type_url, value)) = any_parts(any) else {
        return Value::Object(obj);
    };
    if type_url.is_empty() && value.is_empty() {
        return Value::Object(obj);
    }
    budget.spend(type_url.len() + 8);
    let resolved = resolve_any(any, &type_url, &value, depth);
    obj.insert("@type".into(), Value::String(type_url));
    match resolved {
        Some(inner) => match message_json(&inner, depth + 1, budget, redact) {
            Value::Object(fields) if !has_special_mapping(inner.descriptor().full_name()) => {
                obj.extend(fields)
            }
            v => {
                obj.insert("value".into(), v);
            }
        },
        None => {
            obj.insert("value".into(), raw::len_json(&value, depth, budget));
        }
    }
    Value::Object(obj)
}
