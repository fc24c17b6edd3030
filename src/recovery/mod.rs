//! HPACK tables of connections that began before the capture, recovered
//! from the server that decodes them.
//!
//! A client that connected before the capture (kubelet, dockerd) refers to
//! header fields it inserted into its HPACK table long ago; `:path` and
//! `content-type` are among them. A Go gRPC server keeps, per connection,
//! the decoder that holds exactly those entries (and an encoder holding
//! the entries its client's decoder has). Uprobes on the server
//! (`src/bpf/hpack.bpf.h`, attached by `capture::uprobes`) copy the table
//! a header block is about to be decoded or encoded against: a
//! [`RecoveredTable`].
//!
//! The [`Seeder`] places each table in its connection's byte stream, right
//! before the header block it belongs to, as a [`crate::flow::FlowEvent::Seed`]:
//! a synthetic HTTP/2 PUSH_PROMISE frame (see [`seed`]) that empties the
//! table and inserts the recovered entries, oldest first. The pcapng writer
//! writes it as a packet of its own (commented as synthetic), so Wireshark
//! rebuilds the same table; the decoder runs it through its HPACK decoder;
//! the offline reader turns such a packet back into the same event. What
//! follows in that direction decodes exactly.

mod seeder;
mod status;

pub use seeder::{Seeder, SeederStats, Seeding};
pub use status::{Availability, Done, Recovery};

use crate::decode::h2::seed;
use crate::flow::Dir;

/// The dynamic table a Go server held for one connection when it was about
/// to decode (client to server) or encode (server to client) a header block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredTable {
    /// The direction whose header blocks the table decodes.
    pub dir: Dir,
    /// The stream of the header block it precedes.
    pub stream: u32,
    /// Server to client: whether that block ends the stream (trailers),
    /// which tells a stream's headers from its trailers.
    pub end_stream: bool,
    /// The first bytes of the block's fragment (client to server; empty
    /// otherwise), to check the table is placed before the right block.
    pub block_prefix: Vec<u8>,
    /// Entries, oldest first: HPACK index 62 is the last one.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// The table's size as the server counts it (RFC 7541 4.1).
    pub size: u32,
    /// The table's size limit.
    pub max_size: u32,
    /// Process id and name of the server.
    pub pid: u32,
    /// The server's command name.
    pub comm: String,
}

/// The method of a stream whose request came before the capture, read
/// from the server when it sent a message on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamMethod {
    /// The stream.
    pub stream: u32,
    /// Its method path, as the server decoded it (`/pkg.Service/Method`).
    pub method: String,
    /// Process id of the server.
    pub pid: u32,
    /// The server's command name.
    pub comm: String,
}

impl StreamMethod {
    /// The synthetic HEADERS frame that stands for this stream's headers in
    /// direction `dir` ([`seed::stream_frame`]).
    pub fn frame(&self, dir: Dir) -> Vec<u8> {
        seed::stream_frame(self.stream, &self.method, dir)
    }

    /// How the synthetic packet's comment names where the headers of
    /// direction `dir` came from.
    pub fn origin(&self, dir: Dir) -> String {
        let what = match dir {
            Dir::ToServer => "request",
            Dir::ToClient => "response",
        };
        format!(
            "{what} headers of stream {} (opened before the capture), its method from {} (pid {})",
            self.stream, self.comm, self.pid
        )
    }
}

/// What a uprobe read from a server, as it enters the recovery stage
/// ([`Seeding::learned`]): the connection is found by its sockets, since
/// the record may come before the connection's first bytes.
#[derive(Clone, Debug)]
pub struct Learned {
    /// The inodes of the socket the server serves on and of its peer (0
    /// when unknown).
    pub sockets: [u64; 2],
    /// Wall-clock time of the record, ns since the epoch.
    pub ts_ns: u64,
    /// What was read.
    pub found: Found,
}

/// What a uprobe record holds.
#[derive(Clone, Debug)]
pub enum Found {
    /// The HPACK table before a header block.
    Table(Box<RecoveredTable>),
    /// The method of a stream opened before the capture.
    Stream(Box<StreamMethod>),
    /// A table the probe could not copy.
    Unusable,
}

/// Why a copied table cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// The entries' sizes do not add up to the size the server keeps: the
    /// struct layout assumed for this binary is wrong.
    SizeMismatch,
    /// The table exceeds its own limit or the HPACK default we can announce.
    TooLarge,
    /// An entry's name is not a valid lower-case header name.
    BadName,
}

impl RecoveredTable {
    /// RFC 7541 size of the entries.
    pub fn entries_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|(n, v)| n.len() as u64 + v.len() as u64 + 32)
            .sum()
    }

    /// Checks that make a wrong struct layout show instead of a wrong table.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.entries_size() != u64::from(self.size) {
            return Err(Invalid::SizeMismatch);
        }
        if self.size > self.max_size || self.max_size > 1 << 16 {
            return Err(Invalid::TooLarge);
        }
        let name_ok = |n: &[u8]| {
            !n.is_empty()
                && n.iter().all(|&b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.!#$%&'*+^`|~:".contains(&b)
                })
        };
        if !self.entries.iter().all(|(n, _)| name_ok(n)) {
            return Err(Invalid::BadName);
        }
        Ok(())
    }

    /// The synthetic PUSH_PROMISE frame that rebuilds this table in any HPACK
    /// decoder ([`seed::seed_frame`]).
    pub fn seed_frame(&self) -> Vec<u8> {
        seed::seed_frame(&self.entries, self.max_size)
    }

    /// How the synthetic packet's comment names where the table came from.
    pub fn origin(&self) -> String {
        let side = match self.dir {
            Dir::ToServer => "decoder",
            Dir::ToClient => "encoder",
        };
        let n = self.entries.len();
        let s = if n == 1 { "y" } else { "ies" };
        format!(
            "{n} entr{s} from the {side} of {} (pid {}), before stream {}",
            self.comm, self.pid, self.stream
        )
    }
}

#[cfg(test)]
mod tests;
