//! HTTP/1.1, as the Docker Engine API and Podman's API speak it on their
//! unix sockets, decoded into the same [`Event`](crate::decode::Event)s as
//! gRPC and ttrpc: a call is a request and its response, numbered on the
//! connection in order (the n-th response answers the n-th request, RFC
//! 9112 section 9.3.2), its method the operation the API names it by
//! ([`ops`]).
//!
//! Layers, lowest first: [`head`] (start line and header fields, parsed by
//! `httparse`, and the body framing they imply, RFC 9112 section 6.3),
//! `framer` (one direction: heads, `Content-Length` and chunked bodies,
//! bodies up to the close, upgraded streams, known-size gaps inside bodies,
//! resynchronisation at a write that begins a head), `part` (what a body
//! or stream piece becomes: kept bytes, or a summary), `calls` (requests
//! paired with their responses), `conn` ([`Http1Decoder`]).

use std::fmt;

mod calls;
mod conn;
mod framer;
pub mod head;
pub mod ops;
mod part;
pub mod secrets;
pub mod stream;

pub use conn::Http1Decoder;
pub use part::{Part, PartKind};
pub use stream::Ttys;

/// What a call's HTTP request and response say, carried on its events
/// ([`CallMeta::http`](crate::decode::CallMeta::http)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpCall {
    /// The request method (`POST`); None for a response whose request
    /// was not seen.
    pub method: Option<String>,
    /// The request target as sent (`/v1.41/containers/create?name=x`).
    pub target: Option<String>,
    /// The route of Docker's or Podman's API the request matched
    /// ([`ops::named`]: `/containers/*/json`), for outputs that must not
    /// carry the target's ids; None for a route neither API has.
    pub route: Option<&'static str>,
    /// The final status code of the response, once seen.
    pub status: Option<u16>,
    /// The call was found by resynchronising (the capture began inside
    /// the connection, or bytes were lost before it).
    pub resynced: bool,
}

/// HTTP/1.1 framing problems, reported in
/// [`decode::Error::Http1`](crate::decode::Error::Http1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A start line or header section that does not parse.
    BadHead(String),
    /// A header section over [`head::MAX_HEAD`] bytes.
    HeadTooLong,
    /// `Content-Length` that is not one decimal number (RFC 9112 section 6.3, rule 5).
    BadContentLength,
    /// A request `Transfer-Encoding` without `chunked` last (RFC 9112 section 6.3, rule 4).
    BadTransferEncoding,
    /// A chunk-size line that does not parse (RFC 9112 section 7.1).
    BadChunk,
    /// A response with no request it can answer.
    Unrequested,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadHead(e) => write!(f, "HTTP/1.1 head does not parse: {e}"),
            Error::HeadTooLong => write!(f, "HTTP/1.1 head over {} bytes", head::MAX_HEAD),
            Error::BadContentLength => f.write_str("HTTP/1.1 Content-Length is not a number"),
            Error::BadTransferEncoding => {
                f.write_str("HTTP/1.1 request Transfer-Encoding does not end in chunked")
            }
            Error::BadChunk => f.write_str("HTTP/1.1 chunk size line does not parse"),
            Error::Unrequested => f.write_str("HTTP/1.1 response with no request to answer"),
        }
    }
}

impl From<Error> for crate::decode::Error {
    fn from(e: Error) -> Self {
        crate::decode::Error::Http1(e)
    }
}

/// Whether `bytes`, the start of a direction or of a write, begins an
/// HTTP/1.x message: a request line (`METHOD SP target SP HTTP/1.x`) from
/// a client, a status line (`HTTP/1.x SP 3DIGIT`) from a server. `None`:
/// too few bytes to tell.
pub fn starts_with_message(bytes: &[u8], from_server: bool) -> Option<bool> {
    head::start_line(bytes, from_server)
}

#[cfg(test)]
mod tests;
