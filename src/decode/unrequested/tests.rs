use super::*;
use crate::testsupport::decoders::stamp;

fn message(sid: u32) -> Event {
    Event::Message {
        http: None,
        stream_id: sid,
        dir: crate::decode::Dir::ToClient,
        path: PathInfo::Unknown,
        stamp: stamp(1),
        compressed: false,
        payload: vec![1],
        decompress_error: None,
        stream_ranges: Vec::new(),
        meta: CallMeta::default(),
    }
}

fn path_of(ev: &Event) -> &PathInfo {
    match ev {
        Event::Message { path, .. } | Event::CallEnd { path, .. } => path,
        _ => panic!("no path in {ev:?}"),
    }
}

#[test]
fn which_streams_the_client_is_still_to_open() {
    let mut c = ClientStreams::default();
    // Nothing known: any stream may be still to come (or from before the
    // capture).
    assert!(!c.known() && c.not_yet_opened(3) && c.not_yet_opened(1));
    c.used(5);
    assert!(c.known());
    assert!(!c.not_yet_opened(3) && !c.not_yet_opened(5));
    assert!(c.not_yet_opened(7));
    // Server-initiated (even) streams are never the client's to open.
    assert!(!c.not_yet_opened(8));
    let mut fresh = ClientStreams::default();
    fresh.seen_from_start();
    assert!(fresh.known() && fresh.not_yet_opened(1));
}

#[test]
fn held_events_go_out_named_in_order() {
    let mut u = Unrequested::default();
    let mut out = Vec::new();
    u.emit(3, message(3), &mut out);
    assert_eq!(out.len(), 1, "a stream not expected is not held");
    u.expect(5, 0);
    u.emit(5, message(5), &mut out);
    u.emit(5, message(5), &mut out);
    assert_eq!(out.len(), 1);
    let path = PathInfo::Known("/a.B/C".into());
    let meta = CallMeta {
        http: None,
        namespace: Some("k8s.io".into()),
        timeout_ns: None,
    };
    let named = Named {
        path: &path,
        meta: &meta,
        started_ns: Some(7),
    };
    u.release(5, Some(named), &mut out);
    assert_eq!(out.len(), 3);
    assert!(out[1..].iter().all(|e| path_of(e) == &path));
    assert!(!u.waits(5));
    // Released once: nothing more waits.
    u.release(5, Some(named), &mut out);
    assert_eq!(out.len(), 3);
}

#[test]
fn the_bound_releases_the_oldest_stream_unnamed() {
    let mut u = Unrequested::default();
    let mut out = Vec::new();
    u.expect(1, 0);
    u.expect(3, 0);
    u.emit(1, message(1), &mut out);
    for _ in 0..MAX_HELD - 1 {
        assert_eq!(u.emit(3, message(3), &mut out), None);
    }
    assert!(out.is_empty());
    assert_eq!(u.emit(3, message(3), &mut out), Some(1));
    assert_eq!(out.len(), 1);
    assert!(!u.waits(1) && u.waits(3));
    assert_eq!(u.release_all(&mut out), vec![3]);
    assert_eq!(out.len(), 1 + MAX_HELD);
    assert!(out.iter().all(|e| path_of(e) == &PathInfo::Unknown));
}

#[test]
fn a_stream_waits_a_bounded_time() {
    let mut u = Unrequested::default();
    let mut out = Vec::new();
    u.expect(1, 100);
    u.expect(3, 100 + WAIT_NS);
    u.emit(1, message(1), &mut out);
    u.emit(3, message(3), &mut out);
    assert!(u.expire(100 + WAIT_NS, &mut out).is_empty());
    assert_eq!(u.expire(101 + WAIT_NS, &mut out), vec![1]);
    assert_eq!(out.len(), 1);
    assert!(u.waits(3));
}

#[test]
fn lost_client_bytes_make_nothing_awaited() {
    let mut c = ClientStreams::default();
    c.seen_from_start();
    c.used(3);
    c.lost();
    // Streams above 3 may have been opened in the lost bytes.
    assert!(!c.known() && !c.not_yet_opened(5));
    c.used(7);
    assert!(c.known() && c.not_yet_opened(9) && !c.not_yet_opened(5));
}
