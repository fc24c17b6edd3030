//! The sniffing stage: one verdict per connection, before its bytes, with
//! what was held replayed in order behind it; bounded while undecided.

use super::*;
use crate::flow::Recorder;
use crate::testsupport::flow::{conn, play};
use crate::testsupport::h2::Conv;
use crate::testsupport::ttrpc::shim_conversation;

/// Plays `writes` of connection `id` (after `Open`) into `s`.
fn feed(s: &mut Sniffing<'_>, id: ConnId, writes: &[(Dir, Vec<u8>)]) {
    play(s, &conn(id), writes);
}

/// The events of connection `id` the sinks got, in order.
fn of(rec: &Recorder, id: ConnId) -> Vec<&OwnedEvent> {
    rec.events
        .iter()
        .filter(|(c, _, _)| c.id == id)
        .map(|(_, _, e)| e)
        .collect()
}

#[test]
fn one_verdict_per_connection_before_its_bytes() {
    let mut rec = Recorder::default();
    let mut sniffer = Sniffer::new();
    let mut h2 = Conv::new();
    h2.start();
    h2.unary(
        1,
        "/containerd.services.version.v1.Version/Version",
        b"",
        b"",
    );
    {
        let mut s = sniffer.sink(&mut rec);
        feed(&mut s, 1, &h2.writes);
        feed(&mut s, 2, &shim_conversation().writes);
        feed(
            &mut s,
            3,
            &[
                (Dir::ToServer, b"GET / HTTP/1.1\r\n\r\n".to_vec()),
                (Dir::ToClient, b"HTTP/1.1 200 OK\r\n\r\n".to_vec()),
            ],
        );
        feed(&mut s, 4, &[]);
        feed(
            &mut s,
            5,
            &[
                (Dir::ToServer, b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
                (Dir::ToClient, b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
            ],
        );
        for id in 1..=5 {
            s.event(&conn(id), 99, FlowEvent::Close).unwrap();
        }
    }
    for (id, want, writes) in [
        (1, Some(Protocol::Grpc), h2.writes.len()),
        (2, Some(Protocol::Ttrpc), shim_conversation().writes.len()),
        (3, Some(Protocol::Http1), 2),
        (5, None, 2),
    ] {
        let evs = of(&rec, id);
        assert_eq!(evs[0], &OwnedEvent::Open);
        assert_eq!(evs[1], &OwnedEvent::Protocol(want), "connection {id}");
        let told = evs
            .iter()
            .filter(|e| matches!(e, OwnedEvent::Protocol(_)))
            .count();
        assert_eq!(told, 1, "connection {id} is told once");
        // Every write, in order, behind the verdict.
        let data: Vec<_> = evs[2..evs.len() - 1]
            .iter()
            .map(|e| matches!(e, OwnedEvent::Data { .. }))
            .collect();
        assert_eq!(data, vec![true; writes], "connection {id}");
    }
    // A connection that never carried a byte is told nothing.
    assert_eq!(of(&rec, 4), [&OwnedEvent::Open, &OwnedEvent::Close]);
    assert!(sniffer.is_empty(), "closed connections are forgotten");
}

#[test]
fn bytes_held_while_undecided_are_bounded() {
    let mut rec = Recorder::default();
    let mut sniffer = Sniffer::new();
    // Zeros: ttrpc-like first bytes that never decide, from the client only.
    let writes: Vec<(Dir, Vec<u8>)> = (0..20)
        .map(|_| (Dir::ToServer, vec![0u8; 8 << 10]))
        .collect();
    feed(&mut sniffer.sink(&mut rec), 1, &writes);
    let evs = of(&rec, 1);
    let told = evs
        .iter()
        .position(|e| matches!(e, OwnedEvent::Protocol(None)))
        .expect("told neither");
    // Everything held came out behind the verdict; nothing is held now.
    assert_eq!(evs.len(), 2 + writes.len());
    let held_before: usize = writes.iter().take(told).map(|(_, b)| b.len()).sum();
    assert!(held_before <= HOLD_LIMIT + (8 << 10), "{held_before}");
}

#[test]
fn a_seed_means_http2_and_ticks_end_a_wait() {
    let mut rec = Recorder::default();
    let mut sniffer = Sniffer::new();
    {
        let mut s = sniffer.sink(&mut rec);
        // Five bytes of a preface: not enough to tell.
        feed(&mut s, 1, &[(Dir::ToServer, b"PRI *".to_vec())]);
        let seed = FlowEvent::Seed {
            dir: Dir::ToServer,
            offset: 5,
            frame: b"\0\0\0\x01\x05\x7f\xff\xff\xff",
            origin: "test",
        };
        s.event(&conn(1), 20, seed).unwrap();
        // A lone ttrpc data frame is not enough either; live, ticks decide.
        let data = crate::testsupport::ttrpc::frame(3, 3, 0, b"\x08\x01");
        feed(&mut s, 2, &[(Dir::ToClient, data)]);
        for _ in 1..HOLD_TICKS {
            s.tick().unwrap();
        }
        assert_eq!(of(&rec, 2), [&OwnedEvent::Open], "still waiting");
        let mut s = sniffer.sink(&mut rec);
        s.tick().unwrap();
    }
    assert_eq!(of(&rec, 1)[1], &OwnedEvent::Protocol(Some(Protocol::Grpc)));
    assert!(matches!(of(&rec, 1)[2], OwnedEvent::Data { .. }));
    assert!(matches!(of(&rec, 1)[3], OwnedEvent::Seed { .. }));
    assert_eq!(of(&rec, 2)[1], &OwnedEvent::Protocol(None));
    assert!(matches!(of(&rec, 2)[2], OwnedEvent::Data { .. }));
}

/// The sinks are told nothing until both sides were heard, so the first
/// event they get already names the process that answers (live, the
/// source learns it from that process's first write).
#[test]
fn the_sinks_learn_both_sides_before_the_first_event() {
    let mut rec = Recorder::default();
    let mut sniffer = Sniffer::new();
    let conv = shim_conversation();
    let shim = crate::flow::Process::thread(7, 7, crate::flow::Comm::from_name("shim"));
    let mut c = conn(1);
    sniffer
        .sink(&mut rec)
        .event(&c, 1, FlowEvent::Open)
        .unwrap();
    let mut offset = [0u64; 2];
    for (i, (dir, bytes)) in conv.writes.iter().take(2).enumerate() {
        {
            if *dir == Dir::ToClient {
                // The source names the server at its first write.
                c.server.owner = shim;
            }
            let ev = FlowEvent::Data {
                dir: *dir,
                writer: &shim,
                offset: offset[dir.index()],
                bytes,
            };
            offset[dir.index()] += bytes.len() as u64;
            sniffer.sink(&mut rec).event(&c, 10 + i as u64, ev).unwrap();
        }
        if i == 0 {
            // The client's request decided ttrpc, but the server was not
            // heard: nothing is told yet.
            assert_eq!(rec.events.len(), 1, "{:?}", rec.events);
        }
    }
    let told: Vec<_> = rec.events.iter().skip(1).collect();
    assert_eq!(told[0].2, OwnedEvent::Protocol(Some(Protocol::Ttrpc)));
    assert_eq!(told.len(), 3);
    assert!(told.iter().all(|(c, _, _)| c.server.owner == shim));
}

#[test]
fn a_silent_side_is_not_waited_for_past_the_ticks() {
    let mut rec = Recorder::default();
    let mut sniffer = Sniffer::new();
    let request = shim_conversation().writes[0].clone();
    {
        let mut s = sniffer.sink(&mut rec);
        feed(&mut s, 1, &[request]);
        for _ in 1..HOLD_TICKS {
            s.tick().unwrap();
        }
    }
    assert_eq!(of(&rec, 1), [&OwnedEvent::Open], "still waiting");
    sniffer.sink(&mut rec).tick().unwrap();
    assert_eq!(of(&rec, 1)[1], &OwnedEvent::Protocol(Some(Protocol::Ttrpc)));
    assert_eq!(of(&rec, 1).len(), 3);
}

#[test]
fn a_silent_side_is_not_waited_for_past_the_event_time_bound() {
    let mut rec = Recorder::default();
    let mut sniffer = Sniffer::new();
    let request = shim_conversation().writes[0].clone();
    let writer = crate::flow::Process::thread(1, 1, crate::flow::Comm::from_name("w"));
    {
        let mut s = sniffer.sink(&mut rec);
        s.event(&conn(1), 1, FlowEvent::Open).unwrap();
        let ev = FlowEvent::Data {
            dir: request.0,
            writer: &writer,
            offset: 0,
            bytes: &request.1,
        };
        s.event(&conn(1), 100, ev).unwrap();
        // Another connection's events at later times: only past the bound
        // is the silent one told.
        s.event(&conn(2), 100 + HOLD_NS, FlowEvent::Open).unwrap();
    }
    assert_eq!(of(&rec, 1), [&OwnedEvent::Open]);
    let close = FlowEvent::Close;
    sniffer
        .sink(&mut rec)
        .event(&conn(2), 101 + HOLD_NS, close)
        .unwrap();
    assert_eq!(of(&rec, 1)[1], &OwnedEvent::Protocol(Some(Protocol::Ttrpc)));
    let mut sizes = Sizes::default();
    sniffer.sizes(&mut sizes);
    assert_eq!(sizes.get("sniffer.waiting"), Some(0));
}
