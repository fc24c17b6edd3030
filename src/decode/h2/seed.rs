//! The synthetic HEADERS frames that carry what was recovered from a
//! server (`crate::recovery`): written there, read back by
//! [`super::ConnDecoder::seed`], the offline reader and `redact`, so the
//! format lives here, once.
//!
//! A table's frame: its header block starts with two dynamic table size updates (RFC 7541
//! section 6.3), to 0 and then to the table's limit, which empty any
//! table; then every recovered entry, oldest first, as a literal with
//! incremental indexing and a new name, not Huffman-coded. Any HPACK
//! decoder that reads it ends with exactly the recovered table: Wireshark's
//! and ours alike. It is sent on stream [`SEED_STREAM`], which no real
//! client reaches, with END_STREAM and END_HEADERS set.

use std::ops::Range;

use super::frame::{self, flags, Head, Kind, HEAD_LEN};
use super::hpack::primitive::{encode_integer, encode_plain_string, integer};
use crate::flow::Dir;

/// The stream id of synthetic frames: the largest client-initiated id.
pub const SEED_STREAM: u32 = 0x7fff_ffff;

/// The synthetic HEADERS frame that leaves any HPACK decoder with a table
/// of `entries` (oldest first) and the size limit `max_size`.
pub fn seed_frame(entries: &[(Vec<u8>, Vec<u8>)], max_size: u32) -> Vec<u8> {
    let size: usize = entries.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    let mut block = Vec::with_capacity(size + 16);
    encode_integer(&mut block, 0x20, 5, 0);
    encode_integer(&mut block, 0x20, 5, max_size as usize);
    for (name, value) in entries {
        block.push(0x40);
        encode_plain_string(&mut block, name);
        encode_plain_string(&mut block, value);
    }
    frame::encode(
        Kind::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        SEED_STREAM,
        &block,
    )
}

/// The synthetic HEADERS frames that stand for the headers of `stream`,
/// sent before the capture, whose method is `method`, in direction `dir`: the request
/// (`:method`, `:scheme`, `:path`, `content-type`) or the response
/// (`:status`, `content-type`), as literals without indexing, so that no
/// HPACK table changes; no END_STREAM (the stream goes on).
pub fn stream_frame(stream: u32, method: &str, dir: Dir) -> Vec<u8> {
    let fields: &[(&[u8], &[u8])] = match dir {
        Dir::ToServer => &[
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", method.as_bytes()),
            (b"content-type", b"application/grpc"),
        ],
        Dir::ToClient => &[(b":status", b"200"), (b"content-type", b"application/grpc")],
    };
    let mut block = Vec::with_capacity(method.len() + 64);
    for (name, value) in fields {
        block.push(0x00);
        encode_plain_string(&mut block, name);
        encode_plain_string(&mut block, value);
    }
    frame::encode(Kind::Headers, flags::END_HEADERS, stream, &block)
}

/// A synthetic frame read back: its stream and header block, if `bytes`
/// is one whole HEADERS frame in one piece.
pub fn parse_seed_frame(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let head = Head::parse(bytes.get(..HEAD_LEN)?.try_into().ok()?);
    let block = bytes.get(HEAD_LEN..)?;
    (head.kind == Kind::Headers
        && head.stream_id != 0
        && head.flags & flags::END_HEADERS != 0
        && head.length as usize == block.len()
        && head.flags & (flags::PADDED | flags::PRIORITY) == 0)
        .then_some((head.stream_id, block))
}

/// Where the names and values of the literal fields of a synthetic frame's
/// header block lie in the frame (as `seed_frame` and `stream_frame` write
/// them: size updates, then literals with new names, not Huffman-coded).
/// Empty if the block is not in that form.
pub fn literal_fields(frame: &[u8]) -> Vec<(Range<usize>, Range<usize>)> {
    let Some((_, block)) = parse_seed_frame(frame) else {
        return vec![];
    };
    let mut out = Vec::new();
    let mut pos = 0usize;
    let string = |pos: &mut usize| -> Option<Range<usize>> {
        if block.get(*pos)? & 0x80 != 0 {
            return None;
        }
        let len = usize::try_from(integer(block, pos, 7).ok()?).ok()?;
        let start = *pos;
        *pos = start.checked_add(len).filter(|&e| e <= block.len())?;
        Some(HEAD_LEN + start..HEAD_LEN + *pos)
    };
    while pos < block.len() {
        let b = block[pos];
        if b & 0xe0 == 0x20 {
            if integer(block, &mut pos, 5).is_err() {
                return vec![];
            }
            continue;
        }
        // Literal with incremental indexing (0x40) or without (0x00), new name.
        if b != 0x40 && b != 0x00 {
            return vec![];
        }
        pos += 1;
        let (Some(name), Some(value)) = (string(&mut pos), string(&mut pos)) else {
            return vec![];
        };
        out.push((name, value));
    }
    out
}
