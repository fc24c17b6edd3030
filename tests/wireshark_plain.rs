//! What a Wireshark with no plugin and no preference shows of our files
//! (tshark 4.0 as the oracle; no root): nothing malformed and no expert
//! warning, in the committed fixtures and in captures our writer makes of
//! random ttrpc traffic (the ttrpc server port's own dissector, Echo,
//! takes every segment, so no heuristic dissector reads the bytes), and
//! recovered HPACK tables as synthetic PUSH_PROMISEs, not calls, after
//! which the blocks decode exactly.

mod common;

use std::collections::VecDeque;

use containerdsnoop::flow::{Comm, Conn, Dir, FlowEvent, Process, Protocol, Sink};
use containerdsnoop::pcapng::packet::{LEGACY_TTRPC_PORT, TTRPC_PORT};
use containerdsnoop::pcapng::PcapngWriter;
use containerdsnoop::testsupport::flow::conn;
use containerdsnoop::testsupport::ttrpc::{frame, request_env, shim_conversation};
use containerdsnoop::testsupport::Rng;

use common::{synthetic_stream_fields, tshark};

const PROBLEMS: &str = "_ws.malformed || _ws.expert.severity >= warning";

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// tshark's one-line summary of each packet of `pcap` that matches `filter`.
fn matching(pcap: &str, filter: &str) -> String {
    tshark(["-r", pcap, "-Y", filter])
}

#[test]
fn fixtures_show_nothing_malformed() {
    for name in ["ctr-session", "ctr-run", "mid-connection", "shim-run"] {
        let p = fixture(&format!("{name}.pcapng"));
        assert_eq!(matching(&p, PROBLEMS), "", "{name}");
    }
}

#[test]
fn the_shim_fixture_on_port_81_was_claimed_by_smpp() {
    // What files written before ttrpc moved to port 7 show: the reason it moved.
    let now = std::fs::read(fixture("shim-run.pcapng")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("port-81.pcapng");
    std::fs::write(&old, common::with_port(&now, TTRPC_PORT, LEGACY_TTRPC_PORT)).unwrap();
    let old = old.to_str().unwrap();
    assert!(!matching(old, "smpp && _ws.malformed").is_empty());
    let p = fixture("shim-run.pcapng");
    assert_eq!(matching(&p, "tcp.len > 0 && !echo"), "");
}

/// A ttrpc connection of `writes`, as the writer gets it behind the sniffer.
fn write_ttrpc(out: &mut PcapngWriter<Vec<u8>>, c: &Conn, writes: &[(Dir, Vec<u8>)]) {
    let writer = Process::thread(10 + c.id as u32, 1, Comm::from_name("w"));
    let ts = 1_700_000_000_000_000_000 + c.id * 1_000_000;
    out.event(c, ts, FlowEvent::Open).unwrap();
    out.event(c, ts, FlowEvent::Protocol(Some(Protocol::Ttrpc)))
        .unwrap();
    let mut offset = [0u64; 2];
    for (i, (dir, bytes)) in writes.iter().enumerate() {
        let ev = FlowEvent::Data {
            dir: *dir,
            writer: &writer,
            offset: offset[dir.index()],
            bytes,
        };
        offset[dir.index()] += bytes.len() as u64;
        out.event(c, ts + 1 + i as u64, ev).unwrap();
    }
    out.event(c, ts + 1_000, FlowEvent::Close).unwrap();
}

/// What heuristic dissectors recognise on a port of no dissector: HTTP
/// and SIP requests, a TLS record header.
const LOOKALIKES: [&[u8]; 3] = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03",
];

/// Up to `max - 1` random bytes.
fn some_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max);
    rng.bytes(n)
}

