//! Recovery: captures starting mid-connection, gaps, corrupted bytes.

use super::*;

/// Many unary calls, each request with a new grpc-timeout as Go sends, so
/// the client's HPACK table turns over.
fn long_conversation(calls: u32) -> Conv {
    let mut c = Conv::new();
    c.start();
    for i in 0..calls {
        let sid = 1 + 2 * i;
        let path = PATHS[i as usize % PATHS.len()];
        c.paths.insert(sid, path.into());
        let timeout = format!("{}u", 1_999_000 + i);
        let fields = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "/run/containerd/containerd.sock"),
            ("content-type", "application/grpc"),
            ("grpc-timeout", timeout.as_str()),
        ];
        c.headers(Dir::ToServer, sid, &fields, false);
        c.data(Dir::ToServer, sid, &grpc_msg(b"req"), true);
        c.response(sid);
        c.data(Dir::ToClient, sid, &grpc_msg(b"resp"), false);
        c.trailers(sid, 0, "");
    }
    c
}

/// Index of the write carrying stream `sid`'s request headers.
fn request_write(c: &Conv, sid: u32) -> usize {
    c.writes
        .iter()
        .position(|(d, b)| {
            *d == Dir::ToServer && b[3] == Kind::Headers.to_byte() && b[5..9] == sid.to_be_bytes()
        })
        .unwrap()
}

#[test]
fn mid_connection_paths_are_unknown_until_the_table_turns_over() {
    let c = long_conversation(160);
    let cut = request_write(&c, 61);
    let ev = run(false, &c.writes[cut..], None);
    paths_never_wrong(&ev, &c.paths);
    assert!(errors(&ev).is_empty(), "{:?}", errors(&ev));
    let ends = call_ends(&ev);
    assert_eq!(ends.len(), 160 - 30);
    // The first calls after the cut use :path entries from before it.
    assert_eq!(ends[0].1, PathInfo::Unknown);
    // After enough new insertions the client table is exact again.
    // Once evicted by the encoder, paths come back as new literals; after
    // enough insertions nothing from before the cut can be left.
    let first_known = ends.iter().position(|e| e.1 != PathInfo::Unknown).unwrap();
    assert!(first_known < 60, "first known at call {first_known}");
    assert!(ends[first_known..].iter().all(|e| e.1 != PathInfo::Unknown));
    assert!(ends[ends.len() - 40..]
        .iter()
        .all(|e| e.1 != PathInfo::Unknown));
    // The server's trailers only ever reuse entries from before the cut.
    assert!(ends.iter().all(|e| e.2.is_none()));
    // Messages are still delivered, with the best path known.
    assert_eq!(messages(&ev).len(), 2 * ends.len());
}

#[test]
fn mid_connection_start_inside_a_frame_resyncs() {
    let c = long_conversation(12);
    let cut = request_write(&c, 9);
    let mut writes = c.writes[cut..].to_vec();
    let partial = writes[0].1.len() - 7;
    writes[0].1.drain(..7);
    let ev = run(false, &writes, None);
    paths_never_wrong(&ev, &c.paths);
    assert!(ev.contains(&Event::Resync {
        dir: Dir::ToServer,
        skipped: partial as u64
    }));
    assert!(ev.contains(&Event::Resync {
        dir: Dir::ToClient,
        skipped: 0
    }));
    // Call 9 lost its headers but still pairs data and end.
    let ends = call_ends(&ev);
    assert_eq!(ends.first().map(|e| e.0), Some(9));
    assert_eq!(ends.len(), 12 - 4);
}

#[test]
fn any_mid_connection_start_never_misattributes_a_path() {
    let mut c = long_conversation(40);
    c.pad = 3;
    c.pieces = 3;
    busy_calls(&mut c, 100);
    let mut rng = Rng(99);
    for cut in 0..c.writes.len() {
        for skip in [0, 1, 5, 9, 20] {
            let mut writes = c.writes[cut..].to_vec();
            let n = skip.min(writes[0].1.len());
            writes[0].1.drain(..n);
            let ev = run(false, &writes, Some(&mut rng));
            paths_never_wrong(&ev, &c.paths);
        }
    }
}

/// Feeds `writes`, except that `n` bytes of write `lost` after its first
/// `keep` bytes are reported as a gap instead.
fn run_with_gap(writes: &[(Dir, Vec<u8>)], lost: usize, keep: usize, n: usize) -> Vec<Event> {
    let mut dec = ConnDecoder::new(true);
    let mut out = Vec::new();
    for (i, (dir, bytes)) in writes.iter().enumerate() {
        let m = stamp(i as u64);
        if i == lost {
            dec.feed(*dir, &bytes[..keep], &m, &mut out);
            dec.gap(*dir, n as u64, &mut out);
            dec.feed(*dir, &bytes[keep + n..], &m, &mut out);
        } else {
            dec.feed(*dir, bytes, &m, &mut out);
        }
    }
    dec.close(1_000_000, &mut out);
    out
}

