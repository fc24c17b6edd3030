//! containerdsnoop: capture what clients say to containerd over AF_UNIX
//! sockets with eBPF, write it as pcapng, decode HTTP/2, gRPC and protobuf.
//!
//! The modules follow the data (docs/ARCHITECTURE.md draws it, and lists
//! the layers every import points down): `capture` (BPF records, live) |
//! `input` (capture files, offline) -> `flow` (connections, ordered bytes
//! with known-size gaps) -> `decode::sniffer` (what each connection speaks)
//! -> live, `recovery` (HPACK tables recovered from the server) -> `pcapng`
//! (the writer) | `pipeline` (`decode`: HTTP/2 and ttrpc; `protobuf` and
//! `servers`: schemas; filter and decode once) -> `output` (table, NDJSON)
//! and `export` (OpenTelemetry spans, Prometheus metrics).
//! Beside the flow, `elf` and `gobin` read executables: sections and
//! symbols, and the Go functions that uprobes attach to.

#![warn(missing_docs)]

#[cfg(feature = "bpf")]
pub mod capture;
pub mod cli;
pub mod cmd;
pub mod decode;
pub mod elf;
pub mod error;
pub mod export;
pub mod flow;
pub mod gobin;
pub mod input;
pub mod output;
pub mod pcapng;
pub mod pipeline;
pub mod protobuf;
pub mod recovery;
pub mod redact;
pub mod servers;
pub mod sizes;
pub mod subjects;
#[cfg(any(test, feature = "test-support"))]
pub mod testsupport;
