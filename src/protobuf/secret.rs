//! Secrets in typed messages: which fields hold credentials, how a hidden
//! value is shown, and where secret values lie in a payload (so that a
//! capture can be rewritten without them).
//!
//! A field is secret when its name, in any case, contains `password`,
//! `passwd`, `secret`, `token` or `credential`, or is exactly `auth` or
//! `authorization`: the CRI's `AuthConfig.{password, auth, identity_token,
//! registry_token}` (not `username` or `server_address`), and the like in
//! other schemas. Only string and bytes values are hidden (map values, for a
//! map so named); a message field so named, such as `PullImageRequest.auth`,
//! is walked into and its own fields judged by their names. Schema-less
//! fields have no names and are never hidden.

use std::ops::Range;

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

use super::wire::{self, Wire};

/// Substrings of a lower-cased field name that make it secret.
const SECRET_WORDS: [&str; 5] = ["password", "passwd", "secret", "token", "credential"];
/// Names that are secret only whole (`author`, `oauth_scope` are not).
const SECRET_NAMES: [&str; 2] = ["auth", "authorization"];
/// Nesting walked by [`ranges`]: prost's decoder refuses deeper messages, so
/// any payload that decodes typed is walked whole.
const WALK_DEPTH: usize = 100;

/// Whether a field named `name` holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.contains(&lower.as_str()) || SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// Whether the values of `field` (its map values, for a map) are hidden.
pub(super) fn hides(field: &FieldDescriptor) -> bool {
    if !is_secret_name(field.name()) {
        return false;
    }
    let kind = match field.kind() {
        Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
        kind => kind,
    };
    matches!(kind, Kind::String | Kind::Bytes)
}

/// What stands for a hidden value of `len` bytes, without quotes.
pub(super) fn placeholder(len: usize) -> String {
    format!("<redacted {len} bytes>")
}

/// The length of a hidden value (a string or bytes; others count 0).
pub(super) fn value_len(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 0,
    }
}

/// Byte ranges of `payload` holding the values of secret fields when it is
/// read as `desc`, in order, `google.protobuf.Any` payloads of known types
/// included. `None` when the payload does not decode as `desc`: it is then
/// shown schema-less, where nothing is named.
pub(super) fn ranges(desc: &MessageDescriptor, payload: &[u8]) -> Option<Vec<Range<usize>>> {
    DynamicMessage::decode(desc.clone(), payload).ok()?;
    let mut out = Vec::new();
    walk(desc, payload, 0, 0, &mut out);
    Some(out)
}

/// Where `inner` (a subslice of `outer`) starts in it.
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// Collects secret ranges of the message `b`, which starts at `base` in the payload.
fn walk(
    desc: &MessageDescriptor,
    b: &[u8],
    base: usize,
    depth: usize,
    out: &mut Vec<Range<usize>>,
) {
    if desc.full_name() == "google.protobuf.Any" {
        return any(desc, b, base, depth, out);
    }
    let mut rest = b;
    while let Some((number, wire)) = wire::next_field(&mut rest) {
        let (Wire::Len(value), Some(field)) = (wire, desc.get_field(number)) else {
            continue;
        };
        let at = base + offset_in(b, value);
        match field.kind() {
            Kind::Message(entry) if field.is_map() => {
                if hides(&field) {
                    map_values(value, at, out);
                } else if depth < WALK_DEPTH {
                    walk(&entry, value, at, depth + 1, out);
                }
            }
            Kind::Message(m) if depth < WALK_DEPTH => walk(&m, value, at, depth + 1, out),
            Kind::String | Kind::Bytes if hides(&field) => out.push(at..at + value.len()),
            _ => {}
        }
    }
}

/// The values (field 2) of one map entry whose map is secret.
fn map_values(entry: &[u8], base: usize, out: &mut Vec<Range<usize>>) {
    let mut rest = entry;
    while let Some((number, wire)) = wire::next_field(&mut rest) {
        if let (2, Wire::Len(value)) = (number, wire) {
            let at = base + offset_in(entry, value);
            out.push(at..at + value.len());
        }
    }
}

/// An `Any`: its payload is walked as its type when the pool knows it and
/// the bytes fit, as the text and JSON forms show it.
fn any(desc: &MessageDescriptor, b: &[u8], base: usize, depth: usize, out: &mut Vec<Range<usize>>) {
    let (mut type_url, mut value) = (None, None);
    let mut rest = b;
    while let Some((number, wire)) = wire::next_field(&mut rest) {
        match (number, wire) {
            (1, Wire::Len(v)) => type_url = Some(v),
            (2, Wire::Len(v)) => value = Some(v),
            _ => {}
        }
    }
    let (Some(type_url), Some(value)) = (type_url, value) else {
        return;
    };
    let name = String::from_utf8_lossy(type_url);
    let Some(name) = name.rsplit('/').next() else {
        return;
    };
    let Some(inner) = desc.parent_pool().get_message_by_name(name) else {
        return;
    };
    let Ok(msg) = DynamicMessage::decode(inner.clone(), value) else {
        return;
    };
    // As `render::resolve_any`: a decode that left everything unknown did not fit.
    let fits = msg.unknown_fields().next().is_none() || msg.fields().next().is_some();
    if fits && depth < WALK_DEPTH {
        walk(&inner, value, base + offset_in(b, value), depth + 1, out);
    }
}

#[cfg(test)]
mod tests;
