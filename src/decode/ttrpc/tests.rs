//! The ttrpc decoder on conversations built by `testsupport::ttrpc`: calls
//! paired and typed by path, any split of the writes alike, captures that
//! start mid-connection or lose bytes, and bad input.

use super::TtrpcDecoder;
use crate::decode::{Dir, Error, Event, PathInfo};
use crate::testsupport::decoders::{calls_of, feed_writes, interleave, stamp};
use crate::testsupport::ttrpc::{frame, request_env, response_env, shim_conversation};
use crate::testsupport::Rng;

/// The ttrpc decoder fed `writes` as `testsupport::decoders::feed_writes` does, then
/// closed at time 1_000_000.
fn run(writes: &[(Dir, Vec<u8>)], rng: Option<&mut Rng>) -> Vec<Event> {
    let mut dec = TtrpcDecoder::new();
    let mut out = Vec::new();
    feed_writes(writes, rng, |dir, bytes, m| {
        dec.feed(dir, bytes, m, &mut out)
    });
    dec.close(1_000_000, &mut out);
    out
}

/// (stream, direction, path, payload) of every message.
fn messages(ev: &[Event]) -> Vec<(u32, Dir, String, Vec<u8>)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Message {
                stream_id,
                dir,
                path,
                payload,
                ..
            } => Some((*stream_id, *dir, path.to_string(), payload.clone())),
            _ => None,
        })
        .collect()
}

/// (stream, path, status, message, unfinished) of a call end.
type End = (u32, String, Option<u32>, Option<String>, bool);

/// Every call end.
fn ends(ev: &[Event]) -> Vec<End> {
    ev.iter()
        .filter_map(|e| match e {
            Event::CallEnd {
                stream_id,
                path,
                status,
                message,
                unfinished,
                ..
            } => Some((
                *stream_id,
                path.to_string(),
                *status,
                message.clone(),
                *unfinished,
            )),
            _ => None,
        })
        .collect()
}

const TASK: &str = "/containerd.task.v2.Task";

