//! Connections: pairs the two sockets of each AF_UNIX connection, orders
//! each direction's bytes by their send offset, and turns missing ranges
//! into gaps of known size.

mod direction;

use std::collections::HashMap;

use anyhow::Result;

use crate::capture::record::{Comm, Payload, Record, Writer};
use direction::Direction;

/// A connection's number, unique within one capture.
pub type ConnId = u64;

/// Which way bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the connecting (client) side to the bound (server) side.
    ToServer,
    /// From the server to the client.
    ToClient,
}

impl Dir {
    /// Index for per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Dir::ToServer => 0,
            Dir::ToClient => 1,
        }
    }
}

/// One end of a connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Side {
    /// The socket's inode (0 if never seen).
    pub ino: u64,
    /// The process owning it: learned from its writes, else from the peer's SO_PEERCRED.
    pub pid: Option<u32>,
    /// The name of the last thread seen writing on it.
    pub comm: Option<Comm>,
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

/// What the flow layer tells its sinks, in order per direction.
#[derive(Clone, Copy, Debug)]
pub enum FlowEvent<'a> {
    /// A connection is seen for the first time.
    Open,
    /// Bytes of one direction, contiguous with what came before (or with the gap before).
    Data {
        /// Direction.
        dir: Dir,
        /// Who wrote them.
        writer: &'a Writer,
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
}

/// Consumes flow events (the pcapng writer, the decoder).
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

struct ConnState {
    conn: Conn,
    dirs: [Direction; 2],
    /// When one side closed; the connection ends at the next tick.
    closing: Option<u64>,
}

/// Counters for the status line.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlowStats {
    /// Connections seen.
    pub connections: u64,
    /// Connections currently open.
    pub open: u64,
    /// Data records received.
    pub writes: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Bytes declared lost (gaps).
    pub gap_bytes: u64,
    /// Bytes received twice or behind the stream position (dropped).
    pub stale_bytes: u64,
    /// Directions whose sender's offsets started again (the tracer lost
    /// and recreated its state for the socket): bytes may be missing there.
    pub resets: u64,
}

/// Most connections tracked at once; the oldest is finished beyond it
/// (sockets closed by process exit produce no close record).
const MAX_CONNS: usize = 16384;

/// The connection table.
pub struct Tracker {
    mono_to_wall: i128,
    by_sock: HashMap<u64, ConnId>,
    conns: HashMap<ConnId, ConnState>,
    next_id: ConnId,
    /// Counters.
    pub stats: FlowStats,
}

impl Tracker {
    /// A tracker converting kernel CLOCK_MONOTONIC times with `mono_to_wall` (ns).
    pub fn new(mono_to_wall: i128) -> Self {
        Tracker {
            mono_to_wall,
            by_sock: HashMap::new(),
            conns: HashMap::new(),
            next_id: 0,
            stats: FlowStats::default(),
        }
    }

    fn wall(&self, mono_ns: u64) -> u64 {
        (mono_ns as i128 + self.mono_to_wall).max(0) as u64
    }

    /// Handle one ring buffer record.
    pub fn record(&mut self, rec: &Record<'_>, sink: &mut dyn Sink) -> Result<()> {
        let ts = self.wall(rec.mono_ns);
        let known = self.by_sock.contains_key(&rec.socket.ino)
            || (rec.socket.peer_ino != 0 && self.by_sock.contains_key(&rec.socket.peer_ino));
        if !known && matches!(rec.payload, Payload::Close { .. }) {
            // The other side closed first and the connection is finished.
            return Ok(());
        }
        let id = self.conn_for(rec, ts, sink)?;
        let is_server = rec.socket.is_server();
        let dir = if is_server {
            Dir::ToClient
        } else {
            Dir::ToServer
        };
        let Some(st) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        let side = if is_server {
            &mut st.conn.server
        } else {
            &mut st.conn.client
        };
        // A close record may be made by the peer's reader (end of file).
        if !matches!(rec.payload, Payload::Close { .. }) {
            side.pid = Some(rec.writer.pid);
            side.comm = Some(rec.writer.comm);
        }
        if side.ino == 0 {
            // A client that wrote before accept() saw no peer inode yet.
            side.ino = rec.socket.ino;
            self.by_sock.insert(rec.socket.ino, id);
        }
        match &rec.payload {
            Payload::Info { path, fresh } => {
                if st.conn.path.is_none() {
                    st.conn.path = path.clone();
                }
                if *fresh {
                    let d = &mut st.dirs[dir.index()];
                    let out = d.restart(&st.conn, dir, sink)?;
                    self.stats.gap_bytes += out.gap_bytes;
                    self.stats.resets += out.resets;
                }
            }
            Payload::Gap { offset, len, .. } => {
                let d = &mut st.dirs[dir.index()];
                let out = d.gap(*offset, *len, ts, &rec.writer, &st.conn, dir, sink)?;
                self.stats.gap_bytes += out.gap_bytes;
            }
            Payload::Data { offset, bytes } => {
                self.stats.writes += 1;
                self.stats.bytes += bytes.len() as u64;
                let d = &mut st.dirs[dir.index()];
                let out = d.data(*offset, bytes, ts, &rec.writer, &st.conn, dir, sink)?;
                self.stats.gap_bytes += out.gap_bytes;
                self.stats.stale_bytes += out.stale_bytes;
                self.stats.resets += out.resets;
            }
            Payload::Close { final_offset } => {
                let d = &mut st.dirs[dir.index()];
                let known = *final_offset != crate::capture::record::UNKNOWN_OFFSET;
                let out = d.finish(known.then_some(*final_offset), &st.conn, dir, sink)?;
                self.stats.gap_bytes += out.gap_bytes;
                // The peer's last writes may still be on their way from
                // another CPU: finish the connection at the next tick.
                st.closing = Some(ts);
            }
        }
        Ok(())
    }

