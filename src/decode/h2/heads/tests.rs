use super::*;
use crate::decode::h2::frame::flags;
use crate::testsupport::h2::frame;

fn stream() -> Vec<u8> {
    let mut s = frame(Kind::Settings, 0, 0, &[0, 3, 0, 0, 0, 100]);
    s.extend(frame(Kind::Headers, flags::END_HEADERS, 1, &[0x83, 0x86]));
    s.extend(frame(Kind::Data, flags::END_STREAM, 1, &[0; 300]));
    s.extend(frame(Kind::Ping, 0, 0, &[0; 8]));
    s
}

fn walk(cuts: &[usize], bytes: &[u8]) -> (Vec<(u64, Kind, u32)>, Option<u64>) {
    let mut h = Heads::default();
    let mut found = Vec::new();
    let mut at = 0;
    for &end in cuts.iter().chain([bytes.len()].iter()) {
        h.feed(at as u64, &bytes[at..end], &mut found);
        at = end;
    }
    let found = found
        .into_iter()
        .map(|(o, h)| (o, h.kind, h.stream_id))
        .collect();
    (found, h.boundary())
}

#[test]
fn any_cut_finds_the_same_headers() {
    let s = stream();
    let whole = walk(&[], &s);
    assert_eq!(
        whole.0,
        [
            (0, Kind::Settings, 0),
            (15, Kind::Headers, 1),
            (26, Kind::Data, 1),
            (335, Kind::Ping, 0)
        ]
    );
    assert_eq!(whole.1, Some(s.len() as u64));
    for cut in 1..s.len() {
        assert_eq!(walk(&[cut], &s), whole, "cut at {cut}");
    }
    // Inside a frame there is no boundary.
    assert_eq!(walk(&[], &s[..20]).1, None);
}

#[test]
fn replayed_bytes_are_skipped_and_holes_lose_the_alignment() {
    let s = stream();
    let mut h = Heads::default();
    let mut found = Vec::new();
    h.feed(0, &s[..30], &mut found);
    h.feed(0, &s[..30], &mut found);
    assert_eq!(found.len(), 2, "nothing twice");
    h.feed(40, &s[40..], &mut found);
    assert!(h.is_lost());
    assert_eq!(h.boundary(), None);
    let mut g = Heads::default();
    g.feed(0, &s[..15], &mut found);
    g.gap();
    assert!(g.is_lost());
}

#[test]
fn bytes_that_are_not_frames_lose_the_alignment() {
    let mut h = Heads::default();
    let mut found = Vec::new();
    h.feed(0, b"GET / HTTP/1.1\r\n", &mut found);
    assert!(h.is_lost() && found.is_empty());
}
