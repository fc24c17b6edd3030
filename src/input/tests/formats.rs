//! Link types, IPv6, foreign pcapng in both byte orders, timestamp
//! resolution.

use super::*;

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
