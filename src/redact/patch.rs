//! Second and third reads: map the secret stream ranges to bytes of packets
//! in the file, then copy the file with those bytes replaced and each
//! touched packet's TCP checksum adjusted.

use std::io::{self, Read, Write};

use anyhow::Result;

use super::find::{Secrets, FILL};
use super::hpack::is_secret_header;
use crate::decode;
use crate::flow::{Conn, FlowEvent, Placement, Sink};
use crate::pcapng::packet::adjust_checksum;

/// Offset of the checksum in a TCP header (RFC 9293 section 3.1).
const TCP_CHECKSUM: usize = 16;

/// The edits of one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketPatch {
    /// File offset of the packet's TCP header.
    pub tcp_at: u64,
    /// Runs of new bytes and the file offset of each, in order.
    pub runs: Vec<(u64, Vec<u8>)>,
}

/// The flow sink of the second read: turns placements into patches.
pub struct Locator<'a> {
    secrets: &'a Secrets,
    /// The packet of the synthetic frame whose seed event comes next.
    synthetic: Option<Placement>,
    /// One per packet that carries secret bytes, in file order.
    pub patches: Vec<PacketPatch>,
}

impl<'a> Locator<'a> {
    /// A locator for the overwrites found by the first read.
    pub fn new(secrets: &'a Secrets) -> Self {
        Locator {
            secrets,
            synthetic: None,
            patches: Vec::new(),
        }
    }
}

impl Sink for Locator<'_> {
    /// A synthetic frame carrying a recovered HPACK table: the values of
    /// secret headers in it are overwritten (same length, so the table's
    /// sizes stay right; later references show the redacted entry).
    fn event(&mut self, _: &Conn, _: u64, ev: FlowEvent<'_>) -> Result<()> {
        // Other events may come between the packet and its seed (the
        // sniffer tells the protocol first): only the seed takes it.
        let FlowEvent::Seed { frame, .. } = ev else {
            return Ok(());
        };
        let Some(p) = self.synthetic.take() else {
            return Ok(());
        };
        let payload_at = p.frame_at + p.payload_at as u64;
        let runs: Vec<(u64, Vec<u8>)> = decode::h2::seed::literal_fields(frame)
            .into_iter()
            .filter(|(name, value)| is_secret_header(&frame[name.clone()]) && !value.is_empty())
            .map(|(_, value)| (payload_at + value.start as u64, vec![FILL; value.len()]))
            .collect();
        if !runs.is_empty() {
            self.patches.push(PacketPatch {
                tcp_at: p.frame_at + p.tcp_at as u64,
                runs,
            });
        }
        Ok(())
    }

    fn placed(&mut self, conn: &Conn, p: &Placement) -> Result<()> {
        if p.synthetic {
            self.synthetic = Some(*p);
            return Ok(());
        }
        let Some(list) = self.secrets.get(&(conn.id, p.dir)) else {
            return Ok(());
        };
        let end = p.offset + p.len as u64;
        // Overwrites do not overlap, so sorted by start they are sorted by end.
        let first = list.partition_point(|o| o.range.end <= p.offset);
        let payload_at = p.frame_at + p.payload_at as u64;
        let mut runs = Vec::new();
        for o in list[first..].iter().take_while(|o| o.range.start < end) {
            let (lo, hi) = (o.range.start.max(p.offset), o.range.end.min(end));
            let bytes = (lo..hi).map(|at| o.byte_at(at)).collect();
            runs.push((payload_at + (lo - p.offset), bytes));
        }
        if !runs.is_empty() {
            self.patches.push(PacketPatch {
                tcp_at: p.frame_at + p.tcp_at as u64,
                runs,
            });
        }
        Ok(())
    }
}

/// Copies the first `len` bytes of `input` to `out`, with `patches` (in
/// file order, within those bytes) applied.
pub fn copy(
    input: impl Read,
    out: &mut dyn Write,
    len: u64,
    patches: &[PacketPatch],
) -> io::Result<()> {
    let mut input = input.take(len);
    let mut pos = 0u64;
    let mut seg = Vec::new();
    for p in patches {
        let Some(last) = p.runs.last().map(|(at, b)| at + b.len() as u64 - 1) else {
            continue;
        };
        if p.tcp_at < pos || last >= len {
            return Err(io::Error::other("packet edits out of file order"));
        }
        io::copy(&mut (&mut input).take(p.tcp_at - pos), out)?;
        // From the TCP header to the last byte edited: the checksum covers
        // it from an even offset, and the header holds the checksum.
        let n = (last + 1 - p.tcp_at) as usize;
        seg.resize(n, 0);
        input.read_exact(&mut seg)?;
        let old = seg.clone();
        for (at, bytes) in &p.runs {
            let i = (at - p.tcp_at) as usize;
            seg[i..i + bytes.len()].copy_from_slice(bytes);
        }
        if n >= TCP_CHECKSUM + 2 {
            let c = TCP_CHECKSUM;
            let check = u16::from_be_bytes([seg[c], seg[c + 1]]);
            let check = adjust_checksum(check, &old, &seg);
            seg[c..c + 2].copy_from_slice(&check.to_be_bytes());
        }
        out.write_all(&seg)?;
        pos = last + 1;
    }
    io::copy(&mut input, out)?;
    Ok(())
}
