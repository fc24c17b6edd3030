//! The seed frame rebuilds a table in our HPACK decoder; the seeder puts a
//! table right before its header block, holding the connection meanwhile,
//! and lets everything pass unchanged when no table can come.

use super::seeder::EARLY_TICKS;
use super::*;
use crate::decode::h2::frame::{flags, Kind};
use crate::decode::h2::hpack;
use crate::decode::h2::seed::{parse_seed_frame, SEED_STREAM};
use crate::flow::{Conn, FlowEvent, OwnedEvent, Process, Recorder, Side, Sink};
use crate::testsupport::h2::{frame, HpackEncoder};

fn table(dir: Dir, stream: u32, entries: &[(&str, &str)]) -> RecoveredTable {
    let entries: Vec<(Vec<u8>, Vec<u8>)> = entries
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    let size = entries
        .iter()
        .map(|(n, v)| (n.len() + v.len() + 32) as u32)
        .sum();
    RecoveredTable {
        dir,
        stream,
        end_stream: false,
        block_prefix: vec![],
        entries,
        size,
        max_size: 4096,
        pid: 7,
        comm: "containerd".into(),
    }
}

#[test]
fn seed_frame_rebuilds_the_table() {
    let t = table(
        Dir::ToServer,
        5,
        &[
            ("content-type", "application/grpc"),
            (":path", "/containerd.services.tasks.v1.Tasks/Get"),
        ],
    );
    assert_eq!(t.check(), Ok(()));
    let f = t.seed_frame();
    let (stream, block) = parse_seed_frame(&f).expect("a seed frame");
    assert_eq!(stream, SEED_STREAM);
    // A decoder that saw nothing of the connection.
    let mut d = hpack::Decoder::new(false);
    d.decode(block).unwrap();
    // Index 62 is the newest entry, 63 the one before: exact now.
    let b = d.decode(&[0x80 | 62, 0x80 | 63]).unwrap();
    assert!(b.fields[0]
        .value
        .is(b"/containerd.services.tasks.v1.Tasks/Get"));
    assert!(b.fields[1].value.is(b"application/grpc"));
    // Anything older than the recovered entries does not exist.
    assert!(d.table().is_synced());
    assert!(d.decode(&[0x80 | 64]).unwrap().desync.is_some());
    assert!(parse_seed_frame(&f[..f.len() - 1]).is_none());
}

#[test]
fn checks_catch_a_wrong_layout() {
    let mut t = table(Dir::ToServer, 1, &[("a", "b")]);
    t.size += 1;
    assert_eq!(t.check(), Err(Invalid::SizeMismatch));
    let t = table(Dir::ToServer, 1, &[("Bad Name", "b")]);
    assert_eq!(t.check(), Err(Invalid::BadName));
}

/// What the sinks got, one line an event, seeds included (what the
/// sniffer in front told is left out: see [`open_grpc`]).
fn lines(rec: &Recorder) -> Vec<String> {
    rec.events
        .iter()
        .filter_map(|(_, _, ev)| {
            Some(match ev {
                OwnedEvent::Open => "open".to_string(),
                OwnedEvent::Protocol(_) => return None,
                OwnedEvent::Data {
                    dir, offset, bytes, ..
                } => format!("data {dir:?} {offset}+{}", bytes.len()),
                OwnedEvent::Gap { dir, offset, len } => format!("gap {dir:?} {offset}+{len}"),
                OwnedEvent::Seed { dir, offset, .. } => format!("seed {dir:?} @{offset}"),
                OwnedEvent::Close => "close".to_string(),
            })
        })
        .collect()
}

/// What the uprobes read for `t`, on the server socket of [`conn`].
fn table_of(t: &RecoveredTable) -> Learned {
    Learned {
        sockets: [11, 10],
        ts_ns: 0,
        found: Found::Table(Box::new(t.clone())),
    }
}

/// A connection opens, and the sniffer in front tells it speaks HTTP/2.
fn open_grpc(s: &mut dyn Sink, c: &Conn) {
    s.event(c, 0, FlowEvent::Open).unwrap();
    s.event(c, 0, FlowEvent::Protocol(Some(crate::flow::Protocol::Grpc)))
        .unwrap();
}

