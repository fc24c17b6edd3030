use std::borrow::Cow;
use std::time::Duration;

use etherparse::{PacketBuilder, TcpHeader};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness};

use super::ng::timestamp_ns;
use super::*;
use crate::decode::sniff::PREFACE;
use crate::flow::{Comm, Conn, Dir, FlowEvent, Process, Side};
use crate::pcapng::PcapngWriter;

// ---- a sink that remembers everything ----

#[derive(Clone, Debug, PartialEq)]
enum Ev {
    Open(Meta),
    Data {
        id: ConnId,
        dir: Dir,
        ts: u64,
        writer: Process,
        offset: u64,
        bytes: Vec<u8>,
    },
    Gap {
        id: ConnId,
        dir: Dir,
        offset: u64,
        len: u64,
    },
    Close(ConnId),
    Seed {
        id: ConnId,
        dir: Dir,
        offset: u64,
        frame: Vec<u8>,
    },
}

/// What `Open` said about a connection.
#[derive(Clone, Debug, PartialEq)]
struct Meta {
    id: ConnId,
    path: Option<String>,
    client: Side,
    server: Side,
    first_ns: u64,
}

impl Meta {
    fn of(c: &Conn) -> Meta {
        Meta {
            id: c.id,
            path: c.path.clone(),
            client: c.client,
            server: c.server,
            first_ns: c.first_ns,
        }
    }

    fn conn(&self) -> Conn {
        Conn {
            id: self.id,
            path: self.path.clone(),
            client: self.client,
            server: self.server,
            first_ns: self.first_ns,
        }
    }
}

#[derive(Default)]
struct Collect(Vec<Ev>);

impl Sink for Collect {
    fn event(&mut self, conn: &Conn, ts: u64, ev: FlowEvent<'_>) -> anyhow::Result<()> {
        let id = conn.id;
        self.0.push(match ev {
            // What the sniffing stage told; the writer's own port choice is
            // checked by the tests that read ports.
            FlowEvent::Protocol(_) => return Ok(()),
            FlowEvent::Open => Ev::Open(Meta::of(conn)),
            FlowEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            } => Ev::Data {
                id,
                dir,
                ts,
                writer: *writer,
                offset,
                bytes: bytes.to_vec(),
            },
            FlowEvent::Gap { dir, offset, len } => Ev::Gap {
                id,
                dir,
                offset,
                len,
            },
            FlowEvent::Close => Ev::Close(id),
            FlowEvent::Seed {
                dir, offset, frame, ..
            } => Ev::Seed {
                id,
                dir,
                offset,
                frame: frame.to_vec(),
            },
        });
        Ok(())
    }
}

/// One direction as delivered: contiguous bytes merged, gaps apart.
#[derive(Debug, PartialEq)]
enum Piece {
    Bytes(Vec<u8>),
    Gap(u64),
}

fn stream(evs: &[Ev], id: ConnId, dir: Dir) -> Vec<Piece> {
    let mut out: Vec<Piece> = vec![];
    let mut pos = 0;
    let mut opened = false;
    for e in evs {
        match e {
            Ev::Open(c) if c.id == id => {
                assert!(!opened, "connection {id} opened twice");
                opened = true;
            }
            Ev::Data {
                id: i,
                dir: d,
                offset,
                bytes,
                ..
            } if *i == id && *d == dir => {
                assert!(opened, "data before open");
                assert_eq!(*offset, pos, "data offset");
                pos += bytes.len() as u64;
                match out.last_mut() {
                    Some(Piece::Bytes(b)) => b.extend_from_slice(bytes),
                    _ => out.push(Piece::Bytes(bytes.clone())),
                }
            }
            Ev::Gap {
                id: i,
                dir: d,
                offset,
                len,
            } if *i == id && *d == dir => {
                assert_eq!(*offset, pos, "gap offset");
                pos += len;
                out.push(Piece::Gap(*len));
            }
            Ev::Close(i) if *i == id => return out,
            _ => {}
        }
    }
    out
}

