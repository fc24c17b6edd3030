use super::*;
use etherparse::PacketBuilder;

fn v4(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(1234, 80, 7, 100);
    let mut out = vec![];
    b.write(&mut out, payload).unwrap();
    out
}

#[test]
fn every_link_type_reaches_tcp() {
    let ip = v4(b"hello");
    let mut sll = vec![0u8; 14];
    sll.extend_from_slice(&[0x08, 0x00]);
    sll.extend_from_slice(&ip);
    let mut sll2 = vec![0x08, 0x00];
    sll2.extend_from_slice(&[0u8; 18]);
    sll2.extend_from_slice(&ip);
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&ip);
    let mut eth = vec![0u8; 12];
    eth.extend_from_slice(&[0x08, 0x00]);
    eth.extend_from_slice(&ip);
    for (lt, frame) in [
        (RAW, &ip),
        (LINUX_SLL, &sll),
        (LINUX_SLL2, &sll2),
        (NULL, &null),
        (ETHERNET, &eth),
    ] {
        let s = tcp_segment(lt, frame).unwrap_or_else(|| panic!("linktype {lt}"));
        assert_eq!(s.payload, b"hello");
        assert_eq!(&frame[s.payload_at..], b"hello");
        assert_eq!(s.tcp_at + 20, s.payload_at);
        assert_eq!(s.dst.port(), 80);
        assert_eq!(s.seq, 7);
        assert_eq!(s.missing, 0);
    }
}

#[test]
fn ipv6_and_snapped_frames() {
    let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1234, 80, 9, 100);
    let mut ip = vec![];
    b.write(&mut ip, b"0123456789").unwrap();
    let s = tcp_segment(RAW, &ip).unwrap();
    assert!(s.src.is_ipv6());
    assert_eq!(s.payload, b"0123456789");
    let cut = &ip[..ip.len() - 4];
    let s = tcp_segment(RAW, cut).unwrap();
    assert_eq!(s.payload, b"012345");
    assert_eq!(s.missing, 4);
}

#[test]
fn other_protocols_and_garbage_are_none() {
    let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(1, 2);
    let mut udp = vec![];
    b.write(&mut udp, b"x").unwrap();
    assert!(tcp_segment(RAW, &udp).is_none());
    for n in 0..40 {
        let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
        for lt in [NULL, ETHERNET, RAW, LINUX_SLL, LINUX_SLL2] {
            let _ = tcp_segment(lt, &junk);
        }
    }
    let ip = v4(b"abc");
    for n in 0..ip.len() {
        let _ = tcp_segment(RAW, &ip[..n]);
    }
}
