//! containerdsnoop: capture what clients say to containerd over AF_UNIX
//! sockets with eBPF, write it as pcapng, decode HTTP/2, gRPC and protobuf.
//!
//! Layers follow the data: `capture` (BPF records) -> `flow` (connections,
//! ordered bytes with known-size gaps) -> `pcapng` | decoding -> output.

#![warn(missing_docs)]

pub mod calls;
pub mod capture;
pub mod cli;
pub mod cmd;
pub mod decode;
pub mod error;
pub mod flow;
pub mod output;
pub mod pcapng;
pub mod protobuf;
pub mod redact;
