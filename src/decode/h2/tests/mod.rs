//! Connection-level tests: whole conversations built by `testsupport`, fed in
//! arbitrary pieces; `resync` cuts them mid-connection, loses bytes and
//! corrupts them.

use std::collections::BTreeMap;

use super::frame::{flags, setting, Kind};
use super::*;
use crate::decode::*;
use crate::testsupport::decoders::{calls_of, interleave, run, stamp};
use crate::testsupport::h2::{frame, grpc_msg, gzip, settings, Conv};
use crate::testsupport::Rng;

const VERSION: &str = "/containerd.services.version.v1.Version/Version";
const PATHS: [&str; 6] = [
    "/runtime.v1.RuntimeService/ListContainers",
    "/runtime.v1.RuntimeService/ListPodSandbox",
    "/runtime.v1.ImageService/ImageFsInfo",
    "/runtime.v1.RuntimeService/ContainerStats",
    "/runtime.v1.RuntimeService/Status",
    "/runtime.v1.RuntimeService/Version",
];

/// Asserts that every known path in `events` is the true one of its stream.
fn paths_never_wrong(events: &[Event], truth: &BTreeMap<u32, String>) {
    for e in events {
        let (sid, path) = match e {
            Event::CallStart {
                stream_id, path, ..
            }
            | Event::Message {
                stream_id, path, ..
            }
            | Event::CallEnd {
                stream_id, path, ..
            } => (stream_id, path),
            _ => continue,
        };
        if let PathInfo::Known(p) = path {
            assert_eq!(Some(p), truth.get(sid), "stream {sid}");
        }
    }
}

fn call_ends(events: &[Event]) -> Vec<(u32, PathInfo, Option<u32>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::CallEnd {
                stream_id,
                path,
                status,
                ..
            } => Some((*stream_id, path.clone(), *status)),
            _ => None,
        })
        .collect()
}

fn messages(events: &[Event]) -> Vec<(u32, Dir, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message {
                stream_id,
                dir,
                payload,
                ..
            } => Some((*stream_id, *dir, payload.clone())),
            _ => None,
        })
        .collect()
}

fn errors(events: &[Event]) -> Vec<&Error> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Error { error, .. } => Some(error),
            _ => None,
        })
        .collect()
}

#[test]
fn unary_call_from_the_start() {
    let mut c = Conv::new();
    c.start();
    c.unary(1, VERSION, b"", b"\x0a\x061.6.20");
    let ev = run(true, &c.writes, None);
    let path = PathInfo::Known(VERSION.into());
    let Event::CallStart {
        stream_id: 1,
        path: p,
        request,
        stamp: m,
    } = &ev[0]
    else {
        panic!("{:?}", ev[0]);
    };
    assert_eq!(p, &path);
    assert_eq!(request.method.as_deref(), Some("POST"));
    assert_eq!(request.content_type.as_deref(), Some("application/grpc"));
    assert_eq!(request.grpc_timeout.as_deref(), Some("1999968u"));
    assert!(request.decoded && request.headers.len() == 9);
    assert_eq!(m, &stamp(5));
    assert_eq!(
        messages(&ev),
        vec![
            (1, Dir::ToServer, vec![]),
            (1, Dir::ToClient, b"\x0a\x061.6.20".to_vec())
        ]
    );
    let Event::CallEnd {
        status,
        started_ns,
        ended_ns,
        unfinished,
        reset,
        http_status,
        ..
    } = ev.last().unwrap()
    else {
        panic!("{:?}", ev.last());
    };
    assert_eq!((*status, *http_status, *reset), (Some(0), Some(200), None));
    assert_eq!((*started_ns, *ended_ns, *unfinished), (Some(5), 9, false));
    assert_eq!(ev.len(), 4, "{ev:#?}");
}

/// A conversation exercising most of the decoder.
fn busy_conversation() -> Conv {
    let mut c = Conv::new();
    c.pad = 3;
    c.pieces = 3;
    c.start();
    busy_calls(&mut c, 0);
    c
}

