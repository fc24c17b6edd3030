//! Connections: the layer between the byte sources (the live capture, a
//! capture file) and the sinks (the pcapng writer, the decoding pipeline).
//!
//! A source delivers, per connection, [`FlowEvent`]s: `Open`, each
//! direction's bytes in stream order with lost ranges as gaps of known
//! size, then `Close`. Both sources put bytes back in order with the one
//! [`reassembly::Reassembler`]; the live one pairs the two sockets of each
//! AF_UNIX connection in [`Tracker`] (records from `capture`), the offline
//! one pairs TCP endpoints (`input`).

pub mod container;
mod dir;
mod hold;
mod process;
pub mod reassembly;

use anyhow::Result;

pub use container::{ClientContainers, Container, ContainerId, InContainer, PodUid};
pub use dir::Dir;
pub use hold::{Held, OwnedEvent, Recorder};
pub use process::{Comm, Process, Stamp};
pub use reassembly::Counts;

/// The RPC protocol of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// gRPC over HTTP/2.
    Grpc,
    /// containerd's ttrpc.
    Ttrpc,
    /// HTTP/1.x (the Docker Engine API, Podman's API).
    Http1,
}

impl Protocol {
    /// `grpc`, `ttrpc` or `http`, as JSON output names it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Ttrpc => "ttrpc",
            Protocol::Http1 => "http",
        }
    }
}

/// A connection's number, unique within one capture.
pub type ConnId = u64;

/// One end of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Side {
    /// The socket's inode (0 if never seen).
    pub ino: u64,
    /// The process owning it (no thread): learned from its writes, else
    /// from the peer's SO_PEERCRED (see `from_creds`).
    pub owner: Process,
    /// `owner.pid` is SO_PEERCRED's, not a writer's: the process that
    /// called connect() (a client) or listen() (a server). A server's need
    /// not be the one that serves: a shim's `containerd-shim-runc-v2 start`
    /// binds the socket and exits, systemd binds for socket activation.
    pub from_creds: bool,
}

/// What is known about a connection.
#[derive(Clone, Debug)]
pub struct Conn {
    /// Unique per capture.
    pub id: ConnId,
    /// The bound side's socket path (`@name` when abstract), if any.
    pub path: Option<String>,
    /// The connecting side.
    pub client: Side,
    /// The bound side.
    pub server: Side,
    /// Wall-clock time of the first record, ns since the epoch.
    pub first_ns: u64,
}

impl Conn {
    /// The end that sends in direction `dir`.
    pub fn sender(&self, dir: Dir) -> &Side {
        match dir {
            Dir::ToServer => &self.client,
            Dir::ToClient => &self.server,
        }
    }

    /// The owner of the end that sends in direction `dir`, as outputs show
    /// it. A server known only by SO_PEERCRED is shown only once named
    /// (live from /proc while it lives, offline from the file's comments):
    /// a nameless one may be a binder that exited. A client's creds name
    /// the process that connected, so they stand.
    pub fn shown(&self, dir: Dir) -> Process {
        let side = self.sender(dir);
        if dir == Dir::ToClient && side.from_creds && side.owner.comm.is_none() {
            return Process::default();
        }
        side.owner
    }

    /// The end that sends in direction `dir`, to update it.
    pub fn sender_mut(&mut self, dir: Dir) -> &mut Side {
        match dir {
            Dir::ToServer => &mut self.client,
            Dir::ToClient => &mut self.server,
        }
    }
}

/// What the flow layer tells its sinks, in order per direction.
#[derive(Clone, Copy, Debug)]
pub enum FlowEvent<'a> {
    /// A connection is seen for the first time.
    Open,
    /// What the connection speaks (`None`: none of gRPC, ttrpc, HTTP/1.x), told
    /// once, before its first bytes, by the one stage that sniffs
    /// (`decode::sniffer`); a connection that never carried a byte is
    /// told nothing.
    Protocol(Option<Protocol>),
    /// Bytes of one direction, contiguous with what came before (or with the gap before).
    Data {
        /// Direction.
        dir: Dir,
        /// Who wrote them.
        writer: &'a Process,
        /// Offset of `bytes[0]` in this direction's stream.
        offset: u64,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// `len` bytes of one direction are missing at `offset`.
    Gap {
        /// Direction.
        dir: Dir,
        /// Where the missing range starts.
        offset: u64,
        /// How many bytes are missing.
        len: u64,
    },
    /// One side closed its socket: the connection is over.
    Close,
    /// A synthetic HTTP/2 frame that rebuilds the HPACK table of
    /// direction `dir` (`decode::h2::seed`): it applies right before the
    /// byte at `offset`, and is not part of the stream's bytes.
    Seed {
        /// Direction whose table it rebuilds.
        dir: Dir,
        /// Stream offset it applies before.
        offset: u64,
        /// The whole frame, header included.
        frame: &'a [u8],
        /// Where the table came from, for comments and messages.
        origin: &'a str,
    },
}

/// Where a packet of a capture file carries bytes of a connection's stream,
/// as the offline reader places it (so that a file can be rewritten in place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Direction.
    pub dir: Dir,
    /// Offset in the file of the packet's first byte (its link-layer header).
    pub frame_at: u64,
    /// Where the TCP header starts in the packet.
    pub tcp_at: usize,
    /// Where the TCP payload starts in the packet.
    pub payload_at: usize,
    /// Payload bytes present in the file.
    pub len: usize,
    /// Offset of the first payload byte in the direction's stream, as in
    /// [`FlowEvent::Data`] (retransmitted bytes included).
    pub offset: u64,
    /// The packet carries a synthetic frame (the [`FlowEvent::Seed`] that
    /// follows), not stream bytes; `offset` is where it applies.
    pub synthetic: bool,
}

/// Consumes flow events (the pcapng writer, the decoding pipeline).
pub trait Sink {
    /// Handle one event of `conn` at wall-clock time `ts_ns`.
    fn event(&mut self, conn: &Conn, ts_ns: u64, ev: FlowEvent<'_>) -> Result<()>;

    /// A packet read from a file carries stream bytes of `conn` (offline
    /// reader only, once per packet with payload, in file order). Ignored
    /// unless a sink needs it.
    fn placed(&mut self, conn: &Conn, placement: &Placement) -> Result<()> {
        let _ = (conn, placement);
        Ok(())
    }
}

/// Two sinks fed the same events (`record --decode`: pcapng and decoder).
pub struct Tee<'a, 'b> {
    /// First sink.
    pub a: &'a mut dyn Sink,
    /// Second sink.
    pub b: &'b mut dyn Sink,
}

impl Sink for Tee<'_, '_> {
    fn event(&mut self, conn: &Conn, ts_ns: u64, ev: FlowEvent<'_>) -> Result<()> {
        self.a.event(conn, ts_ns, ev)?;
        self.b.event(conn, ts_ns, ev)
    }

    fn placed(&mut self, conn: &Conn, placement: &Placement) -> Result<()> {
        self.a.placed(conn, placement)?;
        self.b.placed(conn, placement)
    }
}

/// A sink that takes everything and keeps nothing.
pub struct Discard;

impl Sink for Discard {
    fn event(&mut self, _: &Conn, _: u64, _: FlowEvent<'_>) -> Result<()> {
        Ok(())
    }
}