/// A seeder whose server (pid 7) is probed, a log behind it, a connection.
fn probed() -> (Recovery, Seeder, Recorder, Conn) {
    let recovery = Recovery::new(true);
    recovery.set(7, Availability::Probed("/usr/bin/containerd".into()));
    let seeder = Seeder::new(recovery.clone());
    (recovery, seeder, Recorder::default(), conn())
}

fn conn() -> Conn {
    Conn {
        id: 1,
        path: Some("/run/containerd/containerd.sock".into()),
        client: Side {
            ino: 10,
            ..Side::default()
        },
        server: Side {
            ino: 11,
            owner: Process {
                pid: Some(7),
                ..Process::default()
            },
            ..Side::default()
        },
        first_ns: 0,
    }
}

/// A request on a connection that began before the capture: PING, then
/// HEADERS of stream 41 referring to pre-capture entries only.
fn request() -> (Vec<u8>, Vec<u8>) {
    let ping = frame(Kind::Ping, 0, 0, &[0; 8]);
    let headers = frame(
        Kind::Headers,
        flags::END_HEADERS,
        41,
        &[0x83, 0x86, 0xbf, 0xbe],
    );
    (ping, headers)
}

fn data(s: &mut dyn Sink, c: &Conn, dir: Dir, offset: u64, bytes: &[u8]) {
    let w = Process::default();
    s.event(
        c,
        0,
        FlowEvent::Data {
            dir,
            writer: &w,
            offset,
            bytes,
        },
    )
    .unwrap();
}

/// The decoder table the server held for the HEADERS of [`request`].
fn request_table() -> RecoveredTable {
    let mut t = table(Dir::ToServer, 41, &[("content-type", "application/grpc")]);
    t.block_prefix = vec![0x83, 0x86, 0xbf, 0xbe];
    t
}

/// What the sinks get for [`request`] written at once with its table
/// placed: the PING, the seed, then the HEADERS.
fn seeded_request(ping: &[u8], headers: &[u8]) -> [String; 4] {
    let at = ping.len();
    [
        "open".to_string(),
        format!("data ToServer 0+{at}"),
        format!("seed ToServer @{at}"),
        format!("data ToServer {at}+{}", headers.len()),
    ]
}

#[test]
fn a_table_after_its_block_is_placed_before_it() {
    let (recovery, mut seeder, mut log, c) = probed();
    let (ping, headers) = request();
    let mut write = ping.clone();
    write.extend_from_slice(&headers);
    {
        let mut s = seeder.sink(&mut log);
        open_grpc(&mut s, &c);
        data(&mut s, &c, Dir::ToServer, 0, &write);
        // Held from the HEADERS frame on: the response waits too.
        data(&mut s, &c, Dir::ToClient, 0, &ping);
        s.learned(table_of(&request_table())).unwrap();
        data(&mut s, &c, Dir::ToServer, write.len() as u64, &ping);
    }
    let seeded = lines(&log);
    assert_eq!(seeded[..4], seeded_request(&ping, &headers));
    assert_eq!(
        seeded[4..],
        [
            format!("data ToClient 0+{}", ping.len()),
            format!("data ToServer {}+{}", write.len(), ping.len()),
        ]
    );
    assert_eq!(seeder.stats.seeded, 1);
    assert_eq!(
        recovery.take_done(),
        vec![(11, Done::FirstStream(41)), (11, Done::Sides(1))]
    );
}

#[test]
fn a_table_before_its_connection_waits_for_it_by_socket() {
    let (_, mut seeder, mut log, c) = probed();
    let (ping, headers) = request();
    let mut write = ping.clone();
    write.extend_from_slice(&headers);
    let t = request_table();
    {
        let mut s = seeder.sink(&mut log);
        // The uprobe's record comes before the connection's first bytes.
        s.learned(table_of(&t)).unwrap();
        open_grpc(&mut s, &c);
        data(&mut s, &c, Dir::ToServer, 0, &write);
    }
    let seeded = lines(&log);
    assert_eq!(seeded[..4], seeded_request(&ping, &headers));
    assert_eq!(seeded.len(), 4);
    assert_eq!((seeder.stats.seeded, seeder.stats.tables), (1, 1));

    // One for sockets that never show is dropped after a few ticks, counted.
    let mut other = table_of(&t);
    other.sockets = [99, 98];
    {
        let mut s = seeder.sink(&mut log);
        s.learned(other).unwrap();
        for _ in 0..=EARLY_TICKS {
            s.tick().unwrap();
        }
    }
    assert_eq!(seeder.stats.tables_unusable, 1);
}

