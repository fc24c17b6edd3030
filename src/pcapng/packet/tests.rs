use super::*;
use etherparse::SlicedPacket;

#[test]
fn builds_valid_tcp() {
    let mut out = vec![];
    let a = Endpoint {
        ip: [10, 0, 0, 1],
        port: 1024,
    };
    let b = Endpoint {
        ip: [172, 16, 0, 1],
        port: 80,
    };
    let flags = Flags {
        ack: true,
        psh: true,
        ..Default::default()
    };
    build(&mut out, a, b, 100, 200, flags, b"hello");
    let first = out.clone();
    let p = SlicedPacket::from_ethernet(&first).unwrap();
    let Some(etherparse::TransportSlice::Tcp(tcp)) = p.transport else {
        panic!("no tcp")
    };
    assert_eq!(tcp.sequence_number(), 100);
    assert_eq!(tcp.acknowledgment_number(), 200);
    assert!(tcp.psh() && tcp.ack() && !tcp.syn());
    assert_eq!(tcp.payload(), b"hello");
    let big = vec![7u8; MAX_SEGMENT];
    build(&mut out, a, b, 1, 1, flags, &big);
    assert_eq!(out.len(), 14 + 20 + 20 + MAX_SEGMENT);
}

#[test]
fn adjusted_checksums_match_recomputed_ones() {
    let a = Endpoint {
        ip: [10, 1, 2, 3],
        port: 1025,
    };
    let b = Endpoint {
        ip: [172, 16, 0, 9],
        port: 80,
    };
    let flags = Flags {
        ack: true,
        psh: true,
        ..Default::default()
    };
    let mut rng = crate::testsupport::Rng::new(1);
    let mut rnd = || rng.next_u64() as usize;
    let (mut before, mut after) = (vec![], vec![]);
    for round in 0..500 {
        let len = 1 + rnd() % 300;
        let mut payload: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        build(&mut before, a, b, round, 7, flags, &payload);
        let start = rnd() % len;
        let end = start + 1 + rnd() % (len - start);
        let fill = if round % 2 == 0 { b'x' } else { rnd() as u8 };
        payload[start..end].fill(fill);
        build(&mut after, a, b, round, 7, flags, &payload);
        // Edit from the TCP header (offset 34 of the frame) on.
        let tcp = 34;
        let check = |f: &[u8]| u16::from_be_bytes([f[tcp + 16], f[tcp + 17]]);
        // As in a file being edited: the old checksum is still in place.
        let mut edited = after.clone();
        edited[tcp + 16..tcp + 18].copy_from_slice(&before[tcp + 16..tcp + 18]);
        let got = adjust_checksum(check(&before), &before[tcp..], &edited[tcp..]);
        assert_eq!(got, check(&after), "round {round}");
    }
}

#[test]
fn checksums_match_etherparse() {
    let a = Endpoint {
        ip: [10, 1, 2, 3],
        port: 1025,
    };
    let b = Endpoint {
        ip: [172, 16, 0, 9],
        port: 80,
    };
    let mut out = vec![];
    for len in [0usize, 1, 2, 3, 5, 1000, 65_495] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let flags = Flags {
            ack: true,
            fin: len == 0,
            ..Default::default()
        };
        build(&mut out, a, b, 0xffff_fff0, 77, flags, &payload);
        let p = SlicedPacket::from_ethernet(&out).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
            panic!("no ipv4")
        };
        let ip_h = ip.header().to_header();
        assert_eq!(ip_h.header_checksum, ip_h.calc_header_checksum());
        let Some(etherparse::TransportSlice::Tcp(tcp)) = &p.transport else {
            panic!("no tcp")
        };
        let want = tcp
            .to_header()
            .calc_checksum_ipv4(&ip_h, tcp.payload())
            .unwrap();
        assert_eq!(tcp.checksum(), want, "payload of {len} bytes");
    }
}