/// Who wrote which byte range of one direction, runs merged.
fn writers(evs: &[Ev], id: ConnId, dir: Dir) -> Vec<(u64, u64, Process)> {
    let mut out: Vec<(u64, u64, Process)> = vec![];
    for e in evs {
        if let Ev::Data {
            id: i,
            dir: d,
            writer,
            offset,
            bytes,
            ..
        } = e
        {
            if *i != id || *d != dir {
                continue;
            }
            match out.last_mut() {
                Some((o, l, w)) if w == writer && *o + *l == *offset => *l += bytes.len() as u64,
                _ => out.push((*offset, bytes.len() as u64, *writer)),
            }
        }
    }
    out
}

fn closes(evs: &[Ev]) -> Vec<ConnId> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Close(id) => Some(*id),
            _ => None,
        })
        .collect()
}

fn read_all(bytes: &[u8], ports: &[u16]) -> (Result<ReadSummary, ReadError>, Vec<Ev>) {
    let mut sink = Collect::default();
    let opts = ReadOptions {
        http2_ports: ports.to_vec(),
    };
    let r = read(bytes, &opts, &mut sink);
    (r, sink.0)
}

// ---- round trip through our own writer ----

fn w(pid: u32, tid: u32, comm: &str) -> Process {
    Process::thread(pid, tid, Comm::from_name(comm))
}

fn side(ino: u64, pid: u32, comm: &str) -> Side {
    Side {
        ino,
        owner: Process {
            pid: Some(pid),
            tid: None,
            comm: Some(Comm::from_name(comm)),
        },
        from_creds: false,
    }
}

/// Frames that look like HTTP/2 (a SETTINGS frame, then a HEADERS frame).
fn frames(extra: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
    let len = 3 + extra;
    v.extend_from_slice(&[
        (len >> 16) as u8,
        (len >> 8) as u8,
        len as u8,
        1,
        4,
        0,
        0,
        0,
        1,
    ]);
    v.extend((0..len).map(|i| (i % 251) as u8));
    v
}

/// Events fed to the writer: what the live flow layer would produce.
fn live_events() -> Vec<Ev> {
    let base = 1_700_000_000_123_456_789;
    let c0 = Conn {
        id: 0,
        path: Some("/run/containerd/containerd.sock".into()),
        client: side(5678, 17013, "ctr"),
        server: side(5679, 15367, "containerd"),
        first_ns: base,
    };
    let c1 = Conn {
        id: 1,
        path: Some("/run/containerd/containerd.sock".into()),
        client: Side {
            ino: 7000,
            ..Side::default()
        },
        server: side(7001, 15367, "containerd"),
        first_ns: base + 50,
    };
    let c2 = Conn {
        id: 2,
        path: None,
        client: side(8000, 42, "kubelet"),
        server: side(8001, 43, "shim"),
        first_ns: base + 60,
    };
    let ctr = w(17013, 17016, "ctr");
    let ctr2 = w(17013, 17020, "ctr-worker");
    let srv = w(15367, 15380, "containerd");
    let mut first = PREFACE.to_vec();
    first.extend_from_slice(&frames(10));
    let big = frames(200_000);
    let data = |id, dir, ts, writer, offset, bytes: Vec<u8>| Ev::Data {
        id,
        dir,
        ts: base + ts,
        writer,
        offset,
        bytes,
    };
    let small = frames(30);
    let after_gap = frames(5);
    vec![
        Ev::Open(Meta::of(&c0)),
        data(0, Dir::ToServer, 1, ctr, 0, first.clone()),
        data(0, Dir::ToClient, 2, srv, 0, frames(1)),
        data(0, Dir::ToServer, 3, ctr2, first.len() as u64, big.clone()),
        Ev::Gap {
            id: 0,
            dir: Dir::ToServer,
            offset: (first.len() + big.len()) as u64,
            len: 1000,
        },
        data(
            0,
            Dir::ToServer,
            5,
            ctr,
            (first.len() + big.len() + 1000) as u64,
            after_gap.clone(),
        ),
        Ev::Open(Meta::of(&c1)),
        data(
            1,
            Dir::ToServer,
            51,
            w(900, 901, "crictl"),
            0,
            small.clone(),
        ),
        data(1, Dir::ToClient, 52, srv, 0, frames(2)),
        Ev::Gap {
            id: 0,
            dir: Dir::ToClient,
            offset: frames(1).len() as u64,
            len: 77,
        },
        Ev::Open(Meta::of(&c2)),
        data(
            2,
            Dir::ToServer,
            61,
            w(42, 44, "kubelet"),
            0,
            b"not http2".to_vec(),
        ),
        Ev::Close(0),
        Ev::Gap {
            id: 2,
            dir: Dir::ToClient,
            offset: 0,
            len: 5,
        },
        data(
            2,
            Dir::ToClient,
            62,
            w(43, 43, "shim"),
            5,
            b"reply".to_vec(),
        ),
    ]
}