/// Random ttrpc-shaped writes: frames with true or false lengths, any
/// type, flags and stream id, bodies random or envelopes with a random
/// tail, cut anywhere; raw random bytes; text other protocols start with.
fn random_writes(rng: &mut Rng) -> Vec<(Dir, Vec<u8>)> {
    // Each direction's bytes, then cut at random places.
    let mut streams = [Vec::new(), Vec::new()];
    for _ in 0..40 {
        let piece = match rng.below(8) {
            0 => some_bytes(rng, 300),
            1 => LOOKALIKES[rng.below(LOOKALIKES.len())].to_vec(),
            2 => {
                let (sid, kind) = (rng.next_u64() as u32, rng.below(256) as u8);
                let mut f = frame(sid, kind, 0, &some_bytes(rng, 64));
                f[..4].copy_from_slice(&(rng.next_u64() as u32).to_be_bytes());
                f
            }
            3 | 4 => {
                let mut env = request_env("containerd.task.v2.Task", "Create", b"", 0, &[]);
                env.extend(some_bytes(rng, 40));
                let (sid, flags) = (2 * rng.below(64) as u32 + 1, rng.below(8) as u8);
                frame(sid, 1, flags, &env)
            }
            _ => {
                let (sid, kind) = (rng.next_u64() as u32, rng.below(5) as u8);
                let flags = rng.below(256) as u8;
                frame(sid, kind, flags, &some_bytes(rng, 80))
            }
        };
        streams[rng.below(2)].extend(piece);
    }
    let mut chunks: [VecDeque<Vec<u8>>; 2] = Default::default();
    for (all, chunks) in streams.iter().zip(chunks.iter_mut()) {
        let mut at = 0;
        while at < all.len() {
            let n = (1 + rng.below(200)).min(all.len() - at);
            chunks.push_back(all[at..at + n].to_vec());
            at += n;
        }
    }
    // The two directions interleaved at random.
    let mut writes = Vec::new();
    while chunks.iter().any(|c| !c.is_empty()) {
        let dir = match (chunks[0].is_empty(), chunks[1].is_empty(), rng.below(2)) {
            (false, true, _) | (false, false, 0) => Dir::ToServer,
            _ => Dir::ToClient,
        };
        let bytes = chunks[dir.index()].pop_front().expect("not empty");
        writes.push((dir, bytes));
    }
    writes
}

#[test]
fn random_ttrpc_from_our_writer_shows_nothing_malformed() {
    let mut out = PcapngWriter::new(Vec::new(), "test").unwrap();
    let mut rng = Rng::new(20);
    let mut segments = 0;
    for id in 0..30 {
        let writes = match id {
            0 => shim_conversation().writes,
            _ => random_writes(&mut rng),
        };
        segments += writes.len();
        write_ttrpc(&mut out, &conn(id), &writes);
    }
    let file = out.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random-ttrpc.pcapng");
    std::fs::write(&path, &file).unwrap();
    let p = path.to_str().unwrap();
    let on_port = format!("tcp.len > 0 && tcp.port == {TTRPC_PORT}");
    let data = tshark(["-r", p, "-Y", &on_port]);
    assert_eq!(data.lines().count(), segments);
    assert_eq!(matching(p, PROBLEMS), "");
    assert_eq!(matching(p, "tcp.len > 0 && !echo"), "");
    // The same file on port 81, as the writer wrote it before, is claimed
    // by heuristics (HTTP, SIP, TLS and SMPP) and flagged.
    let old = dir.path().join("random-ttrpc-81.pcapng");
    std::fs::write(
        &old,
        common::with_port(&file, TTRPC_PORT, LEGACY_TTRPC_PORT),
    )
    .unwrap();
    assert!(!matching(old.to_str().unwrap(), PROBLEMS).is_empty());
}

/// A server's HPACK encoder after a few calls, one of them failed.
fn server_table() -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        ("content-type", "application/grpc"),
        ("grpc-status", "0"),
        ("grpc-message", ""),
        ("grpc-status", "5"),
        ("grpc-message", "task abc not found"),
    ]
    .iter()
    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect()
}

