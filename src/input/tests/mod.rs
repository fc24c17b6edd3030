//! Tests of the offline reader, one file per concern; here the sink that
//! records what the reader delivers and the captures the tests read.

mod errors;
mod formats;
mod round_trip;
mod tcp;

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
use crate::flow::{Comm, Conn, Dir, FlowEvent, OwnedEvent, Process, Recorder, Side};
use crate::pcapng::PcapngWriter;

// ---- what the reader delivers, and what the writer is fed ----

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

/// What the reader delivered, in the tests' terms (what the sniffing
/// stage told is left out: the tests that read ports check the writer's
/// choice).
fn evs_of(rec: &Recorder) -> Vec<Ev> {
    rec.events
        .iter()
        .filter_map(|(conn, ts, ev)| {
            let id = conn.id;
            Some(match ev {
                OwnedEvent::Open => Ev::Open(Meta::of(conn)),
                OwnedEvent::Protocol(_) => return None,
                OwnedEvent::Data {
                    dir,
                    writer,
                    offset,
                    bytes,
                } => Ev::Data {
                    id,
                    dir: *dir,
                    ts: *ts,
                    writer: *writer,
                    offset: *offset,
                    bytes: bytes.clone(),
                },
                OwnedEvent::Gap { dir, offset, len } => Ev::Gap {
                    id,
                    dir: *dir,
                    offset: *offset,
                    len: *len,
                },
                OwnedEvent::Close => Ev::Close(id),
                OwnedEvent::Seed {
                    dir, offset, frame, ..
                } => Ev::Seed {
                    id,
                    dir: *dir,
                    offset: *offset,
                    frame: frame.clone(),
                },
            })
        })
        .collect()
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

fn closes(evs: &[Ev]) -> Vec<ConnId> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Close(id) => Some(*id),
            _ => None,
        })
        .collect()
}

fn read_all(bytes: &[u8], ports: &[u16]) -> (Result<ReadSummary, ReadError>, Vec<Ev>) {
    let mut rec = Recorder::default();
    let opts = ReadOptions {
        http2_ports: ports.to_vec(),
    };
    let r = read(bytes, &opts, &mut rec);
    (r, evs_of(&rec))
}

// ---- round trip through our own writer ----

/// A writer whose thread has its process's name.
fn w(pid: u32, tid: u32, comm: &str) -> Process {
    Process::thread(pid, tid, Comm::from_name(comm)).with_thread_comm(Comm::from_name(comm))
}

/// A writer whose thread has a name of its own.
fn w_named(pid: u32, tid: u32, comm: &str, thread: &[u8]) -> Process {
    Process::thread(pid, tid, Comm::from_name(comm))
        .with_thread_comm(Comm::from_bytes(thread).unwrap())
}

fn side(ino: u64, pid: u32, comm: &str) -> Side {
    Side {
        ino,
        owner: Process {
            pid: Some(pid),
            tid: None,
            comm: Some(Comm::from_name(comm)),
            ..Default::default()
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
    let ctr2 = w_named(17013, 17020, "ctr", b"ctr worker=\xff");
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