fn conn_of(evs: &[Ev], id: ConnId) -> Meta {
    evs.iter()
        .find_map(|e| match e {
            Ev::Open(c) if c.id == id => Some(c.clone()),
            _ => None,
        })
        .expect("opened")
}

fn write_capture(evs: &[Ev]) -> Vec<u8> {
    let mut pw = PcapngWriter::new(Vec::new(), "test").unwrap();
    // Behind the sniffer, as in `record`.
    let mut sniffer = crate::decode::sniffer::Sniffer::new();
    let mut s = sniffer.sink(&mut pw);
    for e in evs {
        let (id, ts) = match e {
            Ev::Open(c) => (c.id, c.first_ns),
            Ev::Data { id, ts, .. } => (*id, *ts),
            Ev::Gap { id, .. } | Ev::Close(id) | Ev::Seed { id, .. } => (*id, 0),
        };
        let conn = conn_of(evs, id).conn();
        let ts = if ts == 0 { conn.first_ns + 100 } else { ts };
        let ev = match e {
            Ev::Open(_) => FlowEvent::Open,
            Ev::Data {
                dir,
                writer,
                offset,
                bytes,
                ..
            } => FlowEvent::Data {
                dir: *dir,
                writer,
                offset: *offset,
                bytes,
            },
            Ev::Gap {
                dir, offset, len, ..
            } => FlowEvent::Gap {
                dir: *dir,
                offset: *offset,
                len: *len,
            },
            Ev::Close(_) => FlowEvent::Close,
            Ev::Seed {
                dir, offset, frame, ..
            } => FlowEvent::Seed {
                dir: *dir,
                offset: *offset,
                frame,
                origin: "1 entry from the decoder of containerd (pid 9), before stream 3",
            },
        };
        s.event(&conn, ts, ev).unwrap();
    }
    s.flush().unwrap();
    pw.finish().unwrap()
}

#[test]
fn round_trip_through_our_writer() {
    let input = live_events();
    let file = write_capture(&input);
    let (r, out) = read_all(&file, &[]);
    let summary = r.unwrap();
    assert_eq!(summary.connections, 3);
    assert_eq!(
        summary.mid_connection,
        vec![1],
        "synthetic preface on connection 1"
    );
    assert_eq!(summary.skipped_packets, 0);
    assert_eq!(summary.retransmitted_bytes, 0);
    assert_eq!(summary.gap_bytes, 1000 + 77 + 5);
    assert!(summary.bytes > 200_000);
    assert!(summary.packets > 20);
    for id in 0..3 {
        let (a, b) = (conn_of(&input, id), conn_of(&out, id));
        assert_eq!(
            (&a.path, &a.client, &a.server),
            (&b.path, &b.client, &b.server)
        );
        assert_eq!(a.first_ns, b.first_ns);
        for dir in [Dir::ToServer, Dir::ToClient] {
            assert_eq!(
                stream(&input, id, dir),
                stream(&out, id, dir),
                "{id} {dir:?}"
            );
            assert_eq!(
                writers(&input, id, dir),
                writers(&out, id, dir),
                "{id} {dir:?}"
            );
        }
    }
    assert_eq!(closes(&out), vec![0]);
    // The synthetic preface is not delivered: connection 1 starts with its own bytes.
    let Some(Piece::Bytes(b)) = stream(&out, 1, Dir::ToServer).into_iter().next() else {
        panic!("no data on connection 1");
    };
    assert_eq!(b, frames(30));
    // The 200 kB write came back in several segments, all with its writer and time.
    let pieces: Vec<_> = out
        .iter()
        .filter(|e| matches!(e, Ev::Data { writer, .. } if writer.comm.is_some_and(|c| c.as_str() == "ctr-worker")))
        .collect();
    assert!(pieces.len() >= 4, "{} segments", pieces.len());
    for p in pieces {
        let Ev::Data { ts, bytes, .. } = p else {
            unreachable!()
        };
        assert_eq!(*ts, 1_700_000_000_123_456_792);
        assert!(bytes.len() <= crate::pcapng::packet::MAX_SEGMENT);
    }
    // Close comes after both directions' data.
    let close = out.iter().position(|e| *e == Ev::Close(0)).unwrap();
    assert!(out[close..]
        .iter()
        .all(|e| !matches!(e, Ev::Data { id: 0, .. } | Ev::Gap { id: 0, .. })));
}

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

