//! From a captured frame to the TCP segment inside it, for the link types
//! the reader understands. Header parsing is etherparse's, in its lax mode
//! so that frames cut by a snap length still yield their first bytes.

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// LINKTYPE_NULL: BSD loopback, a 4-byte address family in the writer's byte order.
const NULL: u32 = 0;
/// LINKTYPE_ETHERNET.
const ETHERNET: u32 = 1;
/// DLT_RAW as some platforms number it in pcap files (12 on most BSDs, 14 on OpenBSD).
const RAW_12: u32 = 12;
const RAW_14: u32 = 14;
/// LINKTYPE_RAW: the frame is an IPv4 or IPv6 packet.
const RAW: u32 = 101;
/// LINKTYPE_LOOP: OpenBSD loopback, the address family in network byte order.
const LOOP: u32 = 108;
/// LINKTYPE_LINUX_SLL: 16-byte Linux "cooked" header, protocol in bytes 14..16.
const LINUX_SLL: u32 = 113;
/// LINKTYPE_IPV4 and LINKTYPE_IPV6.
const IPV4: u32 = 228;
const IPV6: u32 = 229;
/// LINKTYPE_LINUX_SLL2: 20-byte header, protocol in bytes 0..2.
const LINUX_SLL2: u32 = 276;

/// Whether frames of `linktype` can be read.
pub fn supported(linktype: u32) -> bool {
    matches!(
        linktype,
        NULL | ETHERNET | RAW_12 | RAW_14 | RAW | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
    )
}

/// The TCP part of one captured packet.
#[derive(Debug)]
pub struct Segment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (of the SYN, if set).
    pub seq: u32,
    /// Acknowledgment number (meaningful when `ack` is set).
    pub ack_no: u32,
    /// SYN flag.
    pub syn: bool,
    /// ACK flag.
    pub ack: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// The payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Where the TCP header starts in the frame.
    pub tcp_at: usize,
    /// Where the payload starts in the frame.
    pub payload_at: usize,
    /// Payload bytes the segment carried beyond the snap length.
    pub missing: u64,
}

/// The TCP segment in `frame`, or None when it holds anything else
/// (another protocol, an IP fragment, a header cut short). `linktype`
/// must be [`supported`].
pub fn tcp_segment(linktype: u32, frame: &[u8]) -> Option<Segment<'_>> {
    let packet = match linktype {
        ETHERNET => LaxSlicedPacket::from_ethernet(frame).ok()?,
        RAW | RAW_12 | RAW_14 | IPV4 | IPV6 => LaxSlicedPacket::from_ip(frame).ok()?,
        // The address family says IPv4 or IPv6; the IP version nibble says it too.
        NULL | LOOP => LaxSlicedPacket::from_ip(frame.get(4..)?).ok()?,
        LINUX_SLL => {
            let proto = u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), frame.get(16..)?)
        }
        LINUX_SLL2 => {
            let proto = u16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), frame.get(20..)?)
        }
        _ => return None,
    };
    let Some(TransportSlice::Tcp(tcp)) = &packet.transport else {
        return None;
    };
    // (addresses, where the IP packet starts, its declared length, cut short?)
    let (src, dst, ip_start, ip_len, incomplete) = match packet.net.as_ref()? {
        LaxNetSlice::Ipv4(ip) => {
            if ip.is_payload_fragmented() {
                return None;
            }
            let h = ip.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.slice().as_ptr() as usize,
                usize::from(h.total_len()),
                ip.payload().incomplete,
            )
        }
        LaxNetSlice::Ipv6(ip) => {
            if ip.is_payload_fragmented() {
                return None;
            }
            let h = ip.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                h.slice().as_ptr() as usize,
                40 + usize::from(h.payload_length()),
                ip.payload().incomplete,
            )
        }
        LaxNetSlice::Arp(_) => return None,
    };
    let payload = tcp.payload();
    // etherparse borrows every slice from the frame.
    let at = |s: &[u8]| (s.as_ptr() as usize).saturating_sub(frame.as_ptr() as usize);
    let mut missing = 0;
    if incomplete {
        // The IP header says how long the segment was; the capture kept a prefix.
        let payload_start = payload.as_ptr() as usize;
        let declared = (ip_start + ip_len).saturating_sub(payload_start);
        missing = declared.saturating_sub(payload.len()) as u64;
    }
    Some(Segment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack_no: tcp.acknowledgment_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload,
        tcp_at: at(tcp.header_slice()),
        payload_at: at(payload),
        missing,
    })
}

#[cfg(test)]
mod tests;
