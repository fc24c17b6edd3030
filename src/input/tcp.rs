//! TCP connections by 4-tuple: who is the client, where each direction's
//! stream starts, when a connection ends, and what our own comments add.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

use anyhow::Result;

use super::link::Segment;
use super::stream::Stream;
use crate::decode::h2::seed::parse_seed_frame;
use crate::decode::sniff::PREFACE;
use crate::flow::reassembly::{Counts, ToSink};
use crate::flow::{Comm, Conn, ConnId, Dir, FlowEvent, Placement, Process, Side, Sink};
use crate::pcapng::comment;
use crate::sizes::Sizes;

/// Connections open at once; beyond it the oldest is finished (flushed and closed).
const MAX_OPEN: usize = 16384;
/// Closed 4-tuples remembered, so their trailing ACKs and retransmissions start nothing.
const MAX_CLOSED: usize = 16384;
/// Bytes all directions together may hold waiting for holes to fill.
const TOTAL_HOLD_LIMIT: usize = 256 << 20;
/// Ports our writer gives servers: HTTP/2 (as Wireshark expects) and
/// ttrpc, now and in files written before ttrpc moved.
const SERVER_PORTS: [u16; 3] = [
    crate::pcapng::packet::SERVER_PORT,
    crate::pcapng::packet::TTRPC_PORT,
    crate::pcapng::packet::LEGACY_TTRPC_PORT,
];

/// The two endpoints, in a fixed order.
type Key = (SocketAddr, SocketAddr);

fn key(a: SocketAddr, b: SocketAddr) -> Key {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

struct Open {
    dirs: [Stream; 2],
    client_isn: Option<u32>,
    fin: [bool; 2],
}

struct TcpConn {
    conn: Conn,
    client: SocketAddr,
    /// None once closed.
    open: Option<Open>,
}

/// What the capture says about a packet besides its TCP segment.
pub struct PacketMeta<'a> {
    /// Wall-clock time, ns since the epoch.
    pub ts: u64,
    /// The packet's comment.
    pub comment: Option<&'a str>,
    /// The interface's name (our writer names interfaces after socket paths).
    pub iface_name: Option<&'a str>,
    /// The section was written by containerdsnoop.
    pub ours: bool,
    /// Offset in the file of the packet's first byte.
    pub frame_at: u64,
}

/// The connection table.
pub struct Connections {
    http2_ports: Vec<u16>,
    conns: HashMap<Key, TcpConn>,
    /// Open connections by age.
    open: BTreeMap<ConnId, Key>,
    closed: VecDeque<(Key, ConnId)>,
    next_id: ConnId,
    /// Connections seen.
    seen: u64,
    held: usize,
    /// Delivery counters.
    pub counts: Counts,
    /// Connections whose start the capture missed.
    pub mid_connection: Vec<ConnId>,
    /// Process names our comments gave so far, by pid: a SYN written before
    /// a side wrote names only its pid, which another connection's writes
    /// may have named.
    names: HashMap<u32, Comm>,
}

/// Most pids remembered by name; the map starts over beyond it.
const MAX_NAMES: usize = 4096;

/// Remembers the name of a process our comments named.
fn learn(names: &mut HashMap<u32, Comm>, owner: &Process) {
    if let (Some(pid), Some(comm)) = (owner.pid, owner.comm) {
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        names.insert(pid, comm);
    }
}

