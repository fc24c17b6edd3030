//! The live capture's connections: pairs the two sockets of each AF_UNIX
//! connection (by inode and peer inode), tells client from server, learns
//! who owns each end from its writes, and puts each direction's records
//! back in offset order.
//!
//! Records of one write arrive in order, but two threads writing on the
//! same socket can reserve ring buffer space in the other order than their
//! offsets: ranges ahead of the stream position wait in the reassembler
//! (bounded in bytes, and for at most `HOLD_TICKS` ticks) for the missing
//! range; what never comes is a gap.

use std::collections::HashMap;

use anyhow::Result;

use super::proc_names::ProcNames;
use super::record::{Payload, Record};
use crate::flow::reassembly::{Chunk, Counts, Reassembler, ToSink};
use crate::flow::{Conn, ConnId, Dir, FlowEvent, InContainer, Process, Side, Sink};
use crate::recovery::{Found, Learned};
use crate::sizes::Sizes;

/// Bytes a direction may hold while waiting for an earlier range.
const HOLD_LIMIT: usize = 8 << 20;
/// Ticks (about 100 ms each) a range waits before the missing bytes are declared lost.
/// Longer than `capture::causal` holds a record for its ack (500 ms): a
/// record held there (a connection's first write, when its ack could not be
/// placed) must still fill its hole, not arrive after it was declared lost.
pub const HOLD_TICKS: u32 = (super::causal::MAX_HOLD_NS / 100_000_000) as u32 + 2;
/// Ticks a connection stays after a side closed: records of its last
/// writes may still be on their way from another CPU, or held for causal
/// order (as long as a hole waits for it).
const CLOSE_TICKS: u32 = HOLD_TICKS + 1;
/// Most connections tracked at once; the oldest is finished beyond it
/// (sockets closed by process exit produce no close record).
const MAX_CONNS: usize = 16384;

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

/// One direction: its reassembler, how long it has waited for a hole, and
/// where the sender's offsets start.
struct Direction {
    stream: Reassembler,
    age: u32,
    /// Added (wrapping) to the sender's offsets: after the tracer's state
    /// for the socket was recreated its offsets start at 0 again and the
    /// stream continues where it was; and a stream whose first send starts
    /// below the tracer's base (the sock hook's second end of a
    /// connection) starts at 0 here.
    shift: u64,
    /// The first record placed the stream.
    based: bool,
}

impl Direction {
    fn new() -> Self {
        Direction {
            stream: Reassembler::new(HOLD_LIMIT),
            age: 0,
            shift: 0,
            based: false,
        }
    }

    /// The sender's offsets start again at 0 (a fresh tracer state): what
    /// waits is flushed and later offsets continue the stream from here.
    /// True when that is news (bytes had been delivered).
    fn restart(&mut self, out: &mut ToSink<'_>) -> Result<bool> {
        if !self.based {
            // Nothing placed yet: the first record places the stream.
            return Ok(false);
        }
        self.stream.flush(out)?;
        self.shift = self.stream.next();
        self.based = true;
        Ok(self.shift > 0)
    }

    /// Where the sender's offset `raw` lies in the stream delivered.
    fn at(&mut self, raw: u64) -> i128 {
        if !self.based {
            self.based = true;
            if (raw as i64) < 0 {
                self.shift = raw.wrapping_neg();
            }
        }
        i128::from(raw.wrapping_add(self.shift))
    }
}

struct ConnState {
    conn: Conn,
    dirs: [Direction; 2],
    /// When one side closed, and the ticks since: the connection ends
    /// after `CLOSE_TICKS`.
    closing: Option<(u64, u32)>,
}

/// The connection table.
pub struct Tracker {
    mono_to_wall: i128,
    by_sock: HashMap<u64, ConnId>,
    conns: HashMap<ConnId, ConnState>,
    next_id: ConnId,
    counts: Counts,
    /// Names peers known only by SO_PEERCRED (None in tests, whose pids are made up).
    proc_names: Option<ProcNames>,
    /// Counters.
    pub stats: FlowStats,
}

