use super::*;
use crate::testsupport::ttrpc::{request_env, response_env};

#[test]
fn request_round_trip() {
    let data = request_env(
        "containerd.task.v2.Task",
        "Create",
        b"\x0a\x01x",
        2_000_000_000,
        &[(NAMESPACE_KEY, "default")],
    );
    let r = parse_request(&data).unwrap();
    assert_eq!(r.path(), "/containerd.task.v2.Task/Create");
    assert_eq!(&data[r.payload.clone()], b"\x0a\x01x");
    assert_eq!(r.timeout_nano, 2_000_000_000);
    assert_eq!(r.meta(NAMESPACE_KEY), Some("default"));
    assert!(r.names_plausible());
    let odd = RequestEnv {
        service: "a b".into(),
        method: "C".into(),
        ..Default::default()
    };
    assert!(!odd.names_plausible());
}

#[test]
fn response_and_errors() {
    let data = response_env(5, "not found", b"");
    let r = parse_response(&data).unwrap();
    assert_eq!(
        r.status,
        Some(Status {
            code: 5,
            message: "not found".into()
        })
    );
    assert!(r.payload.is_empty());
    // An OK status: absent (containerd 1.6) or empty (newer ttrpc).
    assert_eq!(parse_response(&[]), Some(ResponseEnv::default()));
    let empty = parse_response(&[0x0a, 0, 0x12, 1, 7]).unwrap();
    assert_eq!(
        (empty.status, empty.payload),
        (Some(Status::default()), 4..5)
    );
    // Field 1 as a varint, a truncated length, a group.
    assert_eq!(parse_response(&[0x08, 1]), None);
    assert_eq!(parse_request(&[0x0a, 5, b'a']), None);
    assert_eq!(parse_request(&[0x0b]), None);
    // Unknown fields are skipped.
    assert!(parse_request(&[0x30, 1]).is_some());
}