#[test]
fn shim_calls_are_paired_with_their_methods() {
    let c = shim_conversation();
    let ev = run(&c.writes, None);
    let msgs = messages(&ev);
    assert_eq!(msgs.len(), 9, "{ev:#?}");
    assert_eq!(
        msgs[0],
        (
            1,
            Dir::ToServer,
            format!("{TASK}/Connect"),
            b"\x0a\x02c1".to_vec()
        )
    );
    assert_eq!(
        msgs[1],
        (
            1,
            Dir::ToClient,
            format!("{TASK}/Connect"),
            b"\x08\x2a\x10\x2b".to_vec()
        )
    );
    // The failing Kill has a request and no response message.
    assert_eq!(msgs[6].0, 7);
    assert_eq!(msgs[7].0, 9);
    let e = ends(&ev);
    assert_eq!(e.len(), 5);
    assert_eq!(
        e[3],
        (
            7,
            format!("{TASK}/Kill"),
            Some(5),
            Some("process not found".into()),
            false
        )
    );
    assert_eq!(e[0].2, Some(0));
    let starts: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::CallStart { request, .. } => Some(request.meta.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(starts[0].namespace.as_deref(), Some("default"));
    assert_eq!(starts[3].timeout_ns, Some(10_000_000_000));
    // Nothing else happened but the initial boundary of each direction.
    let other = ev.iter().filter(|e| {
        !matches!(
            e,
            Event::CallStart { .. } | Event::Message { .. } | Event::CallEnd { .. }
        )
    });
    assert!(
        other
            .clone()
            .all(|e| matches!(e, Event::Resync { skipped: 0, .. })),
        "{ev:#?}"
    );
    assert_eq!(other.count(), 2);
}

#[test]
fn any_split_decodes_alike() {
    let c = shim_conversation();
    let want = run(&c.writes, None);
    let mut rng = Rng::new(9);
    for _ in 0..200 {
        assert_eq!(run(&c.writes, Some(&mut rng)), want);
    }
}

#[test]
fn payload_ranges_point_into_the_stream() {
    let c = shim_conversation();
    let ev = run(&c.writes, None);
    let streams = [c.stream(Dir::ToServer), c.stream(Dir::ToClient)];
    let mut n = 0;
    for e in &ev {
        if let Event::Message {
            dir,
            payload,
            stream_ranges,
            ..
        } = e
        {
            let got: Vec<u8> = stream_ranges
                .iter()
                .flat_map(|r| streams[dir.index()][r.start as usize..r.end as usize].to_vec())
                .collect();
            assert_eq!(&got, payload);
            n += 1;
        }
    }
    assert_eq!(n, 9);
}

#[test]
fn mid_connection_never_names_a_wrong_method() {
    let c = shim_conversation();
    // The capture starts inside Create's request and with Connect's
    // response already sent.
    let client = c.stream(Dir::ToServer);
    let server = c.stream(Dir::ToClient);
    let connect_req = c.writes[0].1.len();
    let connect_resp = c.writes[1].1.len();
    let mut dec = TtrpcDecoder::new();
    let mut out = Vec::new();
    dec.feed(
        Dir::ToServer,
        &client[connect_req + 7..],
        &stamp(1),
        &mut out,
    );
    dec.feed(Dir::ToClient, &server[connect_resp..], &stamp(2), &mut out);
    dec.close(3, &mut out);
    let msgs = messages(&out);
    // Create's response has no known method; Start, Kill, Delete do.
    assert!(msgs.contains(&(3, Dir::ToClient, "<unknown>".into(), b"\x08\x2c".to_vec())));
    for (sid, _, path, _) in &msgs {
        let want = match sid {
            3 => "<unknown>",
            5 => "/containerd.task.v2.Task/Start",
            7 => "/containerd.task.v2.Task/Kill",
            9 => "/containerd.task.v2.Task/Delete",
            _ => panic!("stream {sid} in {out:#?}"),
        };
        assert_eq!(path, want);
    }
    assert!(out
        .iter()
        .any(|e| matches!(e, Event::Resync { dir: Dir::ToServer, skipped } if *skipped > 0)));
}

#[test]
fn a_gap_in_a_response_ends_its_call_and_the_next_call_decodes() {
    let c = shim_conversation();
    let mut dec = TtrpcDecoder::new();
    let mut out = Vec::new();
    for (i, (dir, w)) in c.writes.iter().enumerate() {
        // Lose the middle of Start's response (write 5).
        if i == 5 {
            dec.feed(*dir, &w[..12], &stamp(5), &mut out);
            dec.gap(*dir, 1, &mut out);
            dec.feed(*dir, &w[13..], &stamp(5), &mut out);
        } else {
            dec.feed(*dir, w, &stamp(i as u64), &mut out);
        }
    }
    dec.close(100, &mut out);
    let e = ends(&out);
    assert_eq!(e[2], (5, format!("{TASK}/Start"), None, None, false));
    assert_eq!(e.len(), 5);
    assert!(!messages(&out)
        .iter()
        .any(|m| m.0 == 5 && m.1 == Dir::ToClient));
    assert!(out.iter().any(|e| matches!(e, Event::Gap { bytes: 1, .. })));
}

#[test]
fn streams_data_frames_and_unfinished_calls() {
    let mut w = Vec::new();
    let env = request_env("s.Svc", "Watch", b"", 0, &[]);
    // A client-streaming call: request "remote open", two data frames, the
    // last "remote closed | no data"; the server answers with data and a
    // final empty response.
    w.push((Dir::ToServer, frame(1, 1, 0x02, &env)));
    w.push((Dir::ToServer, frame(1, 3, 0, b"\x08\x01")));
    w.push((Dir::ToServer, frame(1, 3, 0x05, b"")));
    w.push((Dir::ToClient, frame(1, 3, 0, b"\x08\x02")));
    w.push((Dir::ToClient, frame(1, 2, 0, &response_env(0, "", b""))));
    // A unary call never answered.
    w.push((
        Dir::ToServer,
        frame(3, 1, 0, &request_env("s.Svc", "Get", b"", 0, &[])),
    ));
    let ev = run(&w, None);
    let msgs = messages(&ev);
    let dirs: Vec<(u32, Dir)> = msgs.iter().map(|m| (m.0, m.1)).collect();
    assert_eq!(
        dirs,
        [(1, Dir::ToServer), (1, Dir::ToClient), (3, Dir::ToServer)]
    );
    let e = ends(&ev);
    assert_eq!(e[0], (1, "/s.Svc/Watch".into(), Some(0), None, false));
    assert_eq!(e[1], (3, "/s.Svc/Get".into(), None, None, true));
}

#[test]
fn a_server_stream_ends_with_data_and_maybe_a_response() {
    let env = request_env("s.Svc", "Follow", b"\x08\x07", 0, &[]);
    let w = vec![
        // Server streaming: the request is "remote closed" and carries the
        // request message; the server sends data, the last "remote closed".
        (Dir::ToServer, frame(1, 1, 0x01, &env)),
        (Dir::ToClient, frame(1, 3, 0, b"\x08\x01")),
        (Dir::ToClient, frame(1, 3, 0x05, b"")),
        // A final empty response after that is no error.
        (Dir::ToClient, frame(1, 2, 0, &response_env(0, "", b""))),
        (Dir::ToServer, frame(3, 1, 0x01, &env)),
        (Dir::ToClient, frame(3, 3, 0x01, b"\x08\x02")),
    ];
    let ev = run(&w, None);
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Error { .. })),
        "{ev:#?}"
    );
    let dirs: Vec<(u32, Dir)> = messages(&ev).iter().map(|m| (m.0, m.1)).collect();
    assert_eq!(
        dirs,
        [
            (1, Dir::ToServer),
            (1, Dir::ToClient),
            (3, Dir::ToServer),
            (3, Dir::ToClient)
        ]
    );
    let e = ends(&ev);
    assert_eq!(e[0], (1, "/s.Svc/Follow".into(), None, None, false));
    assert_eq!(e[1], (3, "/s.Svc/Follow".into(), None, None, false));
}

