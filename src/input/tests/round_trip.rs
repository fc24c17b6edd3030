//! Our own writer's captures read back: bytes, writers and times, seeds,
//! ttrpc ports.

use super::*;

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
        .filter(|e| matches!(e, Ev::Data { writer, .. } if writer.thread_comm.is_some_and(|c| c.name() == b"ctr worker=\xff")))
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
fn ttrpc_connections_get_their_port_and_no_preface() {
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

/// Synthetic frames carrying recovered tables (PUSH_PROMISE, and HEADERS
/// as files written before have them) come back as seed events at the
/// same stream offsets, and are not part of the bytes.
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
        // A table as files written before carried it: a HEADERS frame.
        Ev::Seed {
            id: 0,
            dir: Dir::ToClient,
            offset: frames(2).len() as u64,
            frame: crate::testsupport::h2::headers_seed_frame(&table.entries, 4096),
        },
        data(Dir::ToClient, 4, frames(2).len() as u64, frames(1)),
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
