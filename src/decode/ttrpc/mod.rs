//! ttrpc, the RPC protocol containerd speaks with its shims (containerd ->
//! shim `containerd.task.v2.Task`, shim -> containerd
//! `containerd.services.events.ttrpc.v1.Events/Forward`), decoded into the
//! same [`Event`](crate::decode::Event)s as gRPC: a call's method is
//! written `/service/method`, its status is a `google.rpc.Status` code.
//!
//! Layers, lowest first: [`frame`] (the 10-byte header), [`message`] (the
//! `Request`/`Response` envelopes), `framer` (frame boundaries, gaps,
//! resynchronisation), `call` (streams and their calls), `conn`
//! ([`TtrpcDecoder`]). The protocol is containerd/ttrpc's PROTOCOL.md.

use std::fmt;

mod call;
mod conn;
pub mod frame;
mod framer;
pub mod message;

pub use conn::TtrpcDecoder;
pub use framer::starts_with_frame;

/// ttrpc protocol errors, reported in
/// [`decode::Error::Ttrpc`](crate::decode::Error::Ttrpc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A data length over [`frame::MAX_LENGTH`] (4 MiB), which ttrpc rejects.
    TooLong {
        /// Length from the header.
        length: u32,
    },
    /// A message type other than request (1), response (2) or data (3).
    UnknownType {
        /// The type byte.
        kind: u8,
    },
    /// Flag bits ttrpc does not define (it defines 0x01, 0x02, 0x04).
    UnknownFlags {
        /// The flags byte.
        flags: u8,
    },
    /// An even (or zero) stream id: ttrpc has client-initiated, odd, streams only.
    EvenStream {
        /// The stream id.
        stream_id: u32,
    },
    /// A request frame whose data is not a `ttrpc.Request`.
    BadRequest {
        /// Its stream.
        stream_id: u32,
    },
    /// A response frame whose data is not a `ttrpc.Response`.
    BadResponse {
        /// Its stream.
        stream_id: u32,
    },
    /// A request sent by the server or a response sent by the client.
    WrongDirection {
        /// Its stream.
        stream_id: u32,
    },
    /// A request on a stream already used (stream ids only increase).
    RequestOnUsedStream {
        /// The stream.
        stream_id: u32,
    },
    /// A response on a stream whose call already ended.
    ResponseAfterEnd {
        /// The stream.
        stream_id: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLong { length } => write!(
                f,
                "ttrpc frame of {length} bytes exceeds the {} byte maximum",
                frame::MAX_LENGTH
            ),
            Error::UnknownType { kind } => write!(f, "unknown ttrpc message type {kind}"),
            Error::UnknownFlags { flags } => write!(f, "unknown ttrpc flags 0x{flags:02x}"),
            Error::EvenStream { stream_id } => {
                write!(f, "ttrpc frame on even stream {stream_id}")
            }
            Error::BadRequest { stream_id } => {
                write!(f, "stream {stream_id}: request is not a ttrpc.Request")
            }
            Error::BadResponse { stream_id } => {
                write!(f, "stream {stream_id}: response is not a ttrpc.Response")
            }
            Error::WrongDirection { stream_id } => write!(
                f,
                "stream {stream_id}: request or response sent the wrong way"
            ),
            Error::RequestOnUsedStream { stream_id } => {
                write!(f, "stream {stream_id}: request on a stream already used")
            }
            Error::ResponseAfterEnd { stream_id } => {
                write!(f, "stream {stream_id}: response after its call ended")
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for crate::decode::Error {
    fn from(e: Error) -> Self {
        crate::decode::Error::Ttrpc(e)
    }
}

#[cfg(test)]
mod tests;
