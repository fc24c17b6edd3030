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
