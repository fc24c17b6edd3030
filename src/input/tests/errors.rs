//! Inputs that are not whole captures: truncated, refused link types,
//! garbage, corrupted bytes; and the error sentences.

use super::*;

#[test]
fn truncated_at_every_byte_delivers_a_prefix() {
    let evs = vec![
        live_events()[0].clone(),
        live_events()[1].clone(),
        live_events()[2].clone(),
        Ev::Gap {
            id: 0,
            dir: Dir::ToServer,
            offset: (PREFACE.len() + frames(10).len()) as u64,
            len: 3,
        },
        Ev::Close(0),
    ];
    let file = write_capture(&evs);
    let (full, full_evs) = read_all(&file, &[]);
    full.unwrap();
    let full_stream = stream(&full_evs, 0, Dir::ToServer);
    for n in 0..file.len() {
        let (r, out) = read_all(&file[..n], &[]);
        match r {
            Err(ReadError::Truncated { offset }) => assert!(offset <= n as u64),
            Err(ReadError::NotACapture) => assert_eq!(n, 0),
            Ok(_) => {}
            Err(e) => panic!("cut at {n}: {e}"),
        }
        let got = stream(&out, 0, Dir::ToServer);
        for (i, p) in got.iter().enumerate() {
            match (p, &full_stream[i]) {
                (Piece::Bytes(a), Piece::Bytes(b)) => assert!(b.starts_with(a), "cut at {n}"),
                (a, b) => assert_eq!(a, b, "cut at {n}"),
            }
        }
    }
}

#[test]
fn unsupported_link_types_are_refused() {
    let file = pcap_file(147, false, false, &[(T0, vec![1, 2, 3])]);
    assert!(matches!(
        read_all(&file, &[]).0,
        Err(ReadError::UnsupportedLinkType(147))
    ));
    let file = foreign_pcapng(
        Endianness::Little,
        DataLink::from(147),
        &[(1, vec![1, 2, 3])],
    );
    assert!(matches!(
        read_all(&file, &[]).0,
        Err(ReadError::UnsupportedLinkType(147))
    ));
}

#[test]
fn garbage_is_not_a_capture() {
    for input in [
        &b""[..],
        b"hello world, not a capture",
        b"\xd4\xc3\xb2\xa0xxxxxxxxxxxxxxxxxxxxxxx",
    ] {
        assert!(matches!(
            read_all(input, &[]).0,
            Err(ReadError::NotACapture)
        ));
    }
    assert!(matches!(
        read_all(b"\x0a\x0d", &[]).0,
        Err(ReadError::Truncated { offset: 0 })
    ));
    // The pcapng magic, then nonsense.
    let mut bad = PCAPNG_MAGIC.to_vec();
    bad.extend_from_slice(&[0xff; 40]);
    assert!(matches!(
        read_all(&bad, &[]).0,
        Err(ReadError::Malformed { offset: 0, .. })
    ));
}

/// Corrupting bytes of valid captures never panics and never allocates
/// beyond the block bound (a tiny deterministic fuzzer).
#[test]
fn corrupted_captures_never_panic() {
    let pcapng = write_capture(&live_events()[..6]);
    let pcap = pcap_file(101, false, false, &reordered());
    let mut rng = crate::testsupport::Rng::new(1);
    let mut next = || rng.next_u64();
    for base in [&pcapng, &pcap] {
        for _ in 0..300 {
            let mut f = base.clone();
            for _ in 0..1 + next() % 8 {
                let i = (next() % f.len() as u64) as usize;
                f[i] = next() as u8;
            }
            let cut = (next() % (f.len() as u64 + 1)) as usize;
            let _ = read_all(&f[..cut.max(f.len() / 2)], &[]);
            let _ = read_all(&f, &[1234]);
        }
    }
}

#[test]
fn errors_read_as_sentences() {
    let e = ReadError::Truncated { offset: 42 };
    assert!(e.to_string().contains("byte 42"));
    assert!(ReadError::UnsupportedLinkType(147)
        .to_string()
        .contains("147"));
}
