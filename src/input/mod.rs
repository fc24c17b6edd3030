//! Offline input: a pcapng or classic pcap capture (ours, tcpdump's,
//! Wireshark's) back into the flow events the live path produces, by TCP
//! reassembly per 4-tuple, so that one decoding pipeline serves both.
//!
//! Layers: `buffer` (buffered bytes) -> `ng` | `classic` (blocks and
//! records; blocks are framed before pcap-file parses them, so a hostile
//! length can neither exhaust memory nor reach a parser that trusts it) ->
//! `link` (etherparse: link, IP and TCP headers) -> `tcp` (connections by
//! 4-tuple, our writer's comments from `pcapng::comment`) -> `stream`
//! (sequence numbers to offsets, for the shared `flow::reassembly`).

mod buffer;
mod classic;
mod link;
mod ng;
mod stream;
mod tcp;

use std::fmt;
use std::io::{self, Read};

use crate::decode::sniffer::Sniffer;
use crate::flow::{ConnId, Sink};
use crate::pcapng::comment::SchemaNote;
use crate::sizes::Sizes;
use buffer::Input;
use tcp::{Connections, PacketMeta};

/// Largest block (pcapng) or packet record (pcap) accepted: far above any
/// real snap length, and the bound on what the reader buffers.
const MAX_BLOCK: usize = 16 << 20;

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];

/// How to read a capture.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Server ports that carry HTTP/2 besides 80 (like `--port P`): they
    /// decide which side is the server when a connection's SYN is missing.
    pub http2_ports: Vec<u16>,
}

/// What a read found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Packets in the capture.
    pub packets: u64,
    /// TCP connections seen.
    pub connections: u64,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Bytes reported missing (gaps).
    pub gap_bytes: u64,
    /// Bytes seen more than once (retransmissions, overlaps) and dropped.
    pub retransmitted_bytes: u64,
    /// Packets that were not TCP (or not readable as such) and were skipped.
    pub skipped_packets: u64,
    /// Connections whose start the capture missed: no SYN, or a synthetic
    /// preface from our writer (which is not delivered). Their first bytes
    /// are not the start of the conversation.
    pub mid_connection: Vec<ConnId>,
    /// The server binaries whose own schemas were used when the capture was
    /// recorded (containerdsnoop's notes; at most [`MAX_SCHEMA_NOTES`]).
    pub schema_notes: Vec<SchemaNote>,
    /// The entry counts of the reader's structures at the end of the input
    /// (see [`crate::sizes`]).
    pub sizes: Sizes,
}

/// Most schema notes kept from one capture.
pub const MAX_SCHEMA_NOTES: usize = 64;