/// Calls on streams `base + 1` to `base + 9`, ending with a GOAWAY.
fn busy_calls(c: &mut Conv, base: u32) {
    c.unary(base + 1, VERSION, b"", b"v");
    // Server streaming: several messages in one frame, one spanning frames.
    let s = base + 3;
    c.request(s, PATHS[0]);
    c.data(Dir::ToServer, s, &grpc_msg(b"filter"), true);
    c.response(s);
    let mut packed = grpc_msg(b"one");
    packed.extend(grpc_msg(b"two"));
    packed.extend(grpc_msg(b""));
    c.data(Dir::ToClient, s, &packed, false);
    c.data(Dir::ToClient, s, &grpc_msg(&[9u8; 40_000]), false);
    c.push(Dir::ToServer, frame(Kind::Ping, 0, 0, b"pingpong"));
    c.push(Dir::ToClient, frame(Kind::Ping, flags::ACK, 0, b"pingpong"));
    c.trailers(s, 0, "");
    // Client streaming with a gzip-compressed message.
    let s = base + 5;
    let fields = [
        (":method", "POST"),
        (":path", PATHS[1]),
        ("grpc-encoding", "gzip"),
    ];
    c.paths.insert(s, PATHS[1].into());
    c.headers(Dir::ToServer, s, &fields, false);
    let mut z = vec![1];
    let body = gzip(b"compressed body");
    z.extend((body.len() as u32).to_be_bytes());
    z.extend(body);
    c.data(Dir::ToServer, s, &z, false);
    c.data(Dir::ToServer, s, &grpc_msg(b"last"), true);
    c.push(
        Dir::ToClient,
        frame(Kind::WindowUpdate, 0, 0, &[0, 0, 1, 0]),
    );
    c.response(s);
    c.data(Dir::ToClient, s, &grpc_msg(b"summary"), false);
    c.trailers(s, 3, "bad arg%3A x");
    // A cancelled call and a goaway.
    c.request(base + 7, PATHS[2]);
    let rst = frame(Kind::RstStream, 0, base + 7, &8u32.to_be_bytes());
    c.push(Dir::ToServer, rst);
    c.request(base + 9, PATHS[3]);
    let mut goaway = (base + 9).to_be_bytes().to_vec();
    goaway.extend(b"\0\0\0\0bye");
    c.push(Dir::ToClient, frame(Kind::Goaway, 0, 0, &goaway));
}

#[test]
fn busy_conversation_decodes() {
    let c = busy_conversation();
    let ev = run(true, &c.writes, None);
    assert!(errors(&ev).is_empty(), "{ev:#?}");
    paths_never_wrong(&ev, &c.paths);
    let known = |p: &str| PathInfo::Known(p.into());
    assert_eq!(
        call_ends(&ev),
        vec![
            (1, known(VERSION), Some(0)),
            (3, known(PATHS[0]), Some(0)),
            (5, known(PATHS[1]), Some(3)),
            (7, known(PATHS[2]), None),
            (9, known(PATHS[3]), None),
        ]
    );
    let m = messages(&ev);
    let s2c = |p: &[u8]| (3, Dir::ToClient, p.to_vec());
    assert!(m.contains(&s2c(b"one")) && m.contains(&s2c(b"two")) && m.contains(&s2c(b"")));
    assert!(m.contains(&s2c(&[9u8; 40_000])));
    assert!(m.contains(&(5, Dir::ToServer, b"compressed body".to_vec())));
    assert!(m.contains(&(5, Dir::ToServer, b"last".to_vec())));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::CallEnd { stream_id: 5, message: Some(m), .. } if m == "bad arg: x"
    )));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::CallEnd {
            stream_id: 7,
            reset: Some(8),
            ..
        }
    )));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Goaway { last_stream_id: 9, debug, .. } if debug == b"bye"
    )));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::CallEnd {
            stream_id: 9,
            unfinished: true,
            ended_ns: 1_000_000,
            ..
        }
    )));
}

#[test]
fn any_split_into_feeds_gives_the_same_events() {
    let c = busy_conversation();
    let want = run(true, &c.writes, None);
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        assert_eq!(run(true, &c.writes, Some(&mut rng)), want, "seed {seed}");
    }
    // Unknown start, but the preface is there: only a Resync is added.
    let mut rng = Rng(7);
    let got = run(false, &c.writes, Some(&mut rng));
    let resync = Event::Resync {
        dir: Dir::ToClient,
        skipped: 0,
    };
    assert_eq!(got[0], resync);
    assert_eq!(&got[1..], &want[..]);
}