// ---- hand-made captures ----

fn pcap_file(linktype: u32, big: bool, nano: bool, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = vec![];
    out.extend_from_slice(&u32b(if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend_from_slice(&u16b(2));
    out.extend_from_slice(&u16b(4));
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&u32b(262144));
    out.extend_from_slice(&u32b(linktype));
    for (ts_ns, f) in frames {
        let frac = if nano {
            ts_ns % 1_000_000_000
        } else {
            ts_ns % 1_000_000_000 / 1000
        };
        out.extend_from_slice(&u32b((ts_ns / 1_000_000_000) as u32));
        out.extend_from_slice(&u32b(frac as u32));
        out.extend_from_slice(&u32b(f.len() as u32));
        out.extend_from_slice(&u32b(f.len() as u32));
        out.extend_from_slice(f);
    }
    out
}

type Addr = ([u8; 4], u16);

/// A raw IPv4 TCP packet; `flags` holds S, A, F, R.
fn tcp(src: Addr, dst: Addr, seq: u32, ack: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
    let mut h = TcpHeader::new(src.1, dst.1, seq, 1000);
    h.syn = flags.contains('S');
    h.fin = flags.contains('F');
    h.rst = flags.contains('R');
    h.ack = flags.contains('A');
    h.acknowledgment_number = ack;
    let b = PacketBuilder::ipv4(src.0, dst.0, 64).tcp_header(h);
    let mut out = vec![];
    b.write(&mut out, payload).unwrap();
    out
}

const CLI: Addr = ([10, 0, 0, 1], 40000);
const SRV: Addr = ([10, 0, 0, 2], 8080);
const T0: u64 = 1_600_000_000_000_000_000;

fn reordered() -> Vec<(u64, Vec<u8>)> {
    let c = |seq, flags, p: &[u8]| tcp(CLI, SRV, seq, 5001, flags, p);
    let s = |seq, flags, p: &[u8]| tcp(SRV, CLI, seq, 1001, flags, p);
    let pkts = vec![
        tcp(CLI, SRV, 1000, 0, "S", b""),
        s(5000, "SA", b""),
        c(1001, "A", b""),
        c(1001, "A", b"hello "),
        c(1013, "A", b"world!"), // ahead of a hole
        c(1007, "A", b"there "), // fills it
        c(1001, "A", b"hello "), // retransmission
        c(1010, "A", b"re wor"), // old bytes again
        c(1017, "A", b"!!!!"),   // two old, two new
        s(5001, "A", b"ok"),
        c(1030, "A", b"late"), // 9 bytes never seen before it
        c(1034, "FA", b""),
        s(5003, "FA", b""),
        c(1035, "A", b""), // after the close: starts nothing
    ];
    pkts.into_iter()
        .enumerate()
        .map(|(i, p)| (T0 + i as u64 * 1000, p))
        .collect()
}

#[test]
fn reorders_drops_retransmissions_and_fills_holes_with_gaps() {
    for (big, nano) in [(false, false), (true, true), (false, true), (true, false)] {
        let file = pcap_file(101, big, nano, &reordered());
        let (r, out) = read_all(&file, &[]);
        let s = r.unwrap();
        assert_eq!(s.packets, 14);
        assert_eq!(s.connections, 1);
        assert_eq!(s.retransmitted_bytes, 6 + 6 + 2);
        assert_eq!(s.gap_bytes, 9);
        assert!(s.mid_connection.is_empty());
        assert_eq!(
            stream(&out, 0, Dir::ToServer),
            vec![
                Piece::Bytes(b"hello there world!!!".to_vec()),
                Piece::Gap(9),
                Piece::Bytes(b"late".to_vec())
            ]
        );
        assert_eq!(
            stream(&out, 0, Dir::ToClient),
            vec![Piece::Bytes(b"ok".to_vec())]
        );
        assert_eq!(closes(&out), vec![0]);
        let c = conn_of(&out, 0);
        assert_eq!(c.path.as_deref(), Some("10.0.0.2:8080"));
        assert_eq!(c.first_ns, T0);
        assert_eq!(c.client, Side::default());
        let Some(Ev::Data { writer, ts, .. }) = out.iter().find(|e| matches!(e, Ev::Data { .. }))
        else {
            panic!("no data")
        };
        assert_eq!(writer.pid, None);
        assert_eq!(*ts, T0 + 3000);
    }
}

#[test]
fn a_new_syn_after_close_is_a_new_connection() {
    let mut pkts = reordered();
    let t = T0 + 1_000_000;
    pkts.push((t, tcp(CLI, SRV, 9000, 0, "S", b"")));
    pkts.push((t + 1, tcp(SRV, CLI, 7000, 9001, "SA", b"")));
    pkts.push((t + 2, tcp(CLI, SRV, 9001, 7001, "A", b"again")));
    pkts.push((t + 3, tcp(SRV, CLI, 7001, 9006, "RA", b"")));
    let (r, out) = read_all(&pcap_file(101, false, false, &pkts), &[]);
    assert_eq!(r.unwrap().connections, 2);
    assert_eq!(
        stream(&out, 1, Dir::ToServer),
        vec![Piece::Bytes(b"again".to_vec())]
    );
    assert_eq!(closes(&out), vec![0, 1]);
}

#[test]
fn a_capture_starting_at_the_syn_ack_still_knows_both_starts() {
    let pkts = vec![
        (T0, tcp(SRV, CLI, 5000, 1001, "SA", b"")),
        (T0 + 1, tcp(CLI, SRV, 1000, 0, "S", b"")), // the client's SYN, late
        (T0 + 2, tcp(CLI, SRV, 1003, 5001, "A", b"cd")),
        (T0 + 3, tcp(CLI, SRV, 1001, 5001, "A", b"ab")),
        (T0 + 4, tcp(SRV, CLI, 5001, 1005, "A", b"ok")),
    ];
    let (r, out) = read_all(&pcap_file(101, false, false, &pkts), &[]);
    let s = r.unwrap();
    assert_eq!(s.connections, 1);
    assert!(s.mid_connection.is_empty());
    assert_eq!(
        stream(&out, 0, Dir::ToServer),
        vec![Piece::Bytes(b"abcd".to_vec())]
    );
    assert_eq!(
        stream(&out, 0, Dir::ToClient),
        vec![Piece::Bytes(b"ok".to_vec())]
    );
}

#[test]
fn without_syn_the_server_is_found_by_port_and_flagged_mid_connection() {
    let http = ([10, 0, 0, 9], 80);
    let client = ([10, 0, 0, 8], 50000);
    // Sequence numbers wrap inside the stream.
    let start = u32::MAX - 3;
    let pkts = vec![
        (T0, tcp(http, client, 77, start, "A", b"server first")),
        (T0 + 1, tcp(client, http, start, 89, "A", b"abcdef")),
        (
            T0 + 2,
            tcp(client, http, start.wrapping_add(6), 89, "A", b"ghij"),
        ),
    ];
    let (r, out) = read_all(&pcap_file(101, false, false, &pkts), &[]);
    let s = r.unwrap();
    assert_eq!(s.mid_connection, vec![0]);
    assert_eq!(
        stream(&out, 0, Dir::ToServer),
        vec![Piece::Bytes(b"abcdefghij".to_vec())]
    );
    assert_eq!(
        stream(&out, 0, Dir::ToClient),
        vec![Piece::Bytes(b"server first".to_vec())]
    );
    assert_eq!(conn_of(&out, 0).path.as_deref(), Some("10.0.0.9:80"));
    assert!(closes(&out).is_empty(), "no close at the end of input");

    // A --port makes the higher port the server; otherwise the lower one is.
    let a = ([10, 0, 0, 1], 1234);
    let b = ([10, 0, 0, 2], 9000);
    let pkts = vec![(T0, tcp(a, b, 1, 1, "A", b"x"))];
    let file = pcap_file(101, false, false, &pkts);
    let (_, out) = read_all(&file, &[9000]);
    assert!(matches!(
        &out[1],
        Ev::Data {
            dir: Dir::ToServer,
            ..
        }
    ));
    let (_, out) = read_all(&file, &[]);
    assert!(matches!(
        &out[1],
        Ev::Data {
            dir: Dir::ToClient,
            ..
        }
    ));
}

#[test]
fn holes_left_at_the_end_become_gaps() {
    let pkts = vec![
        (T0, tcp(CLI, SRV, 1000, 0, "S", b"")),
        (T0 + 1, tcp(CLI, SRV, 1001, 0, "A", b"ab")),
        (T0 + 2, tcp(CLI, SRV, 1010, 0, "A", b"xy")),
    ];
    let (r, out) = read_all(&pcap_file(101, false, false, &pkts), &[]);
    assert_eq!(r.unwrap().gap_bytes, 7);
    assert_eq!(
        stream(&out, 0, Dir::ToServer),
        vec![
            Piece::Bytes(b"ab".to_vec()),
            Piece::Gap(7),
            Piece::Bytes(b"xy".to_vec())
        ]
    );
}

#[test]
fn an_ack_past_a_hole_releases_the_gap() {
    let pkts = vec![
        (T0, tcp(CLI, SRV, 1000, 0, "S", b"")),
        (T0 + 1, tcp(CLI, SRV, 1001, 0, "A", b"ab")),
        (T0 + 2, tcp(CLI, SRV, 1010, 0, "A", b"xy")),
        (T0 + 3, tcp(SRV, CLI, 0, 1012, "A", b"")),
        (T0 + 4, tcp(SRV, CLI, 0, 1012, "A", b"ok")),
    ];
    let (r, out) = read_all(&pcap_file(101, false, false, &pkts), &[]);
    assert_eq!(r.unwrap().gap_bytes, 7);
    let gap = out
        .iter()
        .position(|e| matches!(e, Ev::Gap { .. }))
        .unwrap();
    let ok = out
        .iter()
        .position(|e| {
            matches!(
                e,
                Ev::Data {
                    dir: Dir::ToClient,
                    ..
                }
            )
        })
        .unwrap();
    assert!(gap < ok, "released by the ACK, not at the end");
    assert_eq!(
        out[gap],
        Ev::Gap {
            id: 0,
            dir: Dir::ToServer,
            offset: 2,
            len: 7
        }
    );
}

#[test]
fn holding_is_bounded() {
    let mut pkts = vec![(T0, tcp(CLI, SRV, 1000, 0, "S", b""))];
    // The first 1000 bytes never come; 5 MiB after them wait, then give up.
    let chunk = vec![7u8; 60_000];
    let mut seq = 2001u32;
    for i in 0..90 {
        pkts.push((T0 + i, tcp(CLI, SRV, seq, 0, "A", &chunk)));
        seq += chunk.len() as u32;
    }
    let (r, out) = read_all(&pcap_file(101, false, false, &pkts), &[]);
    let s = r.unwrap();
    assert_eq!(s.gap_bytes, 1000);
    assert_eq!(s.bytes, 90 * 60_000);
    // The gap was released before the end of input, by the limit.
    let gap = out
        .iter()
        .position(|e| matches!(e, Ev::Gap { .. }))
        .unwrap();
    let data_after = out[gap..]
        .iter()
        .filter(|e| matches!(e, Ev::Data { .. }))
        .count();
    assert!(data_after > 0);
}

#[test]
fn other_link_types_and_ipv6() {
    let ip6 = |src: u16, dst: u16, seq: u32, flags: &str, p: &[u8]| {
        let mut h = TcpHeader::new(src, dst, seq, 1000);
        h.syn = flags.contains('S');
        let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp_header(h);
        let mut out = vec![];
        b.write(&mut out, p).unwrap();
        out
    };
    let v6 = [
        ip6(40000, 10000, 5, "S", b""),
        ip6(40000, 10000, 6, "", b"over v6"),
    ];
    let mut sll = vec![];
    for p in &v6 {
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&[0x86, 0xdd]);
        f.extend_from_slice(p);
        sll.push((T0, f));
    }
    let mut null = vec![];
    for p in &v6 {
        let mut f = 30u32.to_be_bytes().to_vec();
        f.extend_from_slice(p);
        null.push((T0, f));
    }
    let udp = {
        let b = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9).udp(53, 53);
        let mut out = vec![];
        b.write(&mut out, b"dns").unwrap();
        out
    };
    sll.push((T0, {
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&udp);
        f
    }));
    for (lt, frames) in [(113, sll), (0, null)] {
        let (r, out) = read_all(&pcap_file(lt, false, false, &frames), &[]);
        let s = r.unwrap();
        assert_eq!(s.skipped_packets, u64::from(lt == 113));
        assert_eq!(
            stream(&out, 0, Dir::ToServer),
            vec![Piece::Bytes(b"over v6".to_vec())]
        );
        assert_eq!(
            conn_of(&out, 0).path.as_deref(),
            Some("[202:202:202:202:202:202:202:202]:10000")
        );
    }
}

