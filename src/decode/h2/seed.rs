//! The synthetic frames that carry what was recovered from a server
//! (`crate::recovery`): written there, read back by
//! [`super::ConnDecoder::seed`], the offline reader and `redact`, so the
//! format lives here, once.
//!
//! A table's frame: its header block starts with two dynamic table size
//! updates (RFC 7541 section 6.3), to 0 and then to the table's limit,
//! which empty any table; then [`MARKER`], a literal without indexing that
//! changes no table; then every recovered entry, oldest first, as a literal
//! with incremental indexing and a new name, not Huffman-coded. Any HPACK
//! decoder that reads it ends with exactly the recovered table:
//! Wireshark's and ours alike.
//!
//! The block rides in a PUSH_PROMISE on stream [`SEED_STREAM`], which no
//! real client reaches, promising stream [`SEED_PROMISED`], with
//! END_HEADERS: a header block that is neither a request nor a response,
//! so Wireshark shows no call, and no finished one, made of the entries
//! (a server's table holds `grpc-status` and `grpc-message` values, which
//! as a HEADERS frame with END_STREAM read as a failed call). Wireshark
//! decodes a PUSH_PROMISE's block with the HPACK decoder of the direction
//! it travels in, whichever that is (a client never sends one: plainly
//! synthetic). Files written before carry the block in a HEADERS frame on
//! [`SEED_STREAM`] with END_STREAM, without the marker; both read back.

use std::ops::Range;

use super::frame::{self, flags, Head, Kind, HEAD_LEN};
use super::hpack::primitive::{encode_integer, encode_plain_string, integer};
use crate::flow::Dir;

/// The stream id of synthetic frames: the largest client-initiated id.
pub const SEED_STREAM: u32 = 0x7fff_ffff;

/// The stream a table's PUSH_PROMISE promises: the largest
/// server-initiated id, never opened.
pub const SEED_PROMISED: u32 = 0x7fff_fffe;

/// The first field of a table's block, which names it in Wireshark's list
/// of its header fields. It also keeps the block from being empty when
/// the table is: Wireshark 4.0's HTTP/2 dissector fails an assertion on a
/// header block that yields no field.
pub const MARKER: (&[u8], &[u8]) = (
    b"containerdsnoop",
    b"synthetic: HPACK table recovered from the server, not traffic",
);

/// The synthetic PUSH_PROMISE frame that leaves any HPACK decoder with a
/// table of `entries` (oldest first) and the size limit `max_size`.
pub fn seed_frame(entries: &[(Vec<u8>, Vec<u8>)], max_size: u32) -> Vec<u8> {
    let size: usize = entries.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    let mut payload = Vec::with_capacity(size + MARKER.1.len() + 40);
    payload.extend_from_slice(&SEED_PROMISED.to_be_bytes());
    encode_integer(&mut payload, 0x20, 5, 0);
    encode_integer(&mut payload, 0x20, 5, max_size as usize);
    let (name, value) = MARKER;
    payload.push(0x00);
    encode_plain_string(&mut payload, name);
    encode_plain_string(&mut payload, value);
    for (name, value) in entries {
        payload.push(0x40);
        encode_plain_string(&mut payload, name);
        encode_plain_string(&mut payload, value);
    }
    frame::encode(Kind::PushPromise, flags::END_HEADERS, SEED_STREAM, &payload)
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
/// is one whole frame in one piece, as [`seed_frame`] (or, in files
/// written before, a HEADERS frame on [`SEED_STREAM`]) or [`stream_frame`]
/// writes it.
pub fn parse_seed_frame(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let head = Head::parse(bytes.get(..HEAD_LEN)?.try_into().ok()?);
    let payload = bytes.get(HEAD_LEN..)?;
    if head.length as usize != payload.len()
        || head.stream_id == 0
        || head.flags & flags::END_HEADERS == 0
        || head.flags & (flags::PADDED | flags::PRIORITY) != 0
    {
        return None;
    }
    match head.kind {
        Kind::Headers => Some((head.stream_id, payload)),
        Kind::PushPromise if head.stream_id == SEED_STREAM => {
            let (promised, block) = payload.split_first_chunk::<4>()?;
            (u32::from_be_bytes(*promised) == SEED_PROMISED).then_some((SEED_STREAM, block))
        }
        _ => None,
    }
}

/// The name of a synthetic frame's type, for the comment of its packet.
pub fn frame_type_name(frame: &[u8]) -> &'static str {
    match frame.get(3).map(|&b| Kind::from_byte(b)) {
        Some(Kind::PushPromise) => "PUSH_PROMISE",
        _ => "HEADERS",
    }
}

/// Where the names and values of the literal fields of a synthetic frame's
/// header block lie in the frame (as `seed_frame` and `stream_frame` write
/// them: size updates, then literals with new names, not Huffman-coded;
/// [`MARKER`] among them). Empty if the block is not in that form.
pub fn literal_fields(frame: &[u8]) -> Vec<(Range<usize>, Range<usize>)> {
    let Some((_, block)) = parse_seed_frame(frame) else {
        return vec![];
    };
    // The block is the frame's tail.
    let at = frame.len() - block.len();
    let mut out = Vec::new();
    let mut pos = 0usize;
    let string = |pos: &mut usize| -> Option<Range<usize>> {
        if block.get(*pos)? & 0x80 != 0 {
            return None;
        }
        let len = usize::try_from(integer(block, pos, 7).ok()?).ok()?;
        let start = *pos;
        *pos = start.checked_add(len).filter(|&e| e <= block.len())?;
        Some(at + start..at + *pos)
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

#[cfg(test)]
mod tests;
