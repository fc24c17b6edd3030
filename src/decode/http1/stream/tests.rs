use super::*;

fn frame(kind: u8, s: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0, 0, 0];
    v.extend_from_slice(&(s.len() as u32).to_be_bytes());
    v.extend_from_slice(s);
    v
}

/// The pieces of `writes`, glued per frame kind run.
fn shown(framing: StreamFraming, writes: &[&[u8]]) -> Vec<(PartKind, String)> {
    let mut d = Demux::new(framing);
    let mut out: Vec<(PartKind, String)> = Vec::new();
    let mut at = 0;
    for w in writes {
        let mut pieces = Vec::new();
        d.split(w, at, &mut pieces);
        for (k, b, off) in pieces {
            assert_eq!(
                &w[(off - at) as usize..][..b.len()],
                b,
                "offsets point at the bytes"
            );
            match out.last_mut() {
                Some((lk, s)) if *lk == k => s.push_str(&String::from_utf8_lossy(b)),
                _ => out.push((k, String::from_utf8_lossy(b).into_owned())),
            }
        }
        at += w.len() as u64;
    }
    out
}

#[test]
fn frames_are_cut_by_their_headers_however_written() {
    let all = [
        frame(1, b"out one\n"),
        frame(2, b"err\n"),
        frame(1, b"two\n"),
    ]
    .concat();
    let want = vec![
        (PartKind::Stdout, "out one\n".to_string()),
        (PartKind::Stderr, "err\n".to_string()),
        (PartKind::Stdout, "two\n".to_string()),
    ];
    for cut in 0..all.len() {
        assert_eq!(
            shown(StreamFraming::Multiplexed, &[&all[..cut], &all[cut..]]),
            want,
            "cut {cut}"
        );
    }
}

#[test]
fn a_bad_header_ends_demultiplexing_and_unknown_framing_is_not_cut() {
    let got = shown(
        StreamFraming::Multiplexed,
        &[b"\x01\0\0\0\0\0\0\x02hi", b"plain text here"],
    );
    assert_eq!(got[0], (PartKind::Stdout, "hi".to_string()));
    assert_eq!(got[1].0, PartKind::StreamUnknown);
    assert!(got[1].1.ends_with("plain text here"));
    let raw = shown(StreamFraming::Unknown, &[&frame(1, b"x")]);
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].0, PartKind::StreamUnknown);
}

#[test]
fn ttys_are_bounded() {
    let t = Ttys::default();
    for i in 0..MAX_TTYS + 10 {
        t.learn(&i.to_string(), i % 2 == 0);
    }
    assert_eq!(t.len(), MAX_TTYS);
    assert_eq!(t.tty("0"), None);
    assert_eq!(t.tty(&(MAX_TTYS + 9).to_string()), Some(false));
}