/// A pcapng file as another tool would write it: one interface, no if_tsresol (µs).
fn foreign_pcapng(
    endianness: Endianness,
    linktype: DataLink,
    frames: &[(u64, Vec<u8>)],
) -> Vec<u8> {
    let shb = SectionHeaderBlock {
        endianness,
        ..Default::default()
    };
    let mut w = PcapNgWriter::with_section_header(Vec::new(), shb).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype,
        snaplen: 0,
        options: vec![InterfaceDescriptionOption::IfName(Cow::Borrowed("eth0"))],
    })
    .unwrap();
    for (ts_us, f) in frames {
        // pcap-file writes the Duration's nanoseconds as the raw count of units.
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(*ts_us),
            original_len: f.len() as u32,
            data: Cow::Borrowed(f),
            options: vec![],
        })
        .unwrap();
    }
    w.into_inner()
}

#[test]
fn foreign_pcapng_in_both_byte_orders_with_microsecond_stamps() {
    let us = T0 / 1000;
    let frames = vec![
        (us, tcp(CLI, SRV, 1000, 0, "S", b"")),
        (us + 1, tcp(CLI, SRV, 1001, 0, "A", b"hi")),
    ];
    for e in [Endianness::Little, Endianness::Big] {
        let file = foreign_pcapng(e, DataLink::RAW, &frames);
        let (r, out) = read_all(&file, &[]);
        assert_eq!(r.unwrap().packets, 2);
        let c = conn_of(&out, 0);
        assert_eq!(
            c.path.as_deref(),
            Some("10.0.0.2:8080"),
            "not ours: no interface path"
        );
        assert_eq!(c.first_ns, T0);
        assert!(out.contains(&Ev::Data {
            id: 0,
            dir: Dir::ToServer,
            ts: T0 + 1000,
            writer: Process::default(),
            offset: 0,
            bytes: b"hi".to_vec()
        }));
    }
}