/// An HTTP/2 frame.
fn h2(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// A gRPC connection seen from its middle, both HPACK tables recovered: a
/// call on stream 101 that fails with NOT_FOUND, its headers all indexed.
fn recovered_connection() -> Vec<u8> {
    use containerdsnoop::decode::h2::seed::seed_frame;
    let mut out = PcapngWriter::new(Vec::new(), "test").unwrap();
    let c = conn(0);
    let writer = Process::thread(10, 11, Comm::from_name("w"));
    let path = "/containerd.services.tasks.v1.Tasks/Get";
    let client_table = vec![
        (b":path".to_vec(), path.as_bytes().to_vec()),
        (b"content-type".to_vec(), b"application/grpc".to_vec()),
    ];
    // :method POST, :scheme http, then the table: newest first from 62.
    let request = [
        h2(1, 0x4, 101, &[0x83, 0x86, 0x80 | 63, 0x80 | 62]),
        h2(0, 0x1, 101, &[0, 0, 0, 0, 0]),
    ]
    .concat();
    // :status 200 and content-type, then grpc-status 5 and its message.
    let response = [
        h2(1, 0x4, 101, &[0x88, 0x80 | 66]),
        h2(1, 0x5, 101, &[0x80 | 63, 0x80 | 62]),
    ]
    .concat();
    let (client_seed, server_seed) = (
        seed_frame(&client_table, 4096),
        seed_frame(&server_table(), 4096),
    );
    let ts = 1_700_000_000_000_000_000;
    let events = [
        FlowEvent::Open,
        FlowEvent::Protocol(Some(Protocol::Grpc)),
        FlowEvent::Seed {
            dir: Dir::ToServer,
            offset: 0,
            frame: &client_seed,
            origin: "2 entries from the decoder of containerd (pid 9), before stream 101",
        },
        FlowEvent::Data {
            dir: Dir::ToServer,
            writer: &writer,
            offset: 0,
            bytes: &request,
        },
        FlowEvent::Seed {
            dir: Dir::ToClient,
            offset: 0,
            frame: &server_seed,
            origin: "5 entries from the encoder of containerd (pid 9), before stream 101",
        },
        FlowEvent::Data {
            dir: Dir::ToClient,
            writer: &writer,
            offset: 0,
            bytes: &response,
        },
        FlowEvent::Close,
    ];
    for (i, ev) in events.into_iter().enumerate() {
        out.event(&c, ts + i as u64, ev).unwrap();
    }
    out.finish().unwrap()
}

#[test]
fn recovered_tables_show_as_synthetic_push_promises_not_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recovered.pcapng");
    std::fs::write(&path, recovered_connection()).unwrap();
    let p = path.to_str().unwrap();
    assert_eq!(matching(p, PROBLEMS), "");
    // Both tables, each a PUSH_PROMISE that names itself synthetic.
    let seeds = synthetic_stream_fields(
        p,
        &[
            "tcp.srcport",
            "http2.type",
            "http2.header.name",
            "frame.comment",
        ],
    );
    let rows: Vec<Vec<&str>> = seeds.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 2, "{seeds}");
    assert_eq!(rows[1][0], "80", "the server's table: {seeds}");
    for r in &rows {
        assert_eq!(r[1], "5", "PUSH_PROMISE: {seeds}");
        assert!(r[2].starts_with("containerdsnoop,"), "{seeds}");
        assert!(
            r[3].starts_with("synthetic HTTP/2 PUSH_PROMISE: HPACK table"),
            "{seeds}"
        );
    }
    // No response, no end of stream, no gRPC (Wireshark 4.0 has no
    // grpc.status field; one would be in the grpc layer), no warning.
    let call_like = "http2.streamid == 2147483647 && (http2.type != 5 \
                     || http2.flags.end_stream == 1 || http2.headers.status || grpc \
                     || _ws.expert.severity >= warning)";
    assert_eq!(matching(p, call_like), "");
    // What follows decodes with the recovered tables, in Wireshark too.
    let call = tshark([
        "-r",
        p,
        "-Y",
        "http2.streamid == 101 && http2.type == 1",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "http2.header.name",
        "-e",
        "http2.header.value",
    ]);
    let path = "/containerd.services.tasks.v1.Tasks/Get";
    assert!(
        call.contains(&format!(
            ":method,:scheme,:path,content-type|POST,http,{path},application/grpc"
        )),
        "{call}"
    );
    assert!(call.contains(":status,content-type,grpc-status,grpc-message|200,application/grpc,5,task abc not found"), "{call}");
}
