//! A capture with one TCP port changed to another, checksums kept right:
//! the same file as our writer wrote it with another port choice (files
//! written before ttrpc moved from port 81 to 7 differ from today's in
//! nothing else).

use containerdsnoop::pcapng::packet::adjust_checksum;

/// `file` (a little-endian pcapng of Ethernet/IPv4/TCP packets, as our
/// writer writes) with every TCP port `from` made `to`.
pub fn with_port(file: &[u8], from: u16, to: u16) -> Vec<u8> {
    let mut out = file.to_vec();
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let mut pos = 0;
    while pos + 12 <= out.len() {
        let (kind, len) = (u32_at(&out, pos), u32_at(&out, pos + 4) as usize);
        assert!(len >= 12, "a pcapng block of {len} bytes");
        // Enhanced packet block: the frame starts 28 bytes in.
        if kind == 6 {
            let ip = pos + 28 + 14;
            assert_eq!(out[ip - 2..ip], [0x08, 0x00], "IPv4 over Ethernet");
            assert_eq!(out[ip + 9], 6, "TCP");
            let tcp = ip + usize::from(out[ip] & 0x0f) * 4;
            for at in [tcp, tcp + 2] {
                if out[at..at + 2] == from.to_be_bytes() {
                    out[at..at + 2].copy_from_slice(&to.to_be_bytes());
                    let check = u16::from_be_bytes([out[tcp + 16], out[tcp + 17]]);
                    let check = adjust_checksum(check, &from.to_be_bytes(), &to.to_be_bytes());
                    out[tcp + 16..tcp + 18].copy_from_slice(&check.to_be_bytes());
                }
            }
        }
        pos += len;
    }
    out
}
