//! `containerdsnoop decode` on captures that are cut short, not captures,
//! of an unknown link type, or full of TCP retransmissions and reordering:
//! exit codes, the one-line message, and what is still decoded. No root.

mod flows;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use etherparse::PacketBuilder;
use flows::{fixture, Chunk};
use serde_json::Value;

use containerdsnoop::flow::Dir;
use containerdsnoop::flow::Recorder;
use containerdsnoop::input::{self, ReadOptions};

const EXIT_INPUT: i32 = 3;

fn decode(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_containerdsnoop"))
        .arg("decode")
        .arg(path)
        .arg("--json")
        .env("TZ", "UTC")
        .output()
        .expect("containerdsnoop runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("UTF-8 stderr")
}

fn rows(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("UTF-8 stdout")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Asserts exit code 3 and a single stderr line equal to `want`.
fn assert_input_error(out: &Output, want: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(EXIT_INPUT), "stderr: {err}");
    assert_eq!(err, format!("{want}\n"));
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// (offset, length) of each pcapng block of a little-endian file.
fn blocks(file: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 8 <= file.len() {
        let len = u32::from_le_bytes(file[off + 4..off + 8].try_into().unwrap()) as usize;
        out.push((off, len));
        off += len;
    }
    assert_eq!(off, file.len(), "the fixture is whole");
    out
}

#[test]
fn truncated_capture_keeps_what_came_before_the_cut() {
    let full_path = fixture("ctr-session.pcapng");
    let file = std::fs::read(&full_path).unwrap();
    let full = decode(&full_path);
    assert!(full.status.success(), "{}", stderr(&full));
    let full_rows = rows(&full);
    let dir = tempfile::tempdir().unwrap();
    let bl = blocks(&file);
    assert!(bl.len() > 100, "{} blocks", bl.len());
    for &(start, len) in &[bl[bl.len() / 4], bl[bl.len() / 2], bl[bl.len() * 3 / 4]] {
        for cut in [start + 1, start + len / 2, start + len - 1] {
            let p = write_temp(&dir, &format!("cut-{cut}.pcapng"), &file[..cut]);
            let out = decode(&p);
            assert_input_error(
                &out,
                &format!(
                    "containerdsnoop: {}: the capture ends inside a block at byte {start} (still \
                     being written, or cut short); everything before it was read; everything \
                     before that point was decoded",
                    p.display()
                ),
            );
            // Every row is the full decode's, in order, up to the calls that
            // the cut left open, which end the output as unfinished.
            let got = rows(&out);
            let same = got
                .iter()
                .zip(&full_rows)
                .take_while(|(a, b)| a == b)
                .count();
            assert!(same > 0, "cut at {cut}: nothing decoded");
            for r in &got[same..] {
                assert_eq!(r["type"], "call", "cut at {cut}: {r}");
                assert_eq!(r["unfinished"], true, "cut at {cut}: {r}");
            }
            let messages = |rs: &[Value]| rs.iter().filter(|r| r["type"] == "message").count();
            assert!(
                messages(&got) > 0 && messages(&got) < messages(&full_rows),
                "cut at {cut}: {} of {} messages",
                messages(&got),
                messages(&full_rows)
            );
        }
    }
}

#[test]
fn cut_inside_the_first_block_is_truncated_at_zero() {
    let file = std::fs::read(fixture("ctr-session.pcapng")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for cut in [2, 30] {
        let p = write_temp(&dir, &format!("cut-{cut}.pcapng"), &file[..cut]);
        let out = decode(&p);
        assert_input_error(
            &out,
            &format!(
                "containerdsnoop: {}: the capture ends inside a block at byte 0 (still being \
                 written, or cut short); everything before it was read; everything before that \
                 point was decoded",
                p.display()
            ),
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn garbage_and_empty_files_are_not_captures() {
    let dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        .iter()
        .copied()
        .cycle()
        .take(3000)
        .collect();
    for (name, bytes) in [("garbage.bin", &garbage[..]), ("empty.pcapng", &[][..])] {
        let p = write_temp(&dir, name, bytes);
        let out = decode(&p);
        assert_input_error(
            &out,
            &format!(
                "containerdsnoop: {}: the input is not a pcap or pcapng capture (it is empty or \
                 starts with other bytes)",
                p.display()
            ),
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn garbage_after_the_pcapng_magic_is_damage_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = vec![0x0a, 0x0d, 0x0d, 0x0a];
    let mut rng = flows::Rng(7);
    bytes.extend((0..2000).map(|_| rng.next_u64() as u8));
    // Not a byte-order magic (0x1a2b3c4d either way round).
    bytes[8..12].copy_from_slice(b"junk");
    let p = write_temp(&dir, "damaged.pcapng", &bytes);
    let out = decode(&p);
    assert_input_error(
        &out,
        &format!(
            "containerdsnoop: {}: the capture is damaged at byte 0: section header with an \
             unknown byte-order magic",
            p.display()
        ),
    );
}

/// A classic pcap header (microseconds, little-endian) of link type `linktype`.
fn pcap_header(linktype: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&262_144u32.to_le_bytes());
    h.extend_from_slice(&linktype.to_le_bytes());
    h
}

fn pcap_record(out: &mut Vec<u8>, ts_us: u64, frame: &[u8]) {
    out.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    out.extend_from_slice(frame);
}

fn pcapng_block(kind: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len()) as u32;
    let mut b = kind.to_le_bytes().to_vec();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

#[test]
fn unsupported_link_type_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // LINKTYPE_USER0 (147), in a classic pcap and in a pcapng interface.
    let mut pcap = pcap_header(147);
    pcap_record(&mut pcap, 1, b"abcd");
    let mut ng = pcapng_block(0x0a0d_0d0a, &{
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
        shb
    });
    ng.extend(pcapng_block(1, &{
        let mut idb = 147u16.to_le_bytes().to_vec();
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&65_535u32.to_le_bytes());
        idb
    }));
    ng.extend(pcapng_block(6, &{
        let mut epb = [0u32, 0, 0, 4, 4].map(u32::to_le_bytes).concat();
        epb.extend_from_slice(b"abcd");
        epb
    }));
    for (name, bytes) in [("user0.pcap", pcap), ("user0.pcapng", ng)] {
        let p = write_temp(&dir, name, &bytes);
        let out = decode(&p);
        assert_input_error(
            &out,
            &format!(
                "containerdsnoop: {}: link-layer type 147 is not supported; capture on Ethernet, \
                 loopback or `tcpdump -i any` (Linux cooked) interfaces",
                p.display()
            ),
        );
    }
}

/// One TCP segment to write: a range of one direction's stream, or a flag.
#[derive(Clone, Debug)]
struct Seg {
    conn: usize,
    to_client: bool,
    /// Offset of the first byte in the direction's stream.
    start: usize,
    end: usize,
    syn: bool,
    fin: bool,
}

/// Each connection's two streams and its segments in capture order:
/// handshake, each write (cut to fit IPv4), FIN both ways.
fn segments_of(flows: &flows::Flows) -> (Vec<[Vec<u8>; 2]>, Vec<Seg>) {
    let mut streams = Vec::new();
    let mut segs = Vec::new();
    for (conn, (_, chunks)) in flows.conns.iter().enumerate() {
        let mut s: [Vec<u8>; 2] = Default::default();
        let flag = |to_client, syn, fin, at: usize| Seg {
            conn,
            to_client,
            start: at,
            end: at,
            syn,
            fin,
        };
        segs.push(flag(false, true, false, 0));
        segs.push(flag(true, true, false, 0));
        for c in chunks {
            let Chunk::Data(dir, bytes) = c else {
                panic!("the fixture has no gaps");
            };
            let to_client = *dir == Dir::ToClient;
            let buf = &mut s[usize::from(to_client)];
            for piece in bytes.chunks(60_000) {
                let start = buf.len();
                buf.extend_from_slice(piece);
                segs.push(Seg {
                    conn,
                    to_client,
                    start,
                    end: buf.len(),
                    syn: false,
                    fin: false,
                });
            }
        }
        segs.push(flag(false, false, true, s[0].len()));
        segs.push(flag(true, false, true, s[1].len()));
        streams.push(s);
    }
    (streams, segs)
}

/// The same segments with retransmissions and reordering: every third data
/// segment sent twice, every fifth swapped with the next of its direction
/// when that is adjacent, every seventh followed by a segment that overlaps
/// the previous bytes and repeats its own.
fn messy(segs: &[Seg]) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < segs.len() {
        let s = &segs[i];
        let data = s.end > s.start;
        if data && i % 5 == 1 {
            if let Some(n) = segs.get(i + 1) {
                if n.end > n.start && n.conn == s.conn && n.to_client == s.to_client {
                    out.push(n.clone());
                    out.push(s.clone());
                    i += 2;
                    continue;
                }
            }
        }
        out.push(s.clone());
        if data && i % 3 == 0 {
            out.push(s.clone());
        }
        if data && i % 7 == 2 {
            out.push(Seg {
                start: s.start.saturating_sub(10),
                ..s.clone()
            });
        }
        i += 1;
    }
    out
}

fn pcap_of(streams: &[[Vec<u8>; 2]], segs: &[Seg]) -> Vec<u8> {
    let mut out = pcap_header(1);
    for (n, s) in segs.iter().enumerate() {
        let port = 40_000 + s.conn as u16;
        let isn = |to_client: bool| if to_client { 7_000u32 } else { 0xffff_ff00 };
        let seq = isn(s.to_client)
            .wrapping_add(u32::from(!s.syn))
            .wrapping_add(s.start as u32);
        let (client, server) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let tcp = if s.to_client {
            eth.ipv4(server, client, 64).tcp(80, port, seq, 65_535)
        } else {
            eth.ipv4(client, server, 64).tcp(port, 80, seq, 65_535)
        };
        let tcp = match (s.syn, s.to_client) {
            (true, false) => tcp.syn(),
            (true, true) => tcp.syn().ack(isn(false).wrapping_add(1)),
            _ => tcp.ack(isn(!s.to_client).wrapping_add(1)),
        };
        let tcp = if s.fin { tcp.fin() } else { tcp };
        let payload = &streams[s.conn][usize::from(s.to_client)][s.start..s.end];
        let mut frame = Vec::new();
        tcp.write(&mut frame, payload).unwrap();
        pcap_record(&mut out, 1_700_000_000_000_000 + n as u64 * 1000, &frame);
    }
    out
}

/// Rows without the fields that depend on packet times.
fn timeless(mut rows: Vec<Value>) -> Vec<Value> {
    for r in &mut rows {
        let o = r.as_object_mut().unwrap();
        for k in ["time", "ts_ns", "latency_us"] {
            o.remove(k);
        }
    }
    rows
}

#[test]
fn retransmitted_and_reordered_segments_decode_like_the_clean_capture() {
    let flows = flows::of_fixture("ctr-session.pcapng");
    let (streams, segs) = segments_of(&flows);
    let messy_segs = messy(&segs);
    assert!(messy_segs.len() > segs.len() + segs.len() / 4);
    let (clean_pcap, messy_pcap) = (pcap_of(&streams, &segs), pcap_of(&streams, &messy_segs));
    // The reader did see retransmitted and early bytes, and lost none.
    let summary = |pcap: &[u8]| {
        let mut rec = Recorder::default();
        input::read(pcap, &ReadOptions::default(), &mut rec).unwrap()
    };
    let (c, m) = (summary(&clean_pcap), summary(&messy_pcap));
    assert_eq!((c.retransmitted_bytes, c.gap_bytes), (0, 0));
    assert!(m.retransmitted_bytes > 1000, "{m:?}");
    assert_eq!((m.gap_bytes, m.bytes), (0, c.bytes));
    let dir = tempfile::tempdir().unwrap();
    let clean = write_temp(&dir, "clean.pcap", &clean_pcap);
    let messy = write_temp(&dir, "messy.pcap", &messy_pcap);
    let (clean_out, messy_out) = (decode(&clean), decode(&messy));
    for out in [&clean_out, &messy_out] {
        assert!(out.status.success(), "{}", stderr(out));
        assert_eq!(stderr(out), "");
    }
    let (clean_rows, messy_rows) = (rows(&clean_out), rows(&messy_out));
    assert_eq!(timeless(messy_rows), timeless(clean_rows.clone()));

    // And the clean rebuild holds the fixture's messages.
    let census = |rows: &[Value]| {
        let mut m: BTreeMap<String, u32> = BTreeMap::new();
        for r in rows.iter().filter(|r| r["type"] == "message") {
            let key = format!("{} {} {}", r["method"], r["direction"], r["message"]);
            *m.entry(key).or_default() += 1;
        }
        m
    };
    let fixture_rows = rows(&decode(&fixture("ctr-session.pcapng")));
    assert!(!census(&fixture_rows).is_empty());
    assert_eq!(census(&clean_rows), census(&fixture_rows));
}