    /// The connection a record belongs to, opened (and announced) if new.
    fn conn_for(&mut self, rec: &Record<'_>, ts: u64, sink: &mut dyn Sink) -> Result<ConnId> {
        let s = &rec.socket;
        if let Some(&id) = self.by_sock.get(&s.ino) {
            return Ok(id);
        }
        if s.peer_ino != 0 {
            if let Some(&id) = self.by_sock.get(&s.peer_ino) {
                self.by_sock.insert(s.ino, id);
                return Ok(id);
            }
        }
        if self.conns.len() >= MAX_CONNS {
            if let Some(oldest) = self.conns.keys().min().copied() {
                self.close(oldest, ts, sink)?;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let me = Side {
            ino: s.ino,
            pid: Some(rec.writer.pid),
            comm: Some(rec.writer.comm),
        };
        let peer = Side {
            ino: s.peer_ino,
            pid: (s.peer_pid != 0).then_some(s.peer_pid),
            comm: None,
        };
        let (client, server) = if s.is_server() {
            (peer, me)
        } else {
            (me, peer)
        };
        let path = match &rec.payload {
            Payload::Info { path, .. } => path.clone(),
            _ => None,
        };
        self.insert(Conn {
            id,
            path,
            client,
            server,
            first_ns: ts,
        });
        self.stats.connections += 1;
        self.stats.open += 1;
        let st = &self.conns[&id];
        sink.event(&st.conn, ts, FlowEvent::Open)?;
        Ok(id)
    }

    fn insert(&mut self, conn: Conn) {
        for ino in [conn.client.ino, conn.server.ino] {
            if ino != 0 {
                self.by_sock.insert(ino, conn.id);
            }
        }
        self.conns.insert(
            conn.id,
            ConnState {
                conn,
                dirs: [Direction::default(), Direction::default()],
                closing: None,
            },
        );
    }

    /// Finish a connection: flush what waits for reordering, announce the close, forget it.
    fn close(&mut self, id: ConnId, ts: u64, sink: &mut dyn Sink) -> Result<()> {
        let Some(mut st) = self.conns.remove(&id) else {
            return Ok(());
        };
        for dir in [Dir::ToServer, Dir::ToClient] {
            let out = st.dirs[dir.index()].finish(None, &st.conn, dir, sink)?;
            self.stats.gap_bytes += out.gap_bytes;
        }
        self.by_sock.remove(&st.conn.client.ino);
        self.by_sock.remove(&st.conn.server.ino);
        self.stats.open -= 1;
        sink.event(&st.conn, ts, FlowEvent::Close)
    }

    fn finish_closing(&mut self, sink: &mut dyn Sink) -> Result<()> {
        let closing: Vec<(ConnId, u64)> = self
            .conns
            .values()
            .filter_map(|st| st.closing.map(|ts| (st.conn.id, ts)))
            .collect();
        for (id, ts) in closing {
            self.close(id, ts, sink)?;
        }
        Ok(())
    }

    /// Periodic work: ranges that waited two ticks for earlier bytes become gaps.
    pub fn tick(&mut self, sink: &mut dyn Sink) -> Result<()> {
        self.finish_closing(sink)?;
        for st in self.conns.values_mut() {
            for dir in [Dir::ToServer, Dir::ToClient] {
                let out = st.dirs[dir.index()].tick(&st.conn, dir, sink)?;
                self.stats.gap_bytes += out.gap_bytes;
            }
        }
        Ok(())
    }

    /// End of capture: deliver everything still waiting (connections stay open).
    pub fn flush(&mut self, sink: &mut dyn Sink) -> Result<()> {
        self.finish_closing(sink)?;
        for st in self.conns.values_mut() {
            for dir in [Dir::ToServer, Dir::ToClient] {
                let out = st.dirs[dir.index()].flush_stash(&st.conn, dir, sink)?;
                self.stats.gap_bytes += out.gap_bytes;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