#[test]
fn timestamps_follow_if_tsresol() {
    assert_eq!(timestamp_ns(5, 6, 0), 5000);
    assert_eq!(timestamp_ns(5, 9, 0), 5);
    assert_eq!(timestamp_ns(5000, 12, 0), 5);
    assert_eq!(timestamp_ns(3, 0x80 | 1, 0), 1_500_000_000);
    assert_eq!(timestamp_ns(1, 0, 10), 11_000_000_000);
    assert_eq!(timestamp_ns(u64::MAX, 0, 0), u64::MAX);
    assert_eq!(timestamp_ns(1, 127, 0), 0);
    assert_eq!(timestamp_ns(1, 0xff, -5), 0);
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

/// The server ports of a capture's data segments, by their direction flag.
fn server_ports(file: &[u8]) -> Vec<u16> {
    let mut r = pcap_file::pcapng::PcapNgReader::new(file).unwrap();
    let mut ports = Vec::new();
    while let Some(block) = r.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(p) = block.unwrap() {
            let s = etherparse::SlicedPacket::from_ethernet(&p.data).unwrap();
            if let Some(etherparse::TransportSlice::Tcp(t)) = s.transport {
                if !t.payload().is_empty() {
                    ports.push(t.source_port().min(t.destination_port()));
                }
            }
        }
    }
    ports
}