#[test]
fn a_table_for_another_block_is_not_used() {
    let (_, mut seeder, mut log, c) = probed();
    let (_, headers) = request();
    {
        let mut s = seeder.sink(&mut log);
        open_grpc(&mut s, &c);
        data(&mut s, &c, Dir::ToServer, 0, &headers);
        // Same stream, other bytes: not that block's table.
        let mut t = table(Dir::ToServer, 41, &[("a", "b")]);
        t.block_prefix = vec![0x82];
        s.learned(table_of(&t)).unwrap();
        for _ in 0..seeder::HOLD_TICKS {
            s.tick().unwrap();
        }
    }
    assert_eq!(
        lines(&log),
        [
            "open".to_string(),
            format!("data ToServer 0+{}", headers.len())
        ]
    );
    assert_eq!(seeder.stats.seeded, 0);
    assert_eq!(seeder.stats.timeouts, 1);
}

#[test]
fn without_a_probed_server_nothing_waits() {
    let recovery = Recovery::new(true);
    recovery.set(7, Availability::Unavailable("not a Go program".into()));
    let mut seeder = Seeder::new(recovery);
    let mut log = Recorder::default();
    let c = conn();
    let (_, headers) = request();
    {
        let mut s = seeder.sink(&mut log);
        open_grpc(&mut s, &c);
        data(&mut s, &c, Dir::ToServer, 0, &headers);
    }
    assert_eq!(lines(&log).len(), 2);
    assert_eq!(seeder.stats.unavailable.get("not a Go program"), Some(&1));
}

#[test]
fn an_encoder_table_before_its_block_is_used_at_once() {
    let (_, mut seeder, mut log, c) = probed();
    let mut enc = HpackEncoder::new(4096);
    let block = enc.encode(&[("grpc-status", "5")], false);
    let trailers = frame(
        Kind::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        41,
        &block,
    );
    {
        let mut s = seeder.sink(&mut log);
        open_grpc(&mut s, &c);
        let mut t = table(Dir::ToClient, 41, &[(":status", "200")]);
        t.end_stream = true;
        s.learned(table_of(&t)).unwrap();
        data(&mut s, &c, Dir::ToClient, 0, &trailers);
    }
    assert_eq!(
        lines(&log),
        [
            "open".to_string(),
            "seed ToClient @0".to_string(),
            format!("data ToClient 0+{}", trailers.len()),
        ]
    );
}

#[test]
fn a_fresh_connection_whose_server_writes_first_gets_no_seed() {
    let (recovery, mut seeder, mut log, c) = probed();
    let settings = frame(Kind::Settings, 0, 0, &[]);
    let mut enc = HpackEncoder::new(4096);
    let headers = frame(
        Kind::Headers,
        flags::END_HEADERS,
        1,
        &enc.encode(&[(":status", "200")], false),
    );
    let mut preface = crate::decode::sniff::PREFACE.to_vec();
    preface.extend_from_slice(&settings);
    {
        let mut s = seeder.sink(&mut log);
        open_grpc(&mut s, &c);
        // The server's SETTINGS before it read the preface, then the client.
        data(&mut s, &c, Dir::ToClient, 0, &settings);
        data(&mut s, &c, Dir::ToServer, 0, &preface);
        let mut t = table(Dir::ToClient, 1, &[]);
        t.size = 0;
        s.learned(table_of(&t)).unwrap();
        data(&mut s, &c, Dir::ToClient, settings.len() as u64, &headers);
    }
    assert!(
        lines(&log).iter().all(|l| !l.starts_with("seed")),
        "{:?}",
        lines(&log)
    );
    assert_eq!(seeder.stats.seeded, 0);
    assert_eq!(recovery.take_done()[0], (11, Done::Sides(7)));
}
