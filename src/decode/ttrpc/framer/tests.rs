use super::*;
use crate::testsupport::ttrpc::{frame, request_env, response_env};

fn steps(f: &mut Framer) -> Vec<Step> {
    std::iter::from_fn(|| f.advance()).collect()
}

#[test]
fn a_request_proves_itself_a_data_frame_waits() {
    let req = frame(1, 1, 0, &request_env("s.S", "M", b"", 0, &[]));
    let mut f = Framer::new();
    f.push(&req);
    let s = steps(&mut f);
    assert_eq!(s[0], Step::Resynced { skipped: 0 });
    assert!(
        matches!(&s[1], Step::Frame(h, _, Body::Request(r)) if h.stream_id == 1 && r.method == "M")
    );
    let data = frame(3, 3, 0, b"\x08\x01");
    let mut f = Framer::new();
    f.push(&data);
    assert!(steps(&mut f).is_empty());
    assert_eq!(f.finish(), Some(Step::Resynced { skipped: 0 }));
    assert!(matches!(
        &steps(&mut f)[..],
        [Step::Frame(_, _, Body::Data)]
    ));
}

#[test]
fn garbage_before_a_response_is_skipped() {
    let mut bytes = vec![7u8; 13];
    bytes.extend(frame(5, 2, 0, &response_env(0, "", b"\x08\x01")));
    let mut f = Framer::new();
    f.push(&bytes);
    let s = steps(&mut f);
    assert_eq!(s[0], Step::Resynced { skipped: 13 });
    assert!(matches!(&s[1], Step::Frame(h, _, Body::Response(_)) if h.stream_id == 5));
}

#[test]
fn a_gap_inside_a_frame_keeps_sync() {
    let a = frame(1, 3, 0, &[9; 40]);
    let b = frame(3, 3, 0, &[8; 4]);
    let mut f = Framer::new();
    f.push(&a[..20]);
    f.push(&b[..0]);
    // Not yet in sync: a data frame needs the next header.
    assert!(steps(&mut f).is_empty());
    let out = f.gap(a.len() as u64 - 20);
    assert!(out.lost_sync && out.damaged.is_none());
    let req = frame(5, 1, 0, &request_env("s.S", "M", b"", 0, &[]));
    f.push(&req);
    let s = steps(&mut f);
    assert_eq!(s[0], Step::Resynced { skipped: 20 });
    // Now in sync: a gap inside the next frame skips exactly its rest.
    f.push(&b[..12]);
    let out = f.gap(2);
    assert_eq!(out.damaged.map(|h| h.stream_id), Some(3));
    assert!(!out.lost_sync);
    f.push(&req);
    assert!(matches!(
        &steps(&mut f)[..],
        [Step::Frame(_, _, Body::Request(_))]
    ));
}

#[test]
fn an_invalid_header_in_sync_starts_a_search() {
    let req = frame(1, 1, 0, &request_env("s.S", "M", b"", 0, &[]));
    let mut f = Framer::new();
    f.push(&req);
    f.push(&[0, 0, 0, 0, 0, 0, 0, 1, 9, 0]);
    f.push(&req);
    let s = steps(&mut f);
    assert_eq!(s[2], Step::Invalid(Error::UnknownType { kind: 9 }));
    assert_eq!(s[3], Step::Resynced { skipped: 10 });
    assert!(matches!(s[4], Step::Frame(..)));
}