#[test]
fn ttrpc_connections_get_port_81_and_no_preface() {
    use crate::testsupport::ttrpc::shim_conversation;
    let conv = shim_conversation();
    let conn = Meta {
        id: 0,
        path: Some("/run/containerd/s/0123abcd".into()),
        client: side(11, 100, "containerd"),
        server: side(12, 200, "containerd-shim"),
        first_ns: T0,
    };
    let mut evs = vec![Ev::Open(conn)];
    let mut offset = [0u64; 2];
    for (i, (dir, bytes)) in conv.writes.iter().enumerate() {
        evs.push(Ev::Data {
            id: 0,
            dir: *dir,
            ts: T0 + i as u64,
            writer: w(if dir.is_request() { 100 } else { 200 }, 1, "x"),
            offset: offset[dir.index()],
            bytes: bytes.clone(),
        });
        offset[dir.index()] += bytes.len() as u64;
    }
    evs.push(Ev::Close(0));
    let file = write_capture(&evs);
    let ports = server_ports(&file);
    assert_eq!(
        ports.len(),
        conv.writes.len(),
        "one segment per write, no preface"
    );
    assert!(
        ports
            .iter()
            .all(|&p| p == crate::pcapng::packet::TTRPC_PORT),
        "{ports:?}"
    );
    let (r, out) = read_all(&file, &[]);
    assert!(r.unwrap().mid_connection.is_empty());
    for dir in Dir::BOTH {
        assert_eq!(stream(&out, 0, dir), vec![Piece::Bytes(conv.stream(dir))]);
    }
}