#[test]
fn settings_bound_the_other_direction() {
    // The client allows a table of 100 octets; the server asks for 4096.
    let mut c = Conv::new();
    c.start();
    c.push(
        Dir::ToServer,
        settings(&[(setting::HEADER_TABLE_SIZE, 100)]),
    );
    c.server.resize(4096);
    c.unary(1, VERSION, b"", b"");
    let ev = run(true, &c.writes, None);
    assert!(ev.contains(&Event::Desync {
        dir: Dir::ToClient,
        reason: hpack::Desync::SizeUpdateAboveLimit {
            size: 4096,
            limit: 100
        }
    }));

    // Frames above 16384 need the receiver's SETTINGS_MAX_FRAME_SIZE.
    for allow in [false, true] {
        let mut c = Conv::new();
        c.start();
        if allow {
            c.push(
                Dir::ToClient,
                settings(&[(setting::MAX_FRAME_SIZE, 65_536)]),
            );
        }
        c.max_frame = 30_000;
        c.unary(1, VERSION, &[7u8; 20_000], b"");
        let ev = run(true, &c.writes, None);
        let too_large = errors(&ev).iter().any(|e| {
            matches!(
                e,
                Error::FrameTooLarge {
                    length: 20_005,
                    max: 16_384
                }
            )
        });
        assert_eq!(too_large, !allow);
        let got = messages(&ev).contains(&(1, Dir::ToServer, vec![7u8; 20_000]));
        assert_eq!(got, allow);
    }
}

#[test]
fn interrupted_header_block_is_an_error() {
    let mut c = Conv::new();
    c.start();
    let block = c.client.encode(&[(":path", VERSION)], true);
    c.push(Dir::ToServer, frame(Kind::Headers, 0, 1, &block));
    c.push(Dir::ToServer, frame(Kind::Data, 0, 1, &grpc_msg(b"x")));
    c.push(
        Dir::ToServer,
        frame(Kind::Continuation, flags::END_HEADERS, 3, b""),
    );
    let ev = run(true, &c.writes, None);
    assert_eq!(
        errors(&ev),
        vec![
            &Error::ContinuationExpected { stream_id: 1 },
            &Error::UnexpectedContinuation { stream_id: 3 }
        ]
    );
}

#[test]
fn bad_preface_at_start_is_reported_then_resynced() {
    let mut c = Conv::new();
    c.start();
    c.writes[0].1 = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    c.unary(1, VERSION, b"", b"");
    let ev = run(true, &c.writes, None);
    assert_eq!(errors(&ev), vec![&Error::BadPreface]);
    assert!(ev.contains(&Event::Resync {
        dir: Dir::ToServer,
        skipped: 18
    }));
    assert_eq!(call_ends(&ev).len(), 1);
}

/// The bytes of `ranges` of one direction's stream.
fn at_ranges(stream: &[u8], ranges: &[std::ops::Range<u64>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in ranges {
        out.extend_from_slice(&stream[r.start as usize..r.end as usize]);
    }
    out
}

#[test]
fn stream_ranges_point_at_message_and_literal_bytes() {
    for (pad, pieces, huffman, gap) in [
        (0, 1, true, false),
        (7, 3, false, false),
        (3, 2, true, true),
    ] {
        let mut c = busy_conversation();
        c.pad = pad;
        c.pieces = pieces;
        c.huffman = huffman;
        c.max_frame = 100;
        let secret = [
            (":method", "POST"),
            (":path", PATHS[0]),
            ("authorization", "Bearer hunter2"),
        ];
        c.headers(Dir::ToServer, 21, &secret, false);
        c.data(Dir::ToServer, 21, &grpc_msg(&[7u8; 250]), true);
        let mut streams = [Vec::new(), Vec::new()];
        let mut dec = ConnDecoder::new(true);
        dec.report_literals();
        let mut ev = Vec::new();
        let mut rng = Rng(pad as u64 + 1);
        for (i, (dir, bytes)) in c.writes.iter().enumerate() {
            // A lost range in the middle counts in the offsets too.
            if gap && i == 6 {
                streams[dir.index()].extend([0u8; 5]);
                dec.gap(*dir, 5, &mut ev);
            }
            streams[dir.index()].extend_from_slice(bytes);
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len().min(40));
                dec.feed(*dir, &rest[..n], &stamp(i as u64), &mut ev);
                rest = &rest[n..];
            }
        }
        dec.close(1_000_000, &mut ev);
        let (mut msgs, mut literals) = (0, 0);
        for e in &ev {
            match e {
                Event::Message {
                    dir,
                    payload,
                    compressed: false,
                    stream_ranges,
                    ..
                } => {
                    msgs += 1;
                    assert_eq!(&at_ranges(&streams[dir.index()], stream_ranges), payload);
                }
                Event::Literals { dir, values, .. } => {
                    for v in values {
                        literals += 1;
                        let octets = at_ranges(&streams[dir.index()], &v.stream_ranges);
                        let value = match v.huffman {
                            true => {
                                let mut d = Vec::new();
                                let speed = httlib_huffman::DecoderSpeed::FourBits;
                                httlib_huffman::decode(&octets, &mut d, speed).unwrap();
                                d
                            }
                            false => octets,
                        };
                        assert_eq!(Octets::Known(value), v.field.value);
                    }
                }
                _ => {}
            }
        }
        assert!(
            msgs >= 5 && literals >= 10,
            "{msgs} messages, {literals} literals"
        );
        assert!(ev.iter().any(|e| matches!(e, Event::Literals { values, .. }
            if values.iter().any(|v| v.field.name.is(b"authorization")))));
    }
}

