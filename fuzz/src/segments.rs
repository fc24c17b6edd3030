//! The `tcp_segments` input: records that each become one TCP segment of a
//! classic pcap (Ethernet), so the fuzzer picks sequence numbers, flags
//! and payloads directly instead of finding them through pcap framing.
//!
//! Record `ctrl`: bit 0 direction (0 client to server), bit 1 SYN, bit 2
//! FIN, bit 3 RST, bit 4 no ACK, bits 5-6 connection (0-3), bit 7 IPv6.
//! The bytes are `seq:u32le` (relative to the direction's initial sequence
//! number) then the payload.

use etherparse::PacketBuilder;

use crate::Records;

/// Control bits of a segment record.
pub mod ctrl {
    /// Server to client.
    pub const TO_CLIENT: u8 = 1;
    /// SYN.
    pub const SYN: u8 = 1 << 1;
    /// FIN.
    pub const FIN: u8 = 1 << 2;
    /// RST.
    pub const RST: u8 = 1 << 3;
    /// ACK clear.
    pub const NO_ACK: u8 = 1 << 4;
    /// Shift of the 2-bit connection index.
    pub const CONN_SHIFT: u8 = 5;
    /// IPv6 instead of IPv4.
    pub const IPV6: u8 = 1 << 7;
}

/// The server port: 80, which the reader always takes for HTTP/2.
pub const SERVER_PORT: u16 = 80;

/// Initial sequence number of a direction. The client's sits 4 KiB below
/// the 32-bit wrap so that sequence arithmetic across it is exercised.
pub fn isn(conn: u8, to_client: bool) -> u32 {
    if to_client {
        1000 + u32::from(conn) * 77
    } else {
        0xffff_f000u32.wrapping_add(u32::from(conn) * 7)
    }
}

/// A classic pcap (microsecond, little-endian, Ethernet) of the segments
/// the records describe, one per record, 1 ms apart.
pub fn pcap_of(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 2 + 64);
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // thiszone, sigfigs
    out.extend_from_slice(&262_144u32.to_le_bytes()); // snaplen
    out.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    let mut packet = Vec::new();
    for (i, rec) in Records(data).enumerate() {
        packet.clear();
        if segment(rec.ctrl, rec.bytes, &mut packet).is_none() {
            continue;
        }
        let ts_us = 1_700_000_000_000_000u64 + i as u64 * 1000;
        out.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        out.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        out.extend_from_slice(&packet);
    }
    out
}

fn segment(c: u8, bytes: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let (seq, payload) = match bytes {
        [a, b, c, d, rest @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]), rest),
        _ => (0, &[][..]),
    };
    let payload = &payload[..payload.len().min(65_000)];
    let to_client = c & ctrl::TO_CLIENT != 0;
    let conn = (c >> ctrl::CONN_SHIFT) & 3;
    let client_port = 40_000 + u16::from(conn);
    let (sport, dport) = if to_client {
        (SERVER_PORT, client_port)
    } else {
        (client_port, SERVER_PORT)
    };
    let (client4, server4) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let (client6, server6) = ([0xfd; 16], [0xfe; 16]);
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip = if c & ctrl::IPV6 != 0 {
        let (s, d) = if to_client {
            (server6, client6)
        } else {
            (client6, server6)
        };
        eth.ipv6(s, d, 64)
    } else {
        let (s, d) = if to_client {
            (server4, client4)
        } else {
            (client4, server4)
        };
        eth.ipv4(s, d, 64)
    };
    let mut tcp = ip.tcp(sport, dport, isn(conn, to_client).wrapping_add(seq), 65_535);
    if c & ctrl::NO_ACK == 0 {
        tcp = tcp.ack(isn(conn, !to_client).wrapping_add(1));
    }
    if c & ctrl::SYN != 0 {
        tcp = tcp.syn();
    }
    if c & ctrl::FIN != 0 {
        tcp = tcp.fin();
    }
    if c & ctrl::RST != 0 {
        tcp = tcp.rst();
    }
    tcp.write(out, payload).ok()
}

/// The record of one segment (the seed side of [`pcap_of`]).
pub fn push_segment(out: &mut Vec<u8>, ctrl: u8, rel_seq: u32, payload: &[u8]) {
    let mut bytes = rel_seq.to_le_bytes().to_vec();
    bytes.extend_from_slice(&payload[..payload.len().min(65_000)]);
    crate::push_record(out, ctrl, &bytes);
}