impl Tracker {
    /// Connections, sockets and ranges waiting for a hole, kept now.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("tracker.conns", self.conns.len());
        out.add("tracker.by_sock", self.by_sock.len());
        let held = self
            .conns
            .values()
            .flat_map(|c| &c.dirs)
            .map(|d| d.stream.held_ranges());
        out.add("tracker.held_ranges", held.sum());
        if let Some(names) = &self.proc_names {
            names.sizes(out);
        }
    }

    /// A tracker converting kernel CLOCK_MONOTONIC times with `mono_to_wall` (ns).
    pub fn new(mono_to_wall: i128) -> Self {
        Tracker {
            mono_to_wall,
            by_sock: HashMap::new(),
            conns: HashMap::new(),
            next_id: 0,
            counts: Counts::default(),
            proc_names: None,
            stats: FlowStats::default(),
        }
    }

    /// Names a peer known only by its SO_PEERCRED pid from `/proc/PID/comm`
    /// when its connection is first seen, so that the first rows name it.
    pub fn with_proc_names(mut self) -> Self {
        self.proc_names = Some(ProcNames::default());
        self
    }

    fn wall(&self, mono_ns: u64) -> u64 {
        (mono_ns as i128 + self.mono_to_wall).max(0) as u64
    }

    fn sync_stats(&mut self) {
        self.stats.gap_bytes = self.counts.gap_bytes;
        self.stats.stale_bytes = self.counts.stale_bytes;
    }

    /// What a uprobe record read from a server (an HPACK table, a
    /// stream's method, or a copy that failed), for the recovery stage,
    /// which finds its connection by the socket inodes; `None` for every
    /// other record, which goes to [`Self::record`].
    pub fn learned(&self, rec: &Record<'_>) -> Option<Learned> {
        let found = match &rec.payload {
            Payload::Hpack(t) => Found::Table(t.clone()),
            Payload::StreamMethod(m) => Found::Stream(m.clone()),
            Payload::HpackUnusable(_) => Found::Unusable,
            _ => return None,
        };
        Some(Learned {
            sockets: [rec.socket.ino, rec.socket.peer_ino],
            ts_ns: self.wall(rec.mono_ns),
            found,
        })
    }

    /// Handle one ring buffer record (uprobe records are
    /// [`Self::learned`]'s and ignored here).
    pub fn record(&mut self, rec: &Record<'_>, sink: &mut dyn Sink) -> Result<()> {
        let result = self.record_inner(rec, sink);
        self.sync_stats();
        result
    }

    fn record_inner(&mut self, rec: &Record<'_>, sink: &mut dyn Sink) -> Result<()> {
        let ts = self.wall(rec.mono_ns);
        match &rec.payload {
            Payload::Hpack(_)
            | Payload::StreamMethod(_)
            | Payload::HpackUnusable(_)
            | Payload::Cgroup { .. } => return Ok(()),
            _ => {}
        }
        let known = self.by_sock.contains_key(&rec.socket.ino)
            || (rec.socket.peer_ino != 0 && self.by_sock.contains_key(&rec.socket.peer_ino));
        if !known && matches!(rec.payload, Payload::Close { .. }) {
            // The other side closed first and the connection is finished.
            return Ok(());
        }
        let id = self.conn_for(rec, ts, sink)?;
        let dir = if rec.socket.is_server() {
            Dir::ToClient
        } else {
            Dir::ToServer
        };
        let Some(st) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        let side = st.conn.sender_mut(dir);
        // A close record may be made by the peer's reader (end of file).
        if !matches!(rec.payload, Payload::Close { .. }) {
            side.owner = rec.writer.owner();
            side.from_creds = false;
        }
        if side.ino == 0 {
            // A client that wrote before accept() saw no peer inode yet.
            side.ino = rec.socket.ino;
            self.by_sock.insert(rec.socket.ino, id);
        }
        if let Payload::Info { path: Some(p), .. } = &rec.payload {
            st.conn.path.get_or_insert_with(|| p.clone());
        }
        let mut out = ToSink {
            conn: &st.conn,
            dir,
            sink,
            counts: &mut self.counts,
        };
        let d = &mut st.dirs[dir.index()];
        match &rec.payload {
            Payload::Info { fresh, .. } => {
                if *fresh && d.restart(&mut out)? {
                    self.stats.resets += 1;
                }
            }
            Payload::Gap { offset, len, .. } => {
                let at = d.at(*offset);
                d.stream
                    .insert(at, ts, rec.writer, Chunk::Lost(*len), &mut out)?;
            }
            Payload::Data { offset, bytes } => {
                self.stats.writes += 1;
                self.stats.bytes += bytes.len() as u64;
                let next = d.stream.next();
                if *offset == 0 && next > 0 && d.shift.wrapping_add(bytes.len() as u64) <= next {
                    // The sender's offsets started again (its fresh-state
                    // record was lost): a restart, not stale bytes.
                    if d.restart(&mut out)? {
                        self.stats.resets += 1;
                    }
                }
                let at = d.at(*offset);
                d.stream
                    .insert(at, ts, rec.writer, Chunk::Bytes(bytes), &mut out)?;
                if !d.stream.is_holding() {
                    d.age = 0;
                }
            }
            Payload::Close { final_offset } => {
                let last = d.stream.last_ts();
                if *final_offset == super::record::UNKNOWN_OFFSET {
                    // An end of file seen by the reader: nothing says how
                    // much the sender sent last.
                    d.stream.flush(&mut out)?;
                } else {
                    let end = d.at(*final_offset);
                    d.stream.end_at(last, end, &mut out)?;
                }
                // The peer's last writes may still be on their way from
                // another CPU: finish the connection at the next tick.
                st.closing.get_or_insert((ts, 0));
            }
            // Handled before a connection was looked up.
            Payload::Hpack(_)
            | Payload::StreamMethod(_)
            | Payload::HpackUnusable(_)
            | Payload::Cgroup { .. } => {}
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
            owner: rec.writer.owner(),
            from_creds: false,
        };
        let peer_pid = (s.peer_pid != 0).then_some(s.peer_pid);
        let peer = Side {
            ino: s.peer_ino,
            owner: Process {
                pid: peer_pid,
                tid: None,
                comm: peer_pid.and_then(|p| self.proc_names.as_mut()?.get(p)),
                thread_comm: None,
                container: InContainer::Unknown,
            },
            from_creds: peer_pid.is_some(),
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
                dirs: [Direction::new(), Direction::new()],
                closing: None,
            },
        );
    }

    /// Finish a connection: flush what waits for reordering, announce the close, forget it.
    fn close(&mut self, id: ConnId, ts: u64, sink: &mut dyn Sink) -> Result<()> {
        let Some(mut st) = self.conns.remove(&id) else {
            return Ok(());
        };
        for dir in Dir::BOTH {
            let mut out = ToSink {
                conn: &st.conn,
                dir,
                sink,
                counts: &mut self.counts,
            };
            st.dirs[dir.index()].stream.flush(&mut out)?;
        }
        self.by_sock.remove(&st.conn.client.ino);
        self.by_sock.remove(&st.conn.server.ino);
        self.stats.open -= 1;
        sink.event(&st.conn, ts, FlowEvent::Close)
    }

    /// Ends the connections that closed `CLOSE_TICKS` ticks ago (all that
    /// closed, with `all`).
    fn finish_closing(&mut self, sink: &mut dyn Sink, all: bool) -> Result<()> {
        let mut due = Vec::new();
        for st in self.conns.values_mut() {
            if let Some((ts, ticks)) = &mut st.closing {
                *ticks += 1;
                if all || *ticks > CLOSE_TICKS {
                    due.push((st.conn.id, *ts));
                }
            }
        }
        for (id, ts) in due {
            self.close(id, ts, sink)?;
        }
        Ok(())
    }

    /// Runs `f` on every direction of every open connection, with its delivery.
    fn each_direction(
        &mut self,
        sink: &mut dyn Sink,
        mut f: impl FnMut(&mut Direction, &mut ToSink<'_>) -> Result<()>,
    ) -> Result<()> {
        for st in self.conns.values_mut() {
            for dir in Dir::BOTH {
                let mut out = ToSink {
                    conn: &st.conn,
                    dir,
                    sink: &mut *sink,
                    counts: &mut self.counts,
                };
                f(&mut st.dirs[dir.index()], &mut out)?;
            }
        }
        Ok(())
    }

    /// Periodic work: ranges that waited `HOLD_TICKS` ticks for earlier
    /// bytes are released, the hole before them a gap.
    pub fn tick(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if let Some(names) = &mut self.proc_names {
            names.expire();
        }
        let result = self.finish_closing(sink, false).and_then(|()| {
            self.each_direction(sink, |d, out| {
                if !d.stream.is_holding() {
                    d.age = 0;
                    return Ok(());
                }
                d.age += 1;
                if d.age <= HOLD_TICKS {
                    return Ok(());
                }
                d.age = 0;
                d.stream.flush(out)
            })
        });
        self.sync_stats();
        result
    }

    /// End of capture: deliver everything still waiting (connections stay open).
    pub fn flush(&mut self, sink: &mut dyn Sink) -> Result<()> {
        let result = self
            .finish_closing(sink, true)
            .and_then(|()| self.each_direction(sink, |d, out| d.stream.flush(out)));
        self.sync_stats();
        result
    }
}

#[cfg(test)]
mod tests;
