//! What protocol a connection speaks, from its first bytes: the one place
//! that recognises HTTP/2, ttrpc and HTTP/1.x for the pcapng writer (where to put the
//! preface, which port to give the server) and for the decoders.

use super::h2::frame::{flags, Head, Kind, HEAD_LEN};
use super::h2::framer::{self, Limits};
use super::{ttrpc, Protocol};

pub use super::h2::PREFACE;

/// Largest frame length a sniffed HTTP/2 write may hold: the initial
/// SETTINGS_MAX_FRAME_SIZE (RFC 9113 section 6.5.2), which gRPC's Go
/// implementation keeps. Larger limits are allowed by the RFC but would let
/// random bytes pass too easily.
const SNIFF_MAX_FRAME: u32 = 16_384;

/// What the start of one direction's bytes says about the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniff {
    /// The bytes are this protocol's.
    Is(Protocol),
    /// Neither gRPC, ttrpc nor HTTP/1.x starts here.
    Other,
    /// Too few bytes to tell.
    NeedMore,
}

/// The protocol of a connection whose direction (`from_server` or not)
/// begins with `bytes` as captured: the start of a connection, or of a
/// write when the capture began mid-connection (peers write whole frames).
///
/// HTTP/2 first: the client preface (RFC 9113 section 3.4), or a run of
/// plausible frame headers ([`looks_like_h2_frames`]). Then ttrpc, by the
/// rules its decoder resynchronises with: a 10-byte header with a zero first
/// byte (length at most 4 MiB), type 1 to 3, its type's flags and an odd
/// stream id, and either a request naming a method, a response envelope,
/// or a data frame followed by another such header. Last HTTP/1.x, whose
/// messages begin with a printable start line (a request line from a
/// client, a status line from a server), never a zero byte.
pub fn sniff(bytes: &[u8], from_server: bool) -> Sniff {
    let Some(&first) = bytes.first() else {
        return Sniff::NeedMore;
    };
    if !from_server {
        let n = bytes.len().min(PREFACE.len());
        if bytes[..n] == PREFACE[..n] {
            return match n == PREFACE.len() {
                true => Sniff::Is(Protocol::Grpc),
                false => Sniff::NeedMore,
            };
        }
    }
    if first != 0 {
        return match super::http1::starts_with_message(bytes, from_server) {
            Some(true) => Sniff::Is(Protocol::Http1),
            Some(false) => Sniff::Other,
            None => Sniff::NeedMore,
        };
    }
    // Both protocols' headers start with a zero byte here: HTTP/2 frames
    // sniffed are at most 16 KiB, ttrpc's at most 4 MiB.
    if first != 0 {
        return Sniff::Other;
    }
    if looks_like_h2_frames(bytes, from_server) {
        return Sniff::Is(Protocol::Grpc);
    }
    match ttrpc::starts_with_frame(bytes) {
        Some(true) => Sniff::Is(Protocol::Ttrpc),
        Some(false) if bytes.len() >= HEAD_LEN => Sniff::Other,
        // An HTTP/2 header may be incomplete too.
        _ => Sniff::NeedMore,
    }
}

/// Whether `bytes`, taken as the start of a write, is a run of plausible
/// HTTP/2 frame headers (the rules the decoder uses to resynchronise: known
/// types, defined flags, the reserved bit clear, stream 0 exactly for
/// connection frames). Writes of Go's framer hold whole frames, so every
/// header in the run is checked; the last frame may go on past the end of
/// the write.
pub fn looks_like_h2_frames(bytes: &[u8], from_server: bool) -> bool {
    let lim = Limits {
        sync_max: SNIFF_MAX_FRAME,
        scan_max: SNIFF_MAX_FRAME,
        from_server,
        highest_stream: None,
    };
    let mut pos = 0;
    let mut frames = 0;
    while let Some(head) = Head::parse_prefix(&bytes[pos..]) {
        if !framer::plausible(&head, &lim) {
            return false;
        }
        frames += 1;
        pos += HEAD_LEN + head.length as usize;
        if pos >= bytes.len() {
            break;
        }
    }
    frames > 0 && pos >= bytes.len()
}

/// Whether the write is a server's first SETTINGS frame (not an ACK): what a
/// fresh HTTP/2 connection's server sends, possibly before reading the preface.
pub fn is_initial_settings(bytes: &[u8]) -> bool {
    match Head::parse_prefix(bytes) {
        Some(h) => h.kind == Kind::Settings && !h.has(flags::ACK) && h.stream_id == 0,
        None => false,
    }
}

#[cfg(test)]
mod tests;