/// Why a capture could not be read (to the end).
#[derive(Debug)]
pub enum ReadError {
    /// Reading the input failed.
    Io(io::Error),
    /// The input starts with neither the pcap nor the pcapng magic (or is empty).
    NotACapture,
    /// The input ends inside the block or packet record at `offset`:
    /// everything before it was delivered.
    Truncated {
        /// Where the incomplete block starts.
        offset: u64,
    },
    /// The capture's link-layer type is not one this reader knows (Ethernet,
    /// raw IPv4/IPv6, Linux cooked SLL/SLL2, BSD loopback).
    UnsupportedLinkType(u32),
    /// A block's framing or a header is invalid at `offset`: everything before
    /// it was delivered.
    Malformed {
        /// Where the bad block starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The sink refused an event.
    Sink(anyhow::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "reading the capture failed: {e}"),
            ReadError::NotACapture => f.write_str(
                "the input is not a pcap or pcapng capture (it is empty or starts with other bytes)",
            ),
            ReadError::Truncated { offset } => write!(
                f,
                "the capture ends inside a block at byte {offset} (still being written, or cut \
                 short); everything before it was read"
            ),
            ReadError::UnsupportedLinkType(t) => write!(
                f,
                "link-layer type {t} is not supported; capture on Ethernet, loopback or \
                 `tcpdump -i any` (Linux cooked) interfaces"
            ),
            ReadError::Malformed { offset, reason } => {
                write!(f, "the capture is damaged at byte {offset}: {reason}")
            }
            ReadError::Sink(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::Sink(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Read a whole capture from `input`, handing `sink` the connections it
/// holds as flow events: `Open`, what it speaks (`Protocol`, told by the
/// one sniffing stage, `decode::sniffer`), then each direction's bytes in
/// order with exact gaps, `Close` at FIN/RST. At the end of the input, bytes waiting
/// for a hole to fill are delivered (with the gap) and open connections stay
/// open, as in a live capture that stops.
pub fn read<R: Read>(
    input: R,
    opts: &ReadOptions,
    sink: &mut dyn Sink,
) -> Result<ReadSummary, ReadError> {
    let mut input = Input::new(input);
    let mut st = State {
        conns: Connections::new(&opts.http2_ports),
        packets: 0,
        skipped: 0,
        schema_notes: Vec::new(),
    };
    let mut sniffer = Sniffer::new();
    let sink = &mut sniffer.sink(sink);
    let result = match detect(&mut input)? {
        Format::Pcapng => ng::read(&mut input, &mut st, sink),
        Format::Pcap => classic::read(&mut input, &mut st, sink),
    };
    if let Ok(()) | Err(ReadError::Truncated { .. } | ReadError::Malformed { .. }) = result {
        st.conns.finish(sink).map_err(ReadError::Sink)?;
        sink.flush().map_err(ReadError::Sink)?;
    }
    result?;
    let mut sizes = Sizes::default();
    st.conns.sizes(&mut sizes);
    sniffer.sizes(&mut sizes);
    let c = st.conns.counts;
    Ok(ReadSummary {
        packets: st.packets,
        connections: st.conns.count(),
        bytes: c.bytes,
        gap_bytes: c.gap_bytes,
        retransmitted_bytes: c.stale_bytes,
        skipped_packets: st.skipped,
        mid_connection: std::mem::take(&mut st.conns.mid_connection),
        schema_notes: std::mem::take(&mut st.schema_notes),
        sizes,
    })
}

enum Format {
    Pcapng,
    Pcap,
}

fn detect<R: Read>(input: &mut Input<R>) -> Result<Format, ReadError> {
    input.fill(4)?;
    let head = input.available();
    let n = head.len().min(4);
    let matches = |m: &[u8; 4]| head[..n] == m[..n];
    if n == 4 && matches(&PCAPNG_MAGIC) {
        return Ok(Format::Pcapng);
    }
    if n == 4 && PCAP_MAGICS.iter().any(matches) {
        return Ok(Format::Pcap);
    }
    if n > 0 && n < 4 && (matches(&PCAPNG_MAGIC) || PCAP_MAGICS.iter().any(matches)) {
        return Err(ReadError::Truncated { offset: 0 });
    }
    Err(ReadError::NotACapture)
}

struct State {
    conns: Connections,
    packets: u64,
    skipped: u64,
    schema_notes: Vec<SchemaNote>,
}

impl State {
    /// A schema note, kept once.
    fn schema_note(&mut self, note: SchemaNote) {
        if self.schema_notes.len() < MAX_SCHEMA_NOTES && !self.schema_notes.contains(&note) {
            self.schema_notes.push(note);
        }
    }

    fn packet(
        &mut self,
        linktype: u32,
        frame: &[u8],
        meta: &PacketMeta<'_>,
        sink: &mut dyn Sink,
    ) -> Result<(), ReadError> {
        self.packets += 1;
        match link::tcp_segment(linktype, frame) {
            Some(seg) => self.conns.packet(meta, &seg, sink).map_err(ReadError::Sink),
            None => {
                self.skipped += 1;
                Ok(())
            }
        }
    }
}

fn malformed(offset: u64, reason: impl fmt::Display) -> ReadError {
    ReadError::Malformed {
        offset,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests;