#[test]
fn without_syn_port_81_is_the_ttrpc_server() {
    let shim = ([10, 0, 0, 9], 81);
    let client = ([10, 0, 0, 8], 50000);
    // With the client on a lower port still, only port 81 names the server.
    let low = ([10, 0, 0, 8], 40);
    for c in [client, low] {
        let pkts = vec![
            (T0, tcp(shim, c, 7, 1, "A", b"response")),
            (T0 + 1, tcp(c, shim, 1, 15, "A", b"request")),
        ];
        let (r, out) = read_all(&pcap_file(101, false, false, &pkts), &[]);
        assert_eq!(r.unwrap().mid_connection, vec![0]);
        assert_eq!(
            stream(&out, 0, Dir::ToServer),
            vec![Piece::Bytes(b"request".to_vec())]
        );
        assert_eq!(conn_of(&out, 0).path.as_deref(), Some("10.0.0.9:81"));
    }
}

/// Synthetic HEADERS frames carrying recovered tables come back as seed
/// events at the same stream offsets, and are not part of the bytes.
#[test]
fn seeds_round_trip_through_our_writer() {
    let base = 1_700_000_000_000_000_000;
    let c = Conn {
        id: 0,
        path: Some("/run/containerd/containerd.sock".into()),
        client: side(7000, 900, "dockerd"),
        server: side(7001, 15367, "containerd"),
        first_ns: base,
    };
    let table = crate::recovery::RecoveredTable {
        dir: Dir::ToServer,
        stream: 3,
        end_stream: false,
        block_prefix: vec![],
        entries: vec![(b"content-type".to_vec(), b"application/grpc".to_vec())],
        size: 60,
        max_size: 4096,
        pid: 9,
        comm: "containerd".into(),
    };
    let seed = table.seed_frame();
    let (before, after) = (frames(3), frames(4));
    let data = |dir, ts, offset, bytes: Vec<u8>| Ev::Data {
        id: 0,
        dir,
        ts: base + ts,
        writer: w(900, 901, "dockerd"),
        offset,
        bytes,
    };
    let input = vec![
        Ev::Open(Meta::of(&c)),
        data(Dir::ToServer, 1, 0, before.clone()),
        Ev::Seed {
            id: 0,
            dir: Dir::ToServer,
            offset: before.len() as u64,
            frame: seed.clone(),
        },
        data(Dir::ToServer, 2, before.len() as u64, after.clone()),
        Ev::Seed {
            id: 0,
            dir: Dir::ToClient,
            offset: 0,
            frame: seed.clone(),
        },
        data(Dir::ToClient, 3, 0, frames(2)),
        Ev::Close(0),
    ];
    let file = write_capture(&input);
    let (r, out) = read_all(&file, &[]);
    r.unwrap();
    let seeds = |evs: &[Ev]| -> Vec<(Dir, u64, Vec<u8>)> {
        evs.iter()
            .filter_map(|e| match e {
                Ev::Seed {
                    dir, offset, frame, ..
                } => Some((*dir, *offset, frame.clone())),
                _ => None,
            })
            .collect()
    };
    assert_eq!(seeds(&out), seeds(&input));
    for dir in [Dir::ToServer, Dir::ToClient] {
        assert_eq!(stream(&input, 0, dir), stream(&out, 0, dir), "{dir:?}");
    }
}
