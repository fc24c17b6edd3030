use super::*;
use crate::capture::record::{Payload, Record, Socket};
use crate::flow::{Comm, OwnedEvent, Recorder};

/// What the tracker delivered, one line an event.
fn lines(rec: &Recorder) -> Vec<String> {
    rec.events
        .iter()
        .map(|(conn, _, ev)| match ev {
            OwnedEvent::Open => format!("{} open {:?}", conn.id, conn.path),
            OwnedEvent::Protocol(p) => format!("{} speaks {p:?}", conn.id),
            OwnedEvent::Close => format!("{} close", conn.id),
            OwnedEvent::Data {
                dir, offset, bytes, ..
            } => format!(
                "{} {dir:?} @{offset} {}",
                conn.id,
                String::from_utf8_lossy(bytes)
            ),
            OwnedEvent::Gap { dir, offset, len } => {
                format!("{} {dir:?} gap @{offset}+{len}", conn.id)
            }
            OwnedEvent::Seed { dir, offset, .. } => format!("{} {dir:?} seed @{offset}", conn.id),
        })
        .collect()
}

fn writer(pid: u32) -> Process {
    Process::thread(pid, pid, Comm::from_name("t"))
}

/// Client socket 10 (unbound) talking to server socket 11 (bound).
fn sock(server: bool) -> Socket {
    let (ino, peer_ino) = if server { (11, 10) } else { (10, 11) };
    Socket {
        ino,
        peer_ino,
        peer_pid: 0,
        bound: server,
        peer_bound: !server,
    }
}

fn data(server: bool, offset: u64, bytes: &'static [u8]) -> Record<'static> {
    Record {
        mono_ns: 1,
        writer: writer(if server { 2 } else { 1 }),
        socket: sock(server),
        cgroup: 0,
        payload: Payload::Data { offset, bytes },
    }
}

fn close(server: bool, final_offset: u64) -> Record<'static> {
    Record {
        payload: Payload::Close { final_offset },
        ..data(server, 0, b"")
    }
}

#[test]
fn pairs_both_sockets_into_one_connection() {
    let mut t = Tracker::new(0);
    let mut log = Recorder::default();
    let info = Record {
        payload: Payload::Info {
            path: Some("/run/x.sock".into()),
            fresh: false,
        },
        ..data(false, 0, b"")
    };
    t.record(&info, &mut log).unwrap();
    t.record(&data(false, 0, b"ping"), &mut log).unwrap();
    t.record(&data(true, 0, b"pong"), &mut log).unwrap();
    assert_eq!(
        lines(&log),
        [
            "0 open Some(\"/run/x.sock\")",
            "0 ToServer @0 ping",
            "0 ToClient @0 pong"
        ]
    );
    assert_eq!(t.stats.connections, 1);
}

#[test]
fn reorders_and_declares_gaps_of_exact_size() {
    let mut t = Tracker::new(0);
    let mut log = Recorder::default();
    t.record(&data(false, 0, b"ab"), &mut log).unwrap();
    // Two threads: the later range arrives first and waits.
    t.record(&data(false, 4, b"ef"), &mut log).unwrap();
    t.record(&data(false, 2, b"cd"), &mut log).unwrap();
    // A range that never comes: released after the wait.
    t.record(&data(false, 10, b"kl"), &mut log).unwrap();
    for _ in 0..=HOLD_TICKS + 1 {
        t.tick(&mut log).unwrap();
    }
    assert_eq!(
        lines(&log)[1..],
        [
            "0 ToServer @0 ab",
            "0 ToServer @2 cd",
            "0 ToServer @4 ef",
            "0 ToServer gap @6+4",
            "0 ToServer @10 kl"
        ]
    );
    assert_eq!(t.stats.gap_bytes, 4);
}

#[test]
fn close_reports_trailing_loss_and_forgets_the_connection() {
    let mut t = Tracker::new(0);
    let mut log = Recorder::default();
    t.record(&data(false, 0, b"ab"), &mut log).unwrap();
    // The last 3 bytes the client sent were lost.
    t.record(&close(false, 5), &mut log).unwrap();
    // The server's last write, made before its close but late from
    // another CPU, still belongs to the connection.
    t.tick(&mut log).unwrap();
    t.record(&data(true, 0, b"yz"), &mut log).unwrap();
    for _ in 0..=CLOSE_TICKS {
        t.tick(&mut log).unwrap();
    }
    // The server's close after the connection ended opens nothing new.
    t.record(&close(true, 2), &mut log).unwrap();
    t.tick(&mut log).unwrap();
    assert_eq!(
        lines(&log)[1..],
        [
            "0 ToServer @0 ab",
            "0 ToServer gap @2+3",
            "0 ToClient @0 yz",
            "0 close"
        ]
    );
    assert_eq!(t.stats.open, 0);
    assert_eq!(t.stats.connections, 1);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut t = Tracker::new(0);
    let mut log = Recorder::default();
    t.record(&data(true, 0, b"abcd"), &mut log).unwrap();
    t.record(&data(true, 2, b"cdef"), &mut log).unwrap();
    t.record(&data(true, 1, b"bc"), &mut log).unwrap();
    assert_eq!(lines(&log)[1..], ["0 ToClient @0 abcd", "0 ToClient @4 ef"]);
    assert_eq!(t.stats.stale_bytes, 4);
    assert_eq!(t.stats.resets, 0);
}

#[test]
fn offsets_that_start_again_are_a_counted_restart() {
    let mut t = Tracker::new(0);
    let mut log = Recorder::default();
    t.record(&data(true, 0, b"abcd"), &mut log).unwrap();
    // The tracer's state for the socket was lost and made again: its
    // offsets start at 0 (here without the fresh-state record, lost too).
    t.record(&data(true, 0, b"xy"), &mut log).unwrap();
    t.record(&data(true, 2, b"z"), &mut log).unwrap();
    assert_eq!(
        lines(&log)[1..],
        ["0 ToClient @0 abcd", "0 ToClient @4 xy", "0 ToClient @6 z"]
    );
    assert_eq!(t.stats.resets, 1);
    assert_eq!(t.stats.stale_bytes, 0);
    // With the fresh-state record, the restart is explicit.
    let info = Record {
        payload: Payload::Info {
            path: None,
            fresh: true,
        },
        ..data(true, 0, b"")
    };
    t.record(&info, &mut log).unwrap();
    t.record(&data(true, 0, b"q"), &mut log).unwrap();
    assert_eq!(lines(&log).last().unwrap(), "0 ToClient @7 q");
    assert_eq!(t.stats.resets, 2);
}
