//! Synthetic Ethernet/IPv4/TCP packets for one connection's segments.

use etherparse::{PacketBuilder, TcpHeader};

/// Most TCP payload in one packet: IPv4's 65535-byte total length minus headers.
pub const MAX_SEGMENT: usize = 65535 - 20 - 20;

/// TCP port the server side uses: Wireshark's HTTP dissector hands port 80
/// to HTTP/2 when it sees the client preface.
pub const SERVER_PORT: u16 = 80;

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
    debug_assert!(payload.len() <= MAX_SEGMENT);
    out.clear();
    let mut tcp = TcpHeader::new(src.port, dst.port, seq, 65535);
    tcp.syn = flags.syn;
    tcp.fin = flags.fin;
    tcp.psh = flags.psh;
    tcp.ack = flags.ack;
    tcp.acknowledgment_number = if flags.ack { ack } else { 0 };
    let builder = PacketBuilder::ethernet2(src.mac(), dst.mac())
        .ipv4(src.ip, dst.ip, 64)
        .tcp_header(tcp);
    out.reserve(builder.size(payload.len()));
    // Writing into a Vec cannot fail, and the payload fits an IPv4 packet.
    if let Err(e) = builder.write(out, payload) {
        unreachable!("building a {}-byte segment: {e}", payload.len());
    }
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
}
