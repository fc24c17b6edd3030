//! Synthetic Ethernet/IPv4/TCP packets for one connection's segments.

use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, TcpHeader};

/// Most TCP payload in one packet: IPv4's 65535-byte total length minus headers.
pub const MAX_SEGMENT: usize = 65535 - 20 - 20;

/// TCP port the server side uses: Wireshark's HTTP dissector hands port 80
/// to HTTP/2 when it sees the client preface.
pub const SERVER_PORT: u16 = 80;

/// TCP port the server side of a ttrpc connection uses: Echo (RFC 862).
/// Wireshark has no ttrpc dissector, and a port with no dissector leaves
/// the bytes to its heuristic dissectors, which read them and may claim
/// them (SMPP did, and flagged the packets malformed). Wireshark's TCP
/// dissector tries the server port's dissector before any heuristic, and
/// its Echo dissector accepts any payload whole, showing it as bytes, with
/// no expert info and nothing that can throw: so no heuristic ever runs on
/// ttrpc, whatever it holds. Our client ports are above 1023, so 7 is also
/// the lower port a capture without the SYN falls back to.
/// `contrib/wireshark/ttrpc.lua` registers here, replacing Echo.
pub const TTRPC_PORT: u16 = 7;

/// The ttrpc server port of files written before [`TTRPC_PORT`]: still
/// read as a server port (`input::tcp`), and `ttrpc.lua` still dissects it.
pub const LEGACY_TTRPC_PORT: u16 = 81;

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
mod tests;
