use super::*;

fn body(ct: &str, payload: &[u8]) -> Part {
    Part {
        kind: PartKind::Body,
        content_type: Some(ct.into()),
        size: payload.len() as u64,
        lost: 0,
        kept: true,
    }
}

#[test]
fn json_bodies_are_values_with_secrets_hidden() {
    let p = br#"{"username": "u", "password": "hunter2"}"#;
    let path = PathInfo::Known("/docker/SystemAuth".into());
    let d = present(&body("application/json", p), p, &path, true);
    assert_eq!(d.schema, SchemaUse::Json);
    assert_eq!(
        d.text,
        r#"{"password":"<redacted 7 bytes>","username":"u"}"#
    );
    assert_eq!(d.json["password"], "<redacted 7 bytes>");
    let shown = present(&body("application/json", p), p, &path, false);
    assert_eq!(shown.json["password"], "hunter2");
}

#[test]
fn archives_are_summarised_and_typing_counted() {
    let tar = Part {
        kind: PartKind::Body,
        content_type: Some("application/x-tar".into()),
        size: 10240,
        lost: 0,
        kept: false,
    };
    let path = PathInfo::Known("/docker/ImageLoad".into());
    assert_eq!(
        present(&tar, b"", &path, true).text,
        "<application/x-tar, 10240 bytes>"
    );
    let stdin = Part {
        kind: PartKind::Stdin,
        content_type: None,
        size: 3,
        lost: 0,
        kept: true,
    };
    assert_eq!(
        present(&stdin, b"ls\n", &path, true).text,
        "<3 bytes typed>"
    );
    let shown = present(&stdin, b"ls\n", &path, false);
    assert_eq!(shown.text, "ls\\n");
    assert_eq!(shown.json["base64"], "bHMK");
}
