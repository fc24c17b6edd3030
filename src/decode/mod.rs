//! Decoding of captured AF_UNIX bytes: one folder per protocol, the same
//! inner shape in each ([`h2`]: HTTP/2, HPACK, gRPC; [`ttrpc`]), and what
//! they share below them (the [`Event`]s, the stream buffer).
//!
//! Pure functions of bytes and state, with no I/O: the decoding pipeline
//! (fed by the live capture or a capture file) and the tests all feed a
//! [`ConnDecoder`] (HTTP/2) or a [`TtrpcDecoder`] (ttrpc), chosen by
//! [`sniff`] (in the one stage that sniffs, [`sniffer`]), with the ordered
//! bytes of each direction of one connection, plus gaps of known size, and
//! get the same [`Event`]s back.
//!
//! Guarantee: a call's `:path` is reported only when it was decoded from
//! octets we saw; anything resting on HPACK state from before the capture
//! (or lost in a gap) is [`PathInfo::Unknown`].

use std::fmt;
use std::ops::Range;

pub mod h2;
mod header;
pub mod http1;
pub mod sniff;
pub mod sniffer;
mod stream_buf;
pub mod ttrpc;
mod unrequested;

pub use crate::flow::{Dir, Protocol, Stamp};
pub use h2::ConnDecoder;
pub use header::{HeaderField, Octets};
pub use http1::Http1Decoder;
pub use ttrpc::TtrpcDecoder;

/// What a call's request says about its context, in both protocols.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallMeta {
    /// The containerd namespace: gRPC header `containerd-namespace`, ttrpc
    /// metadata `containerd-namespace-ttrpc` (containerd's
    /// `namespaces.GRPCHeader` and `TTRPCHeader`).
    pub namespace: Option<String>,
    /// The client's deadline, in ns: gRPC `grpc-timeout`, ttrpc `timeout_nano`.
    pub timeout_ns: Option<u64>,
    /// HTTP/1.x: the request's method and target, the response's status.
    pub http: Option<Box<http1::HttpCall>>,
}

/// The gRPC method path of a call (`/package.Service/Method`), if known.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PathInfo {
    /// Decoded from octets seen in the capture (lossily as UTF-8).
    Known(String),
    /// The request headers were not seen, or `:path` came from HPACK state
    /// from before the capture.
    Unknown,
}

impl PathInfo {
    /// The path, when known.
    pub fn known(&self) -> Option<&str> {
        match self {
            PathInfo::Known(p) => Some(p),
            PathInfo::Unknown => None,
        }
    }
}

impl fmt::Display for PathInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathInfo::Known(p) => f.write_str(p),
            PathInfo::Unknown => f.write_str("<unknown>"),
        }
    }
}

/// A summary of a call's request headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `:method`, if known.
    pub method: Option<String>,
    /// `:authority`, if known.
    pub authority: Option<String>,
    /// `content-type`, if known (gRPC: `application/grpc[+proto]`).
    pub content_type: Option<String>,
    /// `user-agent`, if known.
    pub user_agent: Option<String>,
    /// `grpc-timeout`, as sent (e.g. `1999945u`).
    pub grpc_timeout: Option<String>,
    /// `grpc-encoding`: compression of the client's messages.
    pub grpc_encoding: Option<String>,
    /// Every field in order, unknown names and values included (ttrpc:
    /// the request's metadata).
    pub headers: Vec<HeaderField>,
    /// False when the header block could not be decoded at all.
    pub decoded: bool,
    /// Namespace and timeout.
    pub meta: CallMeta,
}

/// A header field whose value was sent as a string literal, and where the
/// value's octets lie in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiteralValue {
    /// The field.
    pub field: HeaderField,
    /// The octets are Huffman-coded (RFC 7541 section 5.2).
    pub huffman: bool,
    /// Where the octets (after the length prefix) lie in the direction's
    /// stream: one range per frame of the header block that holds some.
    pub stream_ranges: Vec<Range<u64>>,
}

