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
mod tests {
    use prost::Message;

    use super::super::{Forms, SchemaUse, Schemas};
    use super::*;

    const AUTH: &str = r#"image { image: "registry.example/app:1" }
        auth { username: "u" password: "hunter2" auth: "dTpodW50ZXIy"
               identity_token: "x" registry_token: "y" server_address: "registry.example" }"#;

    fn encode(s: &Schemas, name: &str, text: &str) -> Vec<u8> {
        let desc = s.pool().get_message_by_name(name).expect(name);
        DynamicMessage::parse_text_format(desc, text)
            .expect("valid text format")
            .encode_to_vec()
    }

    #[test]
    fn names() {
        for name in [
            "password",
            "Passwd",
            "client_secret",
            "registry_token",
            "IdentityToken",
            "credentials",
            "auth",
            "Authorization",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "username",
            "author",
            "oauth_scope",
            "server_address",
            "image",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn pull_image_auth_is_redacted_by_default() {
        for v in ["runtime.v1", "runtime.v1alpha2"] {
            let s = Schemas::embedded();
            assert!(s.redacts());
            let path = format!("/{v}.ImageService/PullImage");
            let payload = encode(&s, &format!("{v}.PullImageRequest"), AUTH);
            let d = s.decode_forms(Some(&path), true, &payload, Forms::BOTH);
            assert_eq!(d.schema, SchemaUse::Typed);
            assert_eq!(
                d.text,
                r#"image:{image:"registry.example/app:1"} auth:{username:"u" password:"<redacted 7 bytes>" auth:"<redacted 12 bytes>" server_address:"registry.example" identity_token:"<redacted 1 bytes>" registry_token:"<redacted 1 bytes>"}"#,
                "{v}"
            );
            let auth = &d.json["auth"];
            assert_eq!(auth["username"], "u");
            assert_eq!(auth["password"], "<redacted 7 bytes>");
            assert_eq!(auth["auth"], "<redacted 12 bytes>");
            assert_eq!(auth["identityToken"], "<redacted 1 bytes>");
            assert_eq!(auth["registryToken"], "<redacted 1 bytes>");
            let json = d.json.to_string();
            for secret in ["hunter2", "dTpodW50ZXIy"] {
                assert!(!d.text.contains(secret) && !json.contains(secret), "{v}");
            }

            let shown = s.with_redaction(false);
            let d = shown.decode_forms(Some(&path), true, &payload, Forms::BOTH);
            assert!(d.text.contains(r#"password:"hunter2""#), "{}", d.text);
            assert!(d.text.contains(r#"auth:"dTpodW50ZXIy""#));
            assert!(d.text.contains(r#"identity_token:"x""#));
            assert_eq!(d.json["auth"]["password"], "hunter2");
            assert_eq!(d.json["auth"]["registryToken"], "y");
        }
    }

    #[test]
    fn ranges_cover_exactly_the_secret_values() {
        let s = Schemas::embedded();
        let path = "/runtime.v1.ImageService/PullImage";
        let payload = encode(&s, "runtime.v1.PullImageRequest", AUTH);
        let found: Vec<&[u8]> = s
            .secret_ranges(Some(path), true, &payload)
            .unwrap()
            .into_iter()
            .map(|r| &payload[r])
            .collect();
        let want: [&[u8]; 4] = [b"hunter2", b"dTpodW50ZXIy", b"x", b"y"];
        assert_eq!(found, want);
        // Shown or not, the ranges are the same; nothing without a schema.
        assert_eq!(
            s.clone()
                .with_redaction(false)
                .secret_ranges(Some(path), true, &payload)
                .map(|r| r.len()),
            Some(4)
        );
        assert_eq!(s.secret_ranges(None, true, &payload), None);
        assert_eq!(s.secret_ranges(Some(path), true, b"\xff\xff"), None);
        // The response type has no secret field.
        let image = encode(
            &s,
            "runtime.v1.PullImageResponse",
            r#"image_ref: "sha256:1""#,
        );
        assert_eq!(s.secret_ranges(Some(path), false, &image), Some(vec![]));
    }

    #[test]
    fn secrets_inside_any_are_found() {
        let s = Schemas::embedded();
        let auth = encode(
            &s,
            "runtime.v1.AuthConfig",
            r#"username: "u" password: "hunter2""#,
        );
        let any = prost_types_any("type.googleapis.com/runtime.v1.AuthConfig", &auth);
        let name = "containerd.services.tasks.v1.CreateTaskRequest";
        let mut payload = encode(&s, name, r#"container_id: "c""#);
        // Field 9 of CreateTaskRequest is `google.protobuf.Any options`.
        prost::encoding::bytes::encode(9, &any, &mut payload);
        let d = s.decode_as(name, &payload, Forms::BOTH);
        assert!(
            d.text.contains(r#"password:"<redacted 7 bytes>""#),
            "{}",
            d.text
        );
        assert_eq!(d.json["options"]["password"], "<redacted 7 bytes>");
        let path = "/containerd.services.tasks.v1.Tasks/Create";
        let r = s.secret_ranges(Some(path), true, &payload).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(&payload[r[0].clone()], b"hunter2");
    }

    fn prost_types_any(type_url: &str, value: &[u8]) -> Vec<u8> {
        let mut any = Vec::new();
        prost::encoding::string::encode(1, &type_url.to_string(), &mut any);
        prost::encoding::bytes::encode(2, &value.to_vec(), &mut any);
        any
    }

    #[test]
    fn maps_lists_and_bytes_of_other_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let proto = dir.path().join("creds.proto");
        std::fs::write(
            &proto,
            r#"syntax = "proto3";
            package test.creds;
            message Inner { string api_token = 1; string name = 2; }
            message Creds {
              map<string, string> secrets = 1;
              repeated string tokens = 2;
              bytes client_secret = 3;
              string note = 4;
              Inner inner = 5;
            }
            service S { rpc Do(Creds) returns (Creds); }"#,
        )
        .unwrap();
        let s = Schemas::with_extra(&[proto]).unwrap();
        let payload = encode(
            &s,
            "test.creds.Creds",
            r#"secrets { key: "user" value: "pw1" } tokens: "t1" tokens: "t22"
               client_secret: "\001\002" note: "hi" inner { api_token: "abc" name: "n" }"#,
        );
        let d = s.decode_forms(Some("/test.creds.S/Do"), true, &payload, Forms::BOTH);
        assert_eq!(
            d.text,
            r#"secrets:{key:"user" value:"<redacted 3 bytes>"} tokens:"<redacted 2 bytes>" tokens:"<redacted 3 bytes>" client_secret:"<redacted 2 bytes>" note:"hi" inner:{api_token:"<redacted 3 bytes>" name:"n"}"#
        );
        assert_eq!(d.json["secrets"]["user"], "<redacted 3 bytes>");
        assert_eq!(d.json["tokens"][1], "<redacted 3 bytes>");
        assert_eq!(d.json["clientSecret"], "<redacted 2 bytes>");
        assert_eq!(d.json["inner"]["name"], "n");
        let found: Vec<&[u8]> = s
            .secret_ranges(Some("/test.creds.S/Do"), true, &payload)
            .unwrap()
            .into_iter()
            .map(|r| &payload[r])
            .collect();
        let want: [&[u8]; 5] = [b"pw1", b"t1", b"t22", b"\x01\x02", b"abc"];
        assert_eq!(found, want);
    }
}
