//! What a Wireshark with no plugin and no preference shows of our files
//! (tshark 4.0 as the oracle; no root): nothing malformed and no expert
//! warning, in the committed fixtures and in captures our writer makes of
//! random ttrpc traffic. The ttrpc server port's own dissector (Echo)
//! takes every segment, so no heuristic dissector reads the bytes.

mod common;

use std::collections::VecDeque;

use containerdsnoop::flow::{Comm, Conn, Dir, FlowEvent, Process, Protocol, Sink};
use containerdsnoop::pcapng::packet::{LEGACY_TTRPC_PORT, TTRPC_PORT};
use containerdsnoop::pcapng::PcapngWriter;
use containerdsnoop::testsupport::flow::conn;
use containerdsnoop::testsupport::ttrpc::{frame, request_env, shim_conversation};
use containerdsnoop::testsupport::Rng;

use common::tshark;

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
