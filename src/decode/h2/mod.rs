//! HTTP/2 as gRPC speaks it, in the shape of hyperium/h2. Layers, lowest
//! first: [`frame`] (RFC 9113 frames), [`hpack`] (RFC 7541, tolerant of
//! captures that start mid-connection), `framer` (frame boundaries,
//! preface, resynchronisation), `call` (requests, messages and trailers per
//! stream), `conn` ([`ConnDecoder`]: CONTINUATION assembly, SETTINGS,
//! recovery after gaps), [`grpc`] (length-prefixed messages and their
//! compression); [`seed`], the synthetic frames that carry HPACK state
//! recovered from a server.

mod call;
mod conn;
pub mod frame;
pub(crate) mod framer;
pub mod grpc;
pub mod heads;
pub mod hpack;
pub mod seed;

pub use conn::ConnDecoder;
pub use framer::PREFACE;

#[cfg(test)]
mod tests;