impl Connections {
    /// Connections, closed 4-tuples and process names kept now.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("input.conns", self.conns.len());
        out.add("input.open", self.open.len());
        out.add("input.closed", self.closed.len());
        out.add("input.names", self.names.len());
    }

    /// An empty table; `http2_ports` are server ports besides 80.
    pub fn new(http2_ports: &[u16]) -> Self {
        Connections {
            http2_ports: http2_ports.to_vec(),
            conns: HashMap::new(),
            open: BTreeMap::new(),
            closed: VecDeque::new(),
            next_id: 0,
            seen: 0,
            held: 0,
            counts: Counts::default(),
            mid_connection: vec![],
            names: HashMap::new(),
        }
    }

    /// A side of a SYN's comment, named from earlier comments if it was not.
    fn named(&mut self, mut side: Side) -> Side {
        match (side.owner.pid, side.owner.comm) {
            (Some(pid), None) => side.owner.comm = self.names.get(&pid).copied(),
            _ => learn(&mut self.names, &side.owner),
        }
        side
    }

    /// Connections seen so far.
    pub fn count(&self) -> u64 {
        self.seen
    }

    /// One captured TCP segment.
    pub fn packet(
        &mut self,
        m: &PacketMeta<'_>,
        seg: &Segment<'_>,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let k = key(seg.src, seg.dst);
        let syn_only = seg.syn && !seg.ack;
        let starts_something = seg.syn || !seg.payload.is_empty() || seg.missing > 0;
        let restart = match self.conns.get(&k) {
            None => starts_something,
            Some(c) => match &c.open {
                // A new SYN on a finished 4-tuple is a new connection.
                None => syn_only,
                Some(o) => syn_only && o.client_isn != Some(seg.seq),
            },
        };
        let restart = restart && !self.renew_isn(&k, seg);
        if restart {
            if self.conns.get(&k).is_some_and(|c| c.open.is_some()) {
                self.close(&k, m.ts, sink)?;
            }
            self.create(k, m, seg, sink)?;
        }
        let Some(c) = self.conns.get_mut(&k) else {
            return Ok(());
        };
        let Some(o) = c.open.as_mut() else {
            self.counts.stale_bytes += seg.payload.len() as u64;
            return Ok(());
        };
        let dir = if seg.src == c.client {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let d = dir.index();
        if seg.syn {
            if seg.ack {
                o.dirs[1].start_at(seg.seq.wrapping_add(1));
                // The SYN-ACK acknowledges the client's ISN + 1.
                o.dirs[0].start_at(seg.ack_no);
            } else {
                o.client_isn = Some(seg.seq);
                o.dirs[0].start_at(seg.seq.wrapping_add(1));
            }
        }
        let text = m.comment.unwrap_or("");
        if dir == Dir::ToServer && seg.payload == PREFACE && comment::is_synthetic_preface(text) {
            // Made up by our writer, not traffic: the stream starts after it.
            if o.dirs[0].skip_start(seg.seq, PREFACE.len() as u32)
                && self.mid_connection.last() != Some(&c.conn.id)
            {
                self.mid_connection.push(c.conn.id);
            }
            return Ok(());
        }
        if let (Some(origin), Some(_)) = (comment::parse_seed(text), parse_seed_frame(seg.payload))
        {
            // A recovered HPACK table the writer put there: an event of its
            // own, not stream bytes.
            let data_seq = seg.seq.wrapping_add(u32::from(seg.syn));
            if let Some(offset) = o.dirs[d].skip_here(data_seq, seg.payload.len() as u32) {
                let placement = Placement {
                    dir,
                    frame_at: m.frame_at,
                    tcp_at: seg.tcp_at,
                    payload_at: seg.payload_at,
                    len: seg.payload.len(),
                    offset,
                    synthetic: true,
                };
                sink.placed(&c.conn, &placement)?;
                let ev = FlowEvent::Seed {
                    dir,
                    offset,
                    frame: seg.payload,
                    origin,
                };
                sink.event(&c.conn, m.ts, ev)?;
            }
            return Ok(());
        }
        if let Some(w) = comment::parse_writer(text) {
            learn(&mut self.names, &w);
            o.dirs[d].writer = w;
            c.conn.sender_mut(dir).owner = w.owner();
        }
        let before = o.dirs[0].held_cost() + o.dirs[1].held_cost();
        let others = self.held.saturating_sub(before);
        let data_seq = seg.seq.wrapping_add(u32::from(seg.syn));
        let [to_server, to_client] = &mut o.dirs;
        let (stream, peer) = match dir {
            Dir::ToServer => (to_server, to_client),
            Dir::ToClient => (to_client, to_server),
        };
        let mut cx = ToSink {
            conn: &c.conn,
            dir,
            sink,
            counts: &mut self.counts,
        };
        if seg.payload.is_empty() && seg.missing == 0 {
            if let Some(len) = comment::parse_lost(text) {
                stream.lost_before(m.ts, data_seq, len, &mut cx)?;
            }
        }
        stream.segment(m.ts, data_seq, seg.payload, seg.missing, &mut cx)?;
        if let Some(offset) = stream.offset_of(data_seq) {
            // Bytes from before the stream's start are not part of it.
            let skip = (-offset).clamp(0, seg.payload.len() as i128) as usize;
            if skip < seg.payload.len() {
                let placement = Placement {
                    dir,
                    frame_at: m.frame_at,
                    tcp_at: seg.tcp_at,
                    payload_at: seg.payload_at + skip,
                    len: seg.payload.len() - skip,
                    offset: (offset + skip as i128) as u64,
                    synthetic: false,
                };
                cx.sink.placed(cx.conn, &placement)?;
            }
        }
        if others + stream.held_cost() + peer.held_cost() > TOTAL_HOLD_LIMIT {
            stream.flush(&mut cx)?;
        }
        if seg.fin && !seg.rst {
            let end = data_seq
                .wrapping_add(seg.payload.len() as u32)
                .wrapping_add(seg.missing as u32);
            stream.finish(m.ts, Some(end), &mut cx)?;
            o.fin[d] = true;
        }
        if seg.ack {
            let mut cx = ToSink {
                conn: &c.conn,
                dir: dir.opposite(),
                sink,
                counts: &mut self.counts,
            };
            peer.acked(m.ts, seg.ack_no, &mut cx)?;
        }
        self.held = others + stream.held_cost() + peer.held_cost();
        if seg.rst || o.fin == [true, true] {
            return self.close(&k, m.ts, sink);
        }
        Ok(())
    }

    /// A SYN with another ISN before anything flowed: the client retried; keep the connection.
    fn renew_isn(&mut self, k: &Key, seg: &Segment<'_>) -> bool {
        let Some(c) = self.conns.get_mut(k) else {
            return false;
        };
        let Some(o) = c.open.as_mut() else {
            return false;
        };
        if seg.src != c.client || !o.dirs.iter().all(Stream::is_fresh) {
            return false;
        }
        if o.client_isn.is_some() {
            // A retry with a new ISN: the server's answer will be new too.
            o.dirs = [Stream::new(), Stream::new()];
        } else {
            // The SYN-ACK came first (the capture began between the two).
            o.dirs[0] = Stream::new();
        }
        o.client_isn = Some(seg.seq);
        true
    }

    fn create(
        &mut self,
        k: Key,
        m: &PacketMeta<'_>,
        seg: &Segment<'_>,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        if self.open.len() >= MAX_OPEN {
            if let Some((_, oldest)) = self.open.pop_first() {
                self.close(&oldest, m.ts, sink)?;
            }
        }
        let client = match (seg.syn, seg.ack) {
            (true, false) => seg.src,
            (true, true) => seg.dst,
            _ => self.client_by_port(seg.src, seg.dst),
        };
        let server = if client == seg.src { seg.dst } else { seg.src };
        let opening = m.comment.and_then(comment::parse_opening);
        self.seen += 1;
        let id = match opening.as_ref().map(|o| o.id) {
            // The number the live capture gave it (its rows said `cN`),
            // unless an open connection has it (files merged).
            Some(n) if !self.open.contains_key(&n) => {
                self.next_id = self.next_id.max(n.saturating_add(1));
                n
            }
            _ => {
                let id = self.next_id;
                self.next_id = self.next_id.saturating_add(1);
                id
            }
        };
        let (path, client_side, server_side) = match opening {
            Some(o) => (o.path, self.named(o.client), self.named(o.server)),
            None => {
                let path = match m.iface_name {
                    Some(name) if m.ours => (name != comment::UNNAMED).then(|| name.to_string()),
                    _ => Some(server.to_string()),
                };
                (path, Side::default(), Side::default())
            }
        };
        let conn = Conn {
            id,
            path,
            client: client_side,
            server: server_side,
            first_ns: m.ts,
        };
        if !seg.syn {
            self.mid_connection.push(id);
        }
        sink.event(&conn, m.ts, FlowEvent::Open)?;
        self.conns.insert(
            k,
            TcpConn {
                conn,
                client,
                open: Some(Open {
                    dirs: [Stream::new(), Stream::new()],
                    client_isn: None,
                    fin: [false, false],
                }),
            },
        );
        self.open.insert(id, k);
        Ok(())
    }

    /// Without a SYN: the server is the side on port 80 (HTTP/2), 7 or
    /// 81 (ttrpc) or a `--port`, else the lower port.
    fn client_by_port(&self, src: SocketAddr, dst: SocketAddr) -> SocketAddr {
        let is_server = |p: u16| SERVER_PORTS.contains(&p) || self.http2_ports.contains(&p);
        match (is_server(src.port()), is_server(dst.port())) {
            (true, false) => dst,
            (false, true) => src,
            _ if src.port() < dst.port() => dst,
            _ => src,
        }
    }

    /// Flush both directions, announce the close, remember the 4-tuple as closed.
    fn close(&mut self, k: &Key, ts: u64, sink: &mut dyn Sink) -> Result<()> {
        let Some(c) = self.conns.get_mut(k) else {
            return Ok(());
        };
        let Some(mut o) = c.open.take() else {
            return Ok(());
        };
        for dir in Dir::BOTH {
            let s = &mut o.dirs[dir.index()];
            self.held -= s.held_cost().min(self.held);
            let mut cx = ToSink {
                conn: &c.conn,
                dir,
                sink,
                counts: &mut self.counts,
            };
            s.finish(ts, None, &mut cx)?;
        }
        let id = c.conn.id;
        sink.event(&c.conn, ts, FlowEvent::Close)?;
        self.open.remove(&id);
        self.closed.push_back((*k, id));
        while self.closed.len() > MAX_CLOSED {
            let Some((old, old_id)) = self.closed.pop_front() else {
                break;
            };
            if self
                .conns
                .get(&old)
                .is_some_and(|c| c.conn.id == old_id && c.open.is_none())
            {
                self.conns.remove(&old);
            }
        }
        Ok(())
    }

    /// End of input: what waits for holes is delivered, holes as gaps.
    /// Connections stay open, as in a live capture that stops.
    pub fn finish(&mut self, sink: &mut dyn Sink) -> Result<()> {
        let keys: Vec<Key> = self.open.values().copied().collect();
        for k in keys {
            let Some(c) = self.conns.get_mut(&k) else {
                continue;
            };
            let Some(o) = c.open.as_mut() else {
                continue;
            };
            for dir in Dir::BOTH {
                let mut cx = ToSink {
                    conn: &c.conn,
                    dir,
                    sink,
                    counts: &mut self.counts,
                };
                o.dirs[dir.index()].flush(&mut cx)?;
            }
        }
        self.held = 0;
        Ok(())
    }
}
