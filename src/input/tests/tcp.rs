//! TCP reassembly: reordering, retransmissions, SYN handling, finding the
//! server without a SYN, gaps, holding bounds.

use super::*;

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
fn without_syn_ttrpc_ports_name_the_server() {
    use crate::pcapng::packet::{LEGACY_TTRPC_PORT, TTRPC_PORT};
    // Port 7 as our writer gives ttrpc servers now, 81 as it did before.
    for port in [TTRPC_PORT, LEGACY_TTRPC_PORT] {
        let shim = ([10, 0, 0, 9], port);
        let client = ([10, 0, 0, 8], 50000);
        // With the client on a lower port still, only the ttrpc port names the server.
        let low = ([10, 0, 0, 8], port - 2);
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
            let path = format!("10.0.0.9:{port}");
            assert_eq!(conn_of(&out, 0).path.as_deref(), Some(path.as_str()));
        }
    }
}