mod resync;

/// A request whose bytes reach the decoder after its call's response (the
/// capture's order between the two directions was off) still names the
/// call, its messages and its end.
#[test]
fn request_after_its_response_still_names_the_call() {
    let mut c = Conv::new();
    c.start();
    c.unary(1, VERSION, b"", b"\x0a\x061.6.20");
    c.response(3);
    c.data(Dir::ToClient, 3, &grpc_msg(b"late"), false);
    c.trailers(3, 0, "");
    c.request(3, PATHS[0]);
    c.data(Dir::ToServer, 3, &grpc_msg(b"q"), true);
    let ev = run(true, &c.writes, None);
    assert!(errors(&ev).is_empty(), "{ev:#?}");
    let calls = calls_of(&ev);
    let path = PathInfo::Known(PATHS[0].into());
    let call = &calls[&3];
    assert_eq!(call.started, Some(path.clone()));
    assert_eq!(call.messages[0], vec![(b"q".to_vec(), path.clone())]);
    assert_eq!(call.messages[1], vec![(b"late".to_vec(), path.clone())]);
    assert_eq!(call.end, Some((path, Some(0), None, None, false)));
    assert_eq!(call.after_end, 0);
    // The start comes first, then the held reply, and the end last.
    let order: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            Event::CallStart { stream_id: 3, .. } => Some("start"),
            Event::Message {
                stream_id: 3, dir, ..
            } => Some(match dir {
                Dir::ToServer => "request",
                Dir::ToClient => "reply",
            }),
            Event::CallEnd { stream_id: 3, .. } => Some("end"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["start", "reply", "request", "end"]);
}

/// Each direction's bytes are exact but the order between them may be off:
/// any interleaving that keeps each direction's own order decodes every
/// call the same (path, messages, status), with no error.
#[test]
fn any_interleaving_of_the_directions_decodes_the_same_calls() {
    let mut c = Conv::new();
    c.start();
    c.unary(1, VERSION, b"", b"\x0a\x061.6.20");
    // Three calls open at once, answered out of order, one failing.
    for (sid, path) in [(3, PATHS[0]), (5, PATHS[1]), (7, PATHS[2])] {
        c.request(sid, path);
    }
    for (sid, body) in [(3, b"a"), (5, b"b"), (7, b"c")] {
        c.data(Dir::ToServer, sid, &grpc_msg(body), true);
    }
    c.response(7);
    c.data(Dir::ToClient, 7, &grpc_msg(b"C"), false);
    c.trailers(7, 0, "");
    c.response(3);
    c.data(Dir::ToClient, 3, &grpc_msg(b"A1"), false);
    c.data(Dir::ToClient, 3, &grpc_msg(b"A2"), false);
    c.trailers(3, 0, "");
    c.response(5);
    c.trailers(5, 5, "not found");
    // A server stream.
    c.request(9, PATHS[3]);
    c.data(Dir::ToServer, 9, &grpc_msg(b"s"), true);
    c.response(9);
    for i in 0..5u8 {
        c.data(Dir::ToClient, 9, &grpc_msg(&[i]), false);
    }
    c.trailers(9, 0, "");
    // A request in two messages.
    c.request(11, PATHS[4]);
    c.data(Dir::ToServer, 11, &grpc_msg(b"part"), false);
    c.data(Dir::ToServer, 11, &grpc_msg(b"last"), true);
    c.unary(13, PATHS[5], b"x", b"y");
    let truth = calls_of(&run(true, &c.writes, None));
    assert_eq!(truth.len(), 7, "{truth:#?}");
    assert!(truth
        .values()
        .all(|t| t.started.is_some() && t.after_end == 0));
    assert!(
        truth[&11].end.as_ref().is_some_and(|e| e.4),
        "11 is never answered"
    );
    let mut rng = Rng(11);
    for round in 0..400 {
        let writes = interleave(&c.writes, &mut rng);
        let ev = run(true, &writes, (round % 2 == 0).then_some(&mut rng));
        assert!(errors(&ev).is_empty(), "round {round}: {:?}", errors(&ev));
        assert_eq!(calls_of(&ev), truth, "round {round}");
    }
}