#[test]
fn gap_inside_a_data_frame_keeps_framing() {
    let mut c = Conv::new();
    c.start();
    c.unary(1, VERSION, &[1u8; 5000], b"ok");
    c.unary(3, VERSION, b"again", b"ok");
    let lost = c.writes.iter().position(|(_, b)| b.len() > 5000).unwrap();
    // The gap ends before the frame does: the next frame boundary is known.
    let ev = run_with_gap(&c.writes, lost, 100, 2900);
    assert!(ev.contains(&Event::Gap {
        dir: Dir::ToServer,
        bytes: 2900
    }));
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Resync { .. })),
        "{ev:#?}"
    );
    let known = PathInfo::Known(VERSION.into());
    assert_eq!(
        call_ends(&ev),
        vec![(1, known.clone(), Some(0)), (3, known, Some(0))]
    );
    let m = messages(&ev);
    assert!(!m.contains(&(1, Dir::ToServer, vec![1u8; 5000])));
    assert!(m.contains(&(3, Dir::ToServer, b"again".to_vec())));
}

#[test]
fn gap_over_headers_resyncs_and_forgets_the_table() {
    let c = long_conversation(20);
    let lost = request_write(&c, 11);
    let ev = run_with_gap(&c.writes, lost, 0, c.writes[lost].1.len());
    paths_never_wrong(&ev, &c.paths);
    assert!(ev.contains(&Event::Resync {
        dir: Dir::ToServer,
        skipped: 0
    }));
    let ends = call_ends(&ev);
    assert_eq!(ends.len(), 20);
    assert_eq!(ends[4].1, PathInfo::Known(PATHS[4].into()));
    // Call 11 lost its request headers; the next reuse old table entries.
    assert_eq!(ends[5], (11, PathInfo::Unknown, Some(0)));
    assert_eq!(ends[6].1, PathInfo::Unknown);
}

#[test]
fn gap_inside_a_header_block_loses_the_table_but_not_framing() {
    let mut c = long_conversation(4);
    c.pieces = 2;
    c.request(9, PATHS[1]);
    c.request(11, PATHS[1]);
    let lost = request_write(&c, 9);
    let ev = run_with_gap(&c.writes, lost, 12, 10);
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Resync { .. })),
        "{ev:#?}"
    );
    assert!(errors(&ev).is_empty(), "{:?}", errors(&ev));
    paths_never_wrong(&ev, &c.paths);
    let starts: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::CallStart {
                stream_id, path, ..
            } => Some((*stream_id, path.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(starts.last(), Some(&(11, PathInfo::Unknown)));
}

#[test]
fn corrupted_bytes_never_panic() {
    let mut c = Conv::new();
    c.start();
    c.pieces = 2;
    c.unary(1, VERSION, b"hello", b"world");
    c.headers(
        Dir::ToServer,
        3,
        &[(":path", "/a/b"), ("grpc-encoding", "gzip")],
        false,
    );
    let mut z = vec![1, 0, 0, 0, 0];
    z.extend(gzip(b"zip"));
    let n = (z.len() - 5) as u32;
    z[1..5].copy_from_slice(&n.to_be_bytes());
    c.data(Dir::ToServer, 3, &z, true);
    c.trailers(3, 0, "");
    let total: usize = c.writes.iter().map(|w| w.1.len()).sum();
    assert!(total < 600, "keep it small: {total}");
    for w in 0..c.writes.len() {
        for pos in 0..c.writes[w].1.len() {
            for mask in [0x01u8, 0x08, 0x40, 0x80, 0xff] {
                let mut writes = c.writes.clone();
                writes[w].1[pos] ^= mask;
                let _ = run(true, &writes, None);
                let _ = run(false, &writes[w..], None);
            }
        }
    }
}

#[test]
fn random_bytes_and_gaps_never_panic() {
    let mut rng = Rng(0x1234_5678);
    for round in 0..200 {
        let mut dec = ConnDecoder::new(round % 2 == 0);
        let mut out = Vec::new();
        for _ in 0..20 {
            let dir = if rng.below(2) == 0 {
                Dir::ToServer
            } else {
                Dir::ToClient
            };
            if rng.below(8) == 0 {
                let n = match rng.below(4) {
                    0 => u64::MAX - rng.below(3) as u64,
                    _ => rng.next_u64() % 100_000,
                };
                dec.gap(dir, n, &mut out);
                continue;
            }
            // Mostly zeros, so lengths are small and headers look plausible.
            let bytes: Vec<u8> = (0..rng.below(200))
                .map(|_| match rng.below(3) {
                    0 => rng.next_u64() as u8,
                    1 => rng.below(10) as u8,
                    _ => 0,
                })
                .collect();
            dec.feed(dir, &bytes, &stamp(round), &mut out);
        }
        dec.close(1, &mut out);
    }
}

#[test]
fn close_decodes_frames_still_waiting_for_confirmation() {
    let mut c = Conv::new();
    c.request(1, VERSION);
    // Mid-connection, one frame: nothing after it confirms the boundary
    // until the connection closes and the frame ends exactly at the end.
    let ev = run(false, &c.writes, None);
    assert_eq!(
        ev[0],
        Event::Resync {
            dir: Dir::ToServer,
            skipped: 0
        }
    );
    assert!(matches!(&ev[1], Event::CallStart { path: PathInfo::Known(p), .. } if p == VERSION));
    assert!(matches!(
        &ev[2],
        Event::CallEnd {
            unfinished: true,
            ..
        }
    ));
    // With a stray byte at the end no frame chain fits: nothing is made up.
    let mut writes = c.writes.clone();
    writes[0].1.push(0);
    assert_eq!(run(false, &writes, None), vec![]);
}
