use super::head::{self, Framing, Parsed, RequestFacts};
use super::*;
use crate::decode::{Dir, Event, Stamp};
use crate::testsupport::decoders::stamp;
use crate::testsupport::Rng;

/// A write: direction, time, bytes.
type W = (Dir, u64, Vec<u8>);

fn c(ts: u64, s: &str) -> W {
    (Dir::ToServer, ts, s.as_bytes().to_vec())
}
fn s(ts: u64, s: &str) -> W {
    (Dir::ToClient, ts, s.as_bytes().to_vec())
}

/// A message of `dir`: `head` (without its empty line), a
/// `Content-Length` for `body`, and `body`.
fn sized(dir: Dir, ts: u64, head: &str, body: &str) -> W {
    let m = format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    (dir, ts, m.into_bytes())
}

/// A docker CLI session's shapes: a HEAD ping, a length body, a JSON
/// request body, a 404 with its message, a 204, a chunked JSON stream
/// (events), 100-continue, and a hijacked attach.
fn session() -> Vec<W> {
    vec![
        c(1, "HEAD /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/20.10.24\r\n\r\n"),
        s(2, "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"),
        c(3, "GET /v1.41/version HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n"),
        sized(Dir::ToClient, 4, "HTTP/1.1 200 OK\r\nContent-Type: application/json", "{\"Version\":\"20\"}\n"),
        sized(Dir::ToServer, 5, "POST /v1.41/containers/create?name=x HTTP/1.1\r\nContent-Type: application/json", "{\"Image\":\"busybox\",\"Tty\":1}"),
        sized(Dir::ToClient, 6, "HTTP/1.1 201 Created\r\nContent-Type: application/json", "{\"Id\":\"abc\",\"Warnings\":[]}"),
        c(7, "GET /v1.41/containers/missing/json HTTP/1.1\r\n\r\n"),
        sized(Dir::ToClient, 8, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json", "{\"message\":\"No such container: missing\"}"),
        c(9, "DELETE /v1.41/containers/abc HTTP/1.1\r\n\r\n"),
        s(10, "HTTP/1.1 204 No Content\r\n\r\n"),
        c(11, "GET /v1.41/events?until=5 HTTP/1.1\r\n\r\n"),
        s(12, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"),
        s(13, "a\r\n{\"a\":\"{\"}\n\r\n"),
        s(14, "4\r\n{\"b\"\r\n6\r\n:[1]}\n\r\n"),
        s(15, "0\r\n\r\n"),
        c(16, "POST /v1.41/build HTTP/1.1\r\nContent-Type: application/x-tar\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"),
        s(17, "HTTP/1.1 100 Continue\r\n\r\n"),
        c(18, "5\r\nustar\r\n0\r\n\r\n"),
        s(19, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        c(20, "POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
        s(21, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
        c(22, "ls\n"),
        s(23, "bin\n"),
    ]
}

fn ts_stamp(ts: u64) -> Stamp {
    Stamp {
        ts_ns: ts,
        ..stamp(0)
    }
}

/// `writes` fed in order, each cut into pieces by `rng` when given, then closed.
fn decode(writes: &[W], rng: Option<&mut Rng>) -> Vec<Event> {
    let mut dec = Http1Decoder::new();
    let mut out = Vec::new();
    let mut rng = rng;
    for (dir, ts, bytes) in writes {
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let n = match rng.as_deref_mut() {
                Some(r) => 1 + r.below(rest.len().min(40)),
                None => rest.len(),
            };
            dec.feed(*dir, &rest[..n], &ts_stamp(*ts), &mut out);
            rest = &rest[n..];
        }
    }
    dec.close(1_000, &mut out);
    out
}

/// One line per call event, stable across cuts and interleavings:
/// calls in id order, each with its messages per direction in order.
fn summary(events: &[Event]) -> Vec<String> {
    let mut calls: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    for e in events {
        match e {
            Event::CallStart {
                stream_id, path, ..
            } => calls
                .entry(*stream_id)
                .or_default()
                .push(format!("start {path}")),
            Event::Message {
                stream_id,
                dir,
                path,
                payload,
                http,
                ..
            } => {
                let p = http.as_ref().unwrap();
                calls.entry(*stream_id).or_default().push(format!(
                    "{dir:?} {path} {:?} {} kept={} {:?}",
                    p.kind,
                    p.size,
                    p.kept,
                    String::from_utf8_lossy(payload)
                ))
            }
            Event::CallEnd {
                stream_id,
                path,
                http_status,
                message,
                unfinished,
                meta,
                ..
            } => calls.entry(*stream_id).or_default().push(format!(
                "end {path} {http_status:?} {message:?} unfinished={unfinished} resynced={}",
                meta.http.as_ref().is_some_and(|h| h.resynced)
            )),
            _ => {}
        }
    }
    // Requests' and responses' rows of a call, each in their own order.
    calls
        .into_iter()
        .map(|(id, mut v)| {
            v.sort_by_key(|l| match l {
                l if l.starts_with("start") => 0,
                l if l.starts_with("ToServer") => 1,
                _ => 2,
            });
            format!("{id}: {}", v.join(" | "))
        })
        .collect()
}

#[test]
fn a_docker_session_decodes_into_its_calls() {
    let ev = decode(&session(), None);
    let rows = summary(&ev);
    let want = [
        "1: start /docker/SystemPingHead | ToServer /docker/SystemPingHead Body 0 kept=true \"\" | ToClient /docker/SystemPingHead Body 0 kept=true \"\" | end /docker/SystemPingHead Some(200) None unfinished=false resynced=false",
        "2: start /docker/SystemVersion | ToServer /docker/SystemVersion Body 0 kept=true \"\" | ToClient /docker/SystemVersion Body 17 kept=true \"{\\\"Version\\\":\\\"20\\\"}\\n\" | end /docker/SystemVersion Some(200) None unfinished=false resynced=false",
        "3: start /docker/ContainerCreate | ToServer /docker/ContainerCreate Body 27 kept=true \"{\\\"Image\\\":\\\"busybox\\\",\\\"Tty\\\":1}\" | ToClient /docker/ContainerCreate Body 26 kept=true \"{\\\"Id\\\":\\\"abc\\\",\\\"Warnings\\\":[]}\" | end /docker/ContainerCreate Some(201) None unfinished=false resynced=false",
        "4: start /docker/ContainerInspect | ToServer /docker/ContainerInspect Body 0 kept=true \"\" | ToClient /docker/ContainerInspect Body 40 kept=true \"{\\\"message\\\":\\\"No such container: missing\\\"}\" | end /docker/ContainerInspect Some(404) Some(\"No such container: missing\") unfinished=false resynced=false",
        "5: start /docker/ContainerDelete | ToServer /docker/ContainerDelete Body 0 kept=true \"\" | ToClient /docker/ContainerDelete Body 0 kept=true \"\" | end /docker/ContainerDelete Some(204) None unfinished=false resynced=false",
        "6: start /docker/SystemEvents | ToServer /docker/SystemEvents Body 0 kept=true \"\" | ToClient /docker/SystemEvents Body 9 kept=true \"{\\\"a\\\":\\\"{\\\"}\" | ToClient /docker/SystemEvents Body 10 kept=true \"\\n{\\\"b\\\":[1]}\" | end /docker/SystemEvents Some(200) None unfinished=false resynced=false",
        "7: start /docker/ImageBuild | ToServer /docker/ImageBuild Body 5 kept=false \"\" | ToClient /docker/ImageBuild Body 0 kept=true \"\" | end /docker/ImageBuild Some(200) None unfinished=false resynced=false",
        "8: start /docker/ContainerAttach | ToServer /docker/ContainerAttach Body 0 kept=true \"\" | ToServer /docker/ContainerAttach Stdin 3 kept=true \"ls\\n\" | ToClient /docker/ContainerAttach Body 0 kept=true \"\" | ToClient /docker/ContainerAttach StreamUnknown 4 kept=true \"bin\\n\" | end /docker/ContainerAttach Some(101) None unfinished=false resynced=false",
    ];
    assert_eq!(rows, want, "{ev:#?}");
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Error { .. })),
        "{ev:#?}"
    );
}

#[test]
fn any_cut_and_any_interleaving_decode_the_same() {
    let writes = session();
    // The hijacked stream is cut as written: leave it out of the cuts.
    let http_only = &writes[..writes.len() - 2];
    let want = summary(&decode(http_only, None));
    let mut rng = Rng::new(19);
    for round in 0..300 {
        let mut sides: [std::collections::VecDeque<W>; 2] = Default::default();
        for w in http_only {
            sides[w.0.index()].push_back(w.clone());
        }
        let mut mixed = Vec::new();
        while !(sides[0].is_empty() && sides[1].is_empty()) {
            let i = match (sides[0].is_empty(), sides[1].is_empty()) {
                (false, true) => 0,
                (true, false) => 1,
                _ => rng.below(2),
            };
            mixed.extend(sides[i].pop_front());
        }
        let got = summary(&decode(&mixed, Some(&mut rng)));
        assert_eq!(got, want, "round {round}");
    }
}

#[test]
fn pipelined_requests_pair_in_order() {
    let writes = vec![
        c(1, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nHEAD /c HTTP/1.1\r\n\r\n"),
        s(2, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"),
    ];
    let rows = summary(&decode(&writes, None));
    assert!(
        rows[0].contains("ToClient GET /a Body 1")
            && rows[0].ends_with("Some(200) None unfinished=false resynced=false"),
        "{rows:?}"
    );
    assert!(rows[1].contains("end GET /b Some(304)"), "{rows:?}");
    assert!(
        rows[2].contains("end HEAD /c Some(200) None unfinished=false"),
        "{rows:?}"
    );
}

#[test]
fn a_capture_begun_inside_a_body_resyncs_at_the_next_head() {
    let writes = vec![
        // The end of a body whose head came before the capture; it holds
        // a request line, but not at the start of a write.
        c(1, "{\"x\":\"GET /no HTTP/1.1\r\n\r\n\"}"),
        s(2, "ck\"}"),
        c(3, "GET /v1.41/info HTTP/1.1\r\n\r\n"),
        s(4, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
    ];
    let ev = decode(&writes, None);
    let rows = summary(&ev);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("start /docker/SystemInfo"), "{rows:?}");
    assert!(
        rows[0].ends_with("Some(200) None unfinished=false resynced=true"),
        "{rows:?}"
    );
    let skipped: Vec<u64> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Resync { skipped, .. } => Some(*skipped),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, [28, 4]);
}

#[test]
fn a_response_to_a_request_before_the_capture_is_unnamed() {
    let writes =
        vec![
        s(1, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
        c(2, "GET /v1.41/info HTTP/1.1\r\n\r\n"),
        s(3, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 15\r\n\r\n{\"message\":\"x\"}"),
    ];
    let rows = summary(&decode(&writes, None));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].starts_with("1: start /docker/SystemInfo"),
        "{rows:?}"
    );
    assert!(
        rows[0].contains("end /docker/SystemInfo Some(500) Some(\"x\")"),
        "{rows:?}"
    );
    assert!(rows[1].contains("end <unknown> Some(200)"), "{rows:?}");
}

#[test]
fn a_gap_inside_a_length_body_keeps_step() {
    let mut dec = Http1Decoder::new();
    let mut out = Vec::new();
    let st = ts_stamp(1);
    dec.feed(Dir::ToServer, b"POST /v1.41/images/load HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: 100\r\n\r\n0123456789", &st, &mut out);
    dec.gap(Dir::ToServer, 80, &mut out);
    dec.feed(
        Dir::ToServer,
        b"0123456789GET /x HTTP/1.1\r\n\r\n",
        &st,
        &mut out,
    );
    dec.close(5, &mut out);
    let rows = summary(&out);
    assert!(
        rows[0].contains("ToServer /docker/ImageLoad Body 100 kept=false"),
        "{rows:?}"
    );
    assert!(rows[1].contains("start GET /x"), "{rows:?}");
    let lost: Vec<u64> = out
        .iter()
        .filter_map(|e| match e {
            Event::Message { http, .. } => http.as_ref().map(|p| p.lost),
            _ => None,
        })
        .collect();
    assert_eq!(lost, [80, 0]);
}

#[test]
fn stream_ranges_point_at_the_body_bytes() {
    let head =
        "PUT /x HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut dec = Http1Decoder::new();
    let mut out = Vec::new();
    let body = "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
    let all = format!("{head}{body}");
    dec.feed(Dir::ToServer, all.as_bytes(), &ts_stamp(1), &mut out);
    let (payload, ranges) = out
        .iter()
        .find_map(|e| match e {
            Event::Message {
                payload,
                stream_ranges,
                ..
            } => Some((payload.clone(), stream_ranges.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(payload, b"{\"a\":1}");
    let glued: Vec<u8> = ranges
        .iter()
        .flat_map(|r| all.as_bytes()[r.start as usize..r.end as usize].to_vec())
        .collect();
    assert_eq!(glued, payload);
}

#[test]
fn heads_and_lines_are_bounded() {
    let mut dec = Http1Decoder::new();
    let mut out = Vec::new();
    dec.feed(
        Dir::ToServer,
        b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n",
        &ts_stamp(1),
        &mut out,
    );
    for _ in 0..100 {
        dec.feed(Dir::ToServer, &[b'a'; 1024], &ts_stamp(1), &mut out);
    }
    assert!(
        out.iter().any(|e| matches!(e, Event::Error { .. })),
        "{out:?}"
    );
    assert!(dec.held() < head::MAX_HEAD + 1024);
}

#[test]
fn start_lines_are_recognised_from_their_first_bytes() {
    assert_eq!(
        starts_with_message(b"GET / HTTP/1.1\r\n", false),
        Some(true)
    );
    assert_eq!(starts_with_message(b"GE", false), None);
    assert_eq!(starts_with_message(b"POST /v1.41/x HT", false), None);
    assert_eq!(
        starts_with_message(b"get / HTTP/1.1\r\n", false),
        Some(false)
    );
    assert_eq!(
        starts_with_message(b"GET / HTTP/2.0\r\n", false),
        Some(false)
    );
    assert_eq!(
        starts_with_message(b"HTTP/1.1 200 OK\r\n", true),
        Some(true)
    );
    assert_eq!(starts_with_message(b"HTTP/1.1 101\r\n", true), Some(true));
    assert_eq!(starts_with_message(b"HTTP/1.", true), None);
    assert_eq!(starts_with_message(b"HTTP/1.1 2", true), None);
    assert_eq!(starts_with_message(b"HTTP/1.1 20x", true), Some(false));
    assert_eq!(starts_with_message(b"\x00\x00\x04", true), Some(false));
    // A bare LF ends the line; a status code does not begin with 0.
    assert_eq!(starts_with_message(b"HTTP/1.1 200 OK\n", true), Some(true));
    assert_eq!(starts_with_message(b"HTTP/1.1 022 x\n", true), Some(false));
}

#[test]
fn framing_follows_rfc_9112_section_6_3() {
    let parse = |s: &str, server| match head::parse(s.as_bytes(), server) {
        Parsed::Complete(h) => h,
        p => panic!("{p:?}"),
    };
    let req = parse("GET / HTTP/1.1\r\n\r\n", false);
    assert_eq!(req.request_framing(), Ok(Framing::Empty));
    let te = parse(
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n",
        false,
    );
    assert_eq!(te.request_framing(), Ok(Framing::Chunked));
    let bad = parse("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", false);
    assert_eq!(bad.request_framing(), Err(Error::BadContentLength));
    let none = parse("HTTP/1.1 200 OK\r\n\r\n", true);
    assert_eq!(
        none.response_framing(RequestFacts::default()),
        Ok(Framing::UntilClose)
    );
    let head_req = RequestFacts {
        head_method: true,
        ..Default::default()
    };
    let len = parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true);
    assert_eq!(len.response_framing(head_req), Ok(Framing::Empty));
    let hijack = RequestFacts {
        hijack: true,
        ..Default::default()
    };
    assert_eq!(len.response_framing(hijack), Ok(Framing::Switch));
}

#[test]
fn a_response_before_its_request_in_the_feed_waits_for_it() {
    // HEAD's response: its Content-Length announces no body, which only
    // the request can tell.
    let writes = vec![
        s(2, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"),
        c(1, "HEAD /_ping HTTP/1.1\r\n\r\n"),
        c(3, "GET /v1.41/info HTTP/1.1\r\n\r\n"),
        s(4, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
    ];
    let rows = summary(&decode(&writes, None));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows[0].contains("end /docker/SystemPingHead Some(200)"),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("ToClient /docker/SystemInfo Body 2 kept=true \"{}\""),
        "{rows:?}"
    );
}

#[test]
fn a_create_on_one_connection_tells_the_framing_of_an_attach_on_another() {
    let ttys = Ttys::default();
    let run = |writes: &[W]| {
        let mut dec = Http1Decoder::new();
        dec.share_ttys(ttys.clone());
        let mut out = Vec::new();
        for (dir, ts, b) in writes {
            dec.feed(*dir, b, &ts_stamp(*ts), &mut out);
        }
        dec.close(100, &mut out);
        out
    };
    run(&[
        sized(
            Dir::ToServer,
            1,
            "POST /v1.41/containers/create?name=web HTTP/1.1\r\nContent-Type: application/json",
            "{\"Tty\":false}",
        ),
        sized(
            Dir::ToClient,
            2,
            "HTTP/1.1 201 Created\r\nContent-Type: application/json",
            "{\"Id\":\"c0ffee\",\"Warnings\":[]}",
        ),
    ]);
    let attach = |id: &str| {
        let req = format!("POST /v1.41/containers/{id}/attach?stream=1&stdout=1 HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n");
        let out = run(&[
            (Dir::ToServer, 3, req.into_bytes()),
            s(4, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nUpgrade: tcp\r\n\r\n"),
            (Dir::ToClient, 5, b"\x01\0\0\0\0\0\0\x03hi\n\x02\0\0\0\0\0\0\x04err\n".to_vec()),
        ]);
        out.iter()
            .filter_map(|e| match e {
                Event::Message {
                    http: Some(p),
                    payload,
                    ..
                } if p.kind != PartKind::Body => {
                    Some((p.kind, String::from_utf8_lossy(payload).into_owned()))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let want = vec![
        (PartKind::Stdout, "hi\n".to_string()),
        (PartKind::Stderr, "err\n".to_string()),
    ];
    assert_eq!(attach("c0ffee"), want);
    assert_eq!(attach("web"), want, "by name too");
    // Never created in the capture: shown as written, framing unknown.
    let unknown = attach("other");
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].0, PartKind::StreamUnknown);
}

/// An h2c upgrade as RFC 7540 section 3.2 has it: the request asks, the
/// server answers 101 and goes on in HTTP/2, the client sends the preface.
fn h2c_writes() -> Vec<W> {
    use crate::decode::h2::frame::{flags, Kind};
    use crate::testsupport::h2::{frame, settings, HpackEncoder};
    let mut enc = HpackEncoder::new(4096);
    let resp = enc.encode(&[(":status", "200"), ("content-type", "text/plain")], false);
    let mut server =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    server.extend(settings(&[]));
    server.extend(frame(Kind::Headers, flags::END_HEADERS, 1, &resp));
    let mut client = crate::decode::h2::PREFACE.to_vec();
    client.extend(settings(&[]));
    client.extend(frame(Kind::Settings, flags::ACK, 0, &[]));
    vec![
        c(1, "GET /humans.txt HTTP/1.1\r\nHost: example.org\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"),
        (Dir::ToClient, 2, server),
        (Dir::ToServer, 3, client),
        (Dir::ToClient, 4, frame(Kind::Data, flags::END_STREAM, 1, &[0, 0, 0, 0, 2, b'h', b'i'])),
    ]
}

#[test]
fn an_h2c_upgrade_hands_the_connection_to_http2_with_its_request_as_stream_1() {
    let writes = h2c_writes();
    let mut rng = Rng::new(7);
    let want = decode(&writes, None);
    let starts: Vec<String> = want
        .iter()
        .filter_map(|e| match e {
            Event::CallStart {
                stream_id, path, ..
            } => Some(format!("{stream_id} {path}")),
            _ => None,
        })
        .collect();
    assert_eq!(starts, ["1 GET /humans.txt", "1 /humans.txt"], "{want:#?}");
    let ends: Vec<String> = want
        .iter()
        .filter_map(|e| match e {
            Event::CallEnd {
                path,
                http_status,
                unfinished,
                ..
            } => Some(format!("{path} {http_status:?} {unfinished}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        [
            "GET /humans.txt Some(101) false",
            "/humans.txt Some(200) false"
        ],
        "{want:#?}"
    );
    let body: Vec<&Event> = want
        .iter()
        .filter(|e| matches!(e, Event::Message { http: None, .. }))
        .collect();
    assert_eq!(body.len(), 1, "{want:#?}");
    // Its stream ranges are the connection's offsets.
    if let Event::Message {
        stream_ranges,
        payload,
        ..
    } = body[0]
    {
        let server: Vec<u8> = writes
            .iter()
            .filter(|w| w.0 == Dir::ToClient)
            .flat_map(|w| w.2.clone())
            .collect();
        let r = &stream_ranges[0];
        assert_eq!(
            &server[r.start as usize..r.end as usize],
            payload.as_slice()
        );
    }
    // The preface may come before the 101 in the feed, and any cut.
    let reordered = vec![
        writes[0].clone(),
        writes[2].clone(),
        writes[1].clone(),
        writes[3].clone(),
    ];
    for _ in 0..50 {
        let got = decode(&reordered, Some(&mut rng));
        let starts2 = got
            .iter()
            .filter(|e| matches!(e, Event::CallStart { .. }))
            .count();
        assert_eq!(starts2, 2);
        assert!(
            !got.iter().any(|e| matches!(e, Event::Error { .. })),
            "{got:#?}"
        );
    }
}

#[test]
fn after_lost_server_bytes_a_response_answers_the_latest_request_before_it() {
    let mut dec = Http1Decoder::new();
    let mut out = Vec::new();
    let feed = |dec: &mut Http1Decoder, out: &mut Vec<Event>, w: W| {
        dec.feed(w.0, &w.2, &ts_stamp(w.1), out)
    };
    feed(&mut dec, &mut out, c(1, "GET /v1.41/info HTTP/1.1\r\n\r\n"));
    // Its response is lost (a gap where a head would begin).
    dec.gap(Dir::ToClient, 40, &mut out);
    feed(
        &mut dec,
        &mut out,
        c(3, "GET /v1.41/version HTTP/1.1\r\n\r\n"),
    );
    feed(
        &mut dec,
        &mut out,
        sized(Dir::ToClient, 4, "HTTP/1.1 200 OK", "{}"),
    );
    dec.close(10, &mut out);
    let rows = summary(&out);
    assert!(
        rows[0].contains("end /docker/SystemInfo None None unfinished=true"),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("end /docker/SystemVersion Some(200) None unfinished=false resynced=true"),
        "{rows:?}"
    );
}

#[test]
fn a_gap_inside_a_chunk_keeps_step_and_counts_the_loss() {
    let mut dec = Http1Decoder::new();
    let mut out = Vec::new();
    let st = ts_stamp(1);
    dec.feed(
        Dir::ToServer,
        b"GET /v1.41/events HTTP/1.1\r\n\r\n",
        &st,
        &mut out,
    );
    dec.feed(Dir::ToClient, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\ne\r\n{\"a\":", &ts_stamp(2), &mut out);
    dec.gap(Dir::ToClient, 5, &mut out);
    dec.feed(Dir::ToClient, b"123}\r\n0\r\n\r\n", &ts_stamp(3), &mut out);
    dec.close(10, &mut out);
    let rows = summary(&out);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        !out.iter().any(|e| matches!(e, Event::Error { .. })),
        "{out:?}"
    );
    assert!(
        rows[0].contains("ToClient /docker/SystemEvents Body 14 kept=false"),
        "{rows:?}"
    );
    assert!(
        rows[0].ends_with("Some(200) None unfinished=false resynced=false"),
        "{rows:?}"
    );
}

#[test]
fn a_gap_in_a_multiplexed_stream_leaves_the_rest_unknown() {
    let ttys = Ttys::default();
    ttys.learn("c0ffee", false);
    let mut dec = Http1Decoder::new();
    dec.share_ttys(ttys);
    let mut out = Vec::new();
    dec.feed(
        Dir::ToServer,
        b"POST /v1.41/containers/c0ffee/attach?stream=1 HTTP/1.1\r\nUpgrade: tcp\r\n\r\n",
        &ts_stamp(1),
        &mut out,
    );
    dec.feed(Dir::ToClient, b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n\x01\0\0\0\0\0\0\x03hi\n", &ts_stamp(2), &mut out);
    dec.gap(Dir::ToClient, 7, &mut out);
    dec.feed(
        Dir::ToClient,
        b"\x01\0\0\0\0\0\0\x03yo\n",
        &ts_stamp(3),
        &mut out,
    );
    let kinds: Vec<PartKind> = out
        .iter()
        .filter_map(|e| match e {
            Event::Message { http: Some(p), .. } if p.kind != PartKind::Body => Some(p.kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [PartKind::Stdout, PartKind::StreamUnknown]);
}
