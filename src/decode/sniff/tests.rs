use super::*;
use crate::testsupport::ttrpc::{frame, request_env, response_env};

#[test]
fn tells_protocols_apart() {
    let grpc = Sniff::Is(Protocol::Grpc);
    let ttrpc = Sniff::Is(Protocol::Ttrpc);
    assert_eq!(sniff(PREFACE, false), grpc);
    assert_eq!(sniff(&PREFACE[..5], false), Sniff::NeedMore);
    let settings = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
    assert_eq!(sniff(&settings, true), grpc);
    let req = frame(
        1,
        1,
        0,
        &request_env("containerd.task.v2.Task", "Start", b"", 0, &[]),
    );
    assert_eq!(sniff(&req, false), ttrpc);
    assert_eq!(sniff(&req[..12], false), Sniff::NeedMore);
    let resp = frame(7, 2, 0, &response_env(0, "", b"\x08\x01"));
    assert_eq!(sniff(&resp, true), ttrpc);
    // A data frame proves itself only with the next header.
    let data = frame(3, 3, 0, b"\x08\x01");
    assert_eq!(sniff(&data, true), Sniff::NeedMore);
    assert_eq!(sniff(&[data.clone(), data].concat(), true), ttrpc);
    let http = Sniff::Is(Protocol::Http1);
    assert_eq!(sniff(b"GET / HTTP/1.1\r\n", false), http);
    assert_eq!(sniff(b"HTTP/1.1 200 OK\r\n", true), http);
    assert_eq!(sniff(b"GET /v1.4", false), Sniff::NeedMore);
    assert_eq!(sniff(b"SSH-2.0-OpenSSH_9.2\r\n", false), Sniff::Other);
    assert_eq!(sniff(&[0; 12], false), Sniff::Other);
    assert_eq!(sniff(b"", false), Sniff::NeedMore);
}

#[test]
fn recognises_frames() {
    let settings = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
    assert!(looks_like_h2_frames(&settings, true));
    assert!(is_initial_settings(&settings));
    let mut two = settings.to_vec();
    two.extend_from_slice(&[0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert!(looks_like_h2_frames(&two, true));
    // HEADERS on stream 0 is not HTTP/2.
    assert!(!looks_like_h2_frames(&[0, 0, 0, 1, 4, 0, 0, 0, 0], false));
    // Trailing garbage shorter than a header.
    let mut bad = settings.to_vec();
    bad.extend_from_slice(&[1, 2, 3]);
    assert!(!looks_like_h2_frames(&bad, true));
    assert!(!looks_like_h2_frames(b"GET / HTTP/1.1\r\n", false));
    assert!(!looks_like_h2_frames(b"", false));
    // A DATA frame that goes on in the next write.
    assert!(looks_like_h2_frames(
        &[0, 1, 0, 0, 0, 0, 0, 0, 1, 9, 9],
        false
    ));
    // Longer than the initial maximum frame size: not taken for HTTP/2.
    assert!(!looks_like_h2_frames(
        &[0x0f, 0x27, 0, 0, 0, 0, 0, 0, 1, 9, 9],
        false
    ));
}
