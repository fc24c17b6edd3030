//! Synthetic Ethernet/IPv4/TCP packets for one connection's segments.

use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, TcpHeader};

/// Most TCP payload in one packet: IPv4's 65535-byte total length minus headers.
pub const MAX_SEGMENT: usize = 65535 - 20 - 20;

/// TCP port the server side uses: Wireshark's HTTP dissector hands port 80
/// to HTTP/2 when it sees the client preface.
pub const SERVER_PORT: u16 = 80;

/// TCP port the server side of a ttrpc connection uses. Wireshark has no
/// ttrpc dissector and none registered on 81 (a "hosts2-ns" port it does
/// not dissect); `contrib/wireshark/ttrpc.lua` registers here.
pub const TTRPC_PORT: u16 = 81;

/// An IPv4 address and TCP port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IPv4 address.
    pub ip: [u8; 4],
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    fn mac(&self) -> [u8; 6] {
        // Locally administered unicast, derived from the address.
        [0x02, 0x00, self.ip[0], self.ip[1], self.ip[2], self.ip[3]]
    }
}

/// TCP flags of a synthetic segment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// ACK (set on all but the first SYN).
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// PSH (set on data).
    pub psh: bool,
}

/// The Internet checksum's running sum (RFC 1071) of `data`, which starts
/// at an even offset of the checksummed range, folded to 16 bits in network
/// byte order. The words are summed in the machine's own byte order and the
/// folded sum swapped once at the end (RFC 1071 section 2(B): the sum is
/// independent of byte order); 32-bit words are the same sum modulo 0xffff.
/// Without a swap per word the loop vectorises: twice as fast as summing
/// big-endian words here, and etherparse's own TCP checksum was most of the
/// recorder's CPU time.
fn sum(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc += u64::from(u32::from_ne_bytes(tail));
    u64::from(carry_fold(acc).to_be())
}

/// A running sum folded to 16 bits, end-around carries added in.
fn carry_fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum of a running sum (its ones' complement).
fn fold(acc: u64) -> u16 {
    !carry_fold(acc)
}

/// The checksum `check` of a range after `old` bytes of it became `new`
/// (same length, starting at an even offset of the range), by RFC 1624
/// equation 3: HC' = ~(~HC + ~m + m'). Works for any TCP or UDP packet
/// without its pseudo-header, and for frames cut by a snap length; a wrong
/// checksum stays wrong by as much.
pub fn adjust_checksum(check: u16, old: &[u8], new: &[u8]) -> u16 {
    let folded = |acc: u64| !fold(acc);
    let acc = u64::from(!check) + u64::from(!folded(sum(old))) + u64::from(folded(sum(new)));
    fold(acc)
}

/// The TCP checksum over the IPv4 pseudo-header, `tcp` (checksum field
/// zero) and `payload`.
fn tcp_checksum(src: [u8; 4], dst: [u8; 4], tcp: &[u8], payload: &[u8]) -> u16 {
    let len = (tcp.len() + payload.len()) as u32;
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&src);
    pseudo[4..8].copy_from_slice(&dst);
    pseudo[9] = 6;
    pseudo[10..].copy_from_slice(&(len as u16).to_be_bytes());
    fold(sum(&pseudo) + sum(tcp) + sum(payload))
}

/// Build one Ethernet frame into `out` (cleared first). `payload` must not
/// exceed MAX_SEGMENT. IPv4 and TCP checksums are computed.
pub fn build(
    out: &mut Vec<u8>,
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    ack: u32,
    flags: Flags,
    payload: &[u8],
) {
    let payload = &payload[..payload.len().min(MAX_SEGMENT)];
    out.clear();
    let mut tcp = TcpHeader::new(src.port, dst.port, seq, 65535);
    tcp.syn = flags.syn;
    tcp.fin = flags.fin;
    tcp.psh = flags.psh;
    tcp.ack = flags.ack;
    tcp.acknowledgment_number = if flags.ack { ack } else { 0 };
    let tcp_bytes = tcp.to_bytes();
    tcp.checksum = tcp_checksum(src.ip, dst.ip, &tcp_bytes, payload);
    // MAX_SEGMENT keeps the IPv4 total length within 65535.
    let ip_payload = (tcp.header_len() + payload.len()) as u16;
    let Ok(mut ip) = Ipv4Header::new(ip_payload, 64, IpNumber::TCP, src.ip, dst.ip) else {
        unreachable!("a {}-byte segment fits an IPv4 packet", payload.len());
    };
    ip.dont_fragment = true;
    ip.header_checksum = ip.calc_header_checksum();
    let eth = Ethernet2Header {
        source: src.mac(),
        destination: dst.mac(),
        ether_type: EtherType::IPV4,
    };
    out.reserve(14 + 20 + tcp.header_len() + payload.len());
    out.extend_from_slice(&eth.to_bytes());
    out.extend_from_slice(&ip.to_bytes());
    out.extend_from_slice(&tcp.to_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
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
}