#[test]
fn bad_frames_are_reported_then_skipped() {
    let req = frame(1, 1, 0, &request_env("s.Svc", "Get", b"", 0, &[]));
    let resp = frame(1, 2, 0, &response_env(0, "", b"\x08\x01"));
    let mut w = vec![(Dir::ToServer, req.clone())];
    // Type 7, then a request sent by the server, then a response for a call
    // already ended.
    w.push((Dir::ToServer, frame(3, 7, 0, b"xx")));
    w.push((Dir::ToClient, resp.clone()));
    w.push((
        Dir::ToClient,
        frame(5, 1, 0, &request_env("s.Svc", "Get", b"", 0, &[])),
    ));
    w.push((Dir::ToClient, resp));
    let ev = run(&w, None);
    let errors: Vec<&Error> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Error { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    use super::Error as T;
    assert_eq!(
        errors,
        [
            &Error::Ttrpc(T::UnknownType { kind: 7 }),
            &Error::Ttrpc(T::WrongDirection { stream_id: 5 }),
            &Error::Ttrpc(T::ResponseAfterEnd { stream_id: 1 }),
        ]
    );
    assert_eq!(messages(&ev).len(), 2);
    assert!(
        matches!(&ev[1], Event::CallStart { path: PathInfo::Known(p), .. } if p == "/s.Svc/Get")
    );
}

#[test]
fn random_bytes_never_panic_and_stay_bounded() {
    let mut rng = Rng::new(5);
    for _ in 0..300 {
        let mut dec = TtrpcDecoder::new();
        let mut out = Vec::new();
        for _ in 0..8 {
            let len = rng.below(300);
            let mut b = rng.bytes(len);
            // Now and then a real frame among the noise.
            if rng.below(3) == 0 {
                b.extend(frame(
                    1 + 2 * rng.below(50) as u32,
                    1,
                    0,
                    &request_env("a.B", "C", b"", 0, &[]),
                ));
            }
            let dir = if rng.below(2) == 0 {
                Dir::ToServer
            } else {
                Dir::ToClient
            };
            dec.feed(dir, &b, &stamp(1), &mut out);
            if rng.below(5) == 0 {
                dec.gap(dir, rng.below(100) as u64, &mut out);
            }
        }
        dec.close(9, &mut out);
    }
}

/// Each direction's bytes are exact but the order between them may be off:
/// any interleaving that keeps each direction's own order decodes every
/// call the same (method, messages, status), with no error; a reply that
/// comes first waits for its request.
#[test]
fn any_interleaving_of_the_directions_decodes_the_same_calls() {
    let mut c = shim_conversation();
    // Two calls open at once, answered in the other order.
    let md: [(&str, &str); 0] = [];
    for (sid, method) in [(11, "Pids"), (13, "Stats")] {
        let env = request_env("containerd.task.v2.Task", method, b"\x0a\x02c1", 0, &md);
        c.writes.push((Dir::ToServer, frame(sid, 1, 0, &env)));
    }
    for sid in [13, 11] {
        let env = response_env(0, "", &[sid as u8]);
        c.writes.push((Dir::ToClient, frame(sid, 2, 0, &env)));
    }
    c.unary(
        15,
        "containerd.task.v2.Task",
        "Wait",
        b"\x0a\x02c1",
        b"\x08\x00",
    );
    let truth = calls_of(&run(&c.writes, None));
    assert_eq!(truth.len(), 8, "{truth:#?}");
    assert!(truth.values().all(|t| {
        t.after_end == 0
            && matches!(t.started, Some(PathInfo::Known(_)))
            && t.end.as_ref().is_some_and(|e| !e.4)
    }));
    let mut rng = Rng(5);
    for round in 0..400 {
        let writes = interleave(&c.writes, &mut rng);
        let ev = run(&writes, (round % 2 == 0).then_some(&mut rng));
        let errs: Vec<&Event> = ev
            .iter()
            .filter(|e| matches!(e, Event::Error { .. }))
            .collect();
        assert!(errs.is_empty(), "round {round}: {errs:?}");
        assert_eq!(calls_of(&ev), truth, "round {round}");
    }
}