/// What the decoder observed, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A client opened a call with request headers (HEADERS on a new stream).
    CallStart {
        /// HTTP/2 stream id.
        stream_id: u32,
        /// Method path.
        path: PathInfo,
        /// The request headers.
        request: Request,
        /// The write that completed the headers.
        stamp: Stamp,
    },
    /// A complete gRPC message.
    Message {
        /// HTTP/2 stream id.
        stream_id: u32,
        /// Who sent it.
        dir: Dir,
        /// Method path of its call.
        path: PathInfo,
        /// The write that completed the message.
        stamp: Stamp,
        /// The compressed flag of the gRPC message prefix.
        compressed: bool,
        /// The message, decompressed; still compressed if `decompress_error` is set.
        payload: Vec<u8>,
        /// Why a compressed message could not be decompressed.
        decompress_error: Option<h2::grpc::Error>,
        /// Where the message bytes as sent (after the 5-byte prefix, before
        /// decompression) lie in the direction's stream, whose offsets
        /// count every byte fed and lost since the decoder began: one range
        /// per DATA frame that carried part of it (ttrpc: one range, the
        /// payload field of the envelope or the data frame's data).
        stream_ranges: Vec<Range<u64>>,
        /// Namespace and timeout of its call, when its request was seen.
        meta: CallMeta,
        /// HTTP/1.x: what the message is (a body, a stream's piece) and,
        /// when summarised, its type and size.
        http: Option<Box<http1::Part>>,
    },
    /// Literal values of a decoded header block, only from a decoder told
    /// to [report them](ConnDecoder::report_literals).
    Literals {
        /// Who sent the block.
        dir: Dir,
        /// Its stream.
        stream_id: u32,
        /// The fields whose values were literals, in block order.
        values: Vec<LiteralValue>,
    },
    /// A call ended (or was still open when the connection closed).
    CallEnd {
        /// HTTP/2 stream id.
        stream_id: u32,
        /// Method path.
        path: PathInfo,
        /// HTTP `:status` of the response, if seen.
        http_status: Option<u16>,
        /// `grpc-status` from the trailers (0 is OK).
        status: Option<u32>,
        /// `grpc-message`, percent-decoded.
        message: Option<String>,
        /// RST_STREAM error code, when the stream was reset.
        reset: Option<u32>,
        /// Time of the request headers, if seen.
        started_ns: Option<u64>,
        /// Time of the frame that ended the call (or of the close).
        ended_ns: u64,
        /// True when the connection closed (or the end was lost) with the call open.
        unfinished: bool,
        /// The write that ended the call; only a time for `unfinished` calls.
        stamp: Stamp,
        /// Namespace and timeout, when the request was seen.
        meta: CallMeta,
    },
    /// Bytes lost in a direction (reported by the capture).
    Gap {
        /// Direction.
        dir: Dir,
        /// Number of bytes lost.
        bytes: u64,
    },
    /// A frame boundary was found again after a gap, an error, or at the
    /// start of a capture that began mid-connection.
    Resync {
        /// Direction.
        dir: Dir,
        /// Bytes skipped to find it.
        skipped: u64,
    },
    /// HPACK state turned out wrong; the direction's table is reset to unknown.
    Desync {
        /// Direction of the header block.
        dir: Dir,
        /// What showed it.
        reason: h2::hpack::Desync,
    },
    /// A GOAWAY frame.
    Goaway {
        /// Who sent it.
        dir: Dir,
        /// Last stream the sender may have processed.
        last_stream_id: u32,
        /// HTTP/2 error code.
        error_code: u32,
        /// Debug data, as sent.
        debug: Vec<u8>,
        /// The write that carried it.
        stamp: Stamp,
    },
    /// A protocol error in a direction. Framing errors are followed by a
    /// search for the next frame boundary, not by giving up.
    Error {
        /// Direction.
        dir: Dir,
        /// What went wrong.
        error: Error,
    },
}

/// Protocol errors reported in [`Event::Error`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The client did not start with the connection preface (RFC 9113
    /// section 3.4) although the connection was seen from its start.
    BadPreface,
    /// A frame longer than the receiver's SETTINGS_MAX_FRAME_SIZE (RFC 9113 section 4.2).
    FrameTooLarge {
        /// Length from the header.
        length: u32,
        /// Largest allowed.
        max: u32,
    },
    /// A frame's payload is invalid for its type.
    Frame(h2::frame::Error),
    /// A header block could not be decoded; the direction's table is reset.
    Hpack {
        /// Stream of the block.
        stream_id: u32,
        /// Decoding error.
        error: h2::hpack::Error,
    },
    /// Another frame came while a header block awaited CONTINUATION (RFC 9113 section 6.10).
    ContinuationExpected {
        /// Stream of the open header block.
        stream_id: u32,
    },
    /// CONTINUATION with no header block open (RFC 9113 section 6.10).
    UnexpectedContinuation {
        /// Its stream.
        stream_id: u32,
    },
    /// CONTINUATION for another stream than the open header block's.
    ContinuationStreamMismatch {
        /// Stream of the open block.
        expected: u32,
        /// Stream of the CONTINUATION.
        got: u32,
    },
    /// A header block over [`h2::hpack::MAX_BLOCK`] bytes; it is dropped.
    HeaderBlockTooLarge {
        /// Stream of the block.
        stream_id: u32,
    },
    /// A header block on a stream whose call had already ended, dropped
    /// undecoded: in a capture whose writes are out of order, a request
    /// written into it after its response (RFC 9113 section 5.1: a closed
    /// stream takes no HEADERS).
    HeadersAfterEnd {
        /// The stream.
        stream_id: u32,
    },
    /// A gRPC framing or decompression problem on a stream.
    Grpc {
        /// Stream.
        stream_id: u32,
        /// What went wrong.
        error: h2::grpc::Error,
    },
    /// A ttrpc framing or envelope problem.
    Ttrpc(ttrpc::Error),
    /// An HTTP/1.x framing problem.
    Http1(http1::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadPreface => f.write_str("connection does not start with the HTTP/2 preface"),
            Error::FrameTooLarge { length, max } => {
                write!(
                    f,
                    "frame of {length} bytes exceeds maximum frame size {max}"
                )
            }
            Error::Frame(e) => e.fmt(f),
            Error::Hpack { stream_id, error } => write!(f, "stream {stream_id}: {error}"),
            Error::ContinuationExpected { stream_id } => {
                write!(
                    f,
                    "stream {stream_id}: header block interrupted before CONTINUATION"
                )
            }
            Error::UnexpectedContinuation { stream_id } => {
                write!(f, "stream {stream_id}: CONTINUATION without a header block")
            }
            Error::ContinuationStreamMismatch { expected, got } => {
                write!(
                    f,
                    "CONTINUATION on stream {got} while stream {expected}'s block is open"
                )
            }
            Error::HeaderBlockTooLarge { stream_id } => write!(
                f,
                "stream {stream_id}: header block exceeds {} bytes",
                h2::hpack::MAX_BLOCK
            ),
            Error::HeadersAfterEnd { stream_id } => write!(
                f,
                "stream {stream_id}: headers after its call ended, not decoded"
            ),
            Error::Grpc { stream_id, error } => write!(f, "stream {stream_id}: {error}"),
            Error::Ttrpc(e) => e.fmt(f),
            Error::Http1(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}
