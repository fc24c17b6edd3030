//! The stage that puts recovered tables in their place.
//!
//! It sits between the live flow tracker and the sinks. For an HTTP/2
//! connection that began before the capture, it walks each direction's
//! frame headers until that direction's table is known. At the first
//! HEADERS frame of a direction whose table is unknown, it needs the
//! table the server held for that very block ([`Seeding::learned`]) for
//! the same stream (and, server to client, the same END_STREAM flag; client
//! to server, the same first fragment bytes). A server decodes a block only
//! after its client sent it, so the table usually arrives just after the
//! bytes: the connection's events are held from that frame on (both
//! directions, so sinks still see them in order) until it does, for at most
//! [`HOLD_TICKS`] ticks and [`HOLD_BYTES`] bytes. Then the sinks get a
//! [`FlowEvent::Seed`] right before the block, and the direction decodes
//! exactly from there on. Without a table (a server that is not a probed Go
//! program, or a timeout) the events go on unchanged: unknown stays unknown.
//!
//! By job: this file takes events and what the uprobes read, and decides
//! which connections to watch; `tables` matches tables with header blocks,
//! `names` names streams opened before the capture, `hold` holds and
//! releases a connection.

mod hold;
mod names;
mod tables;

use tables::{fits, fragment_of};

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;

use super::{Availability, Found, Learned, RecoveredTable, Recovery, StreamMethod};
use crate::decode::h2::frame::{Head, Kind};
use crate::decode::h2::heads::Heads;
use crate::decode::sniff::{is_initial_settings, PREFACE};
use crate::flow::{Conn, ConnId, Dir, FlowEvent, Held, Process, Protocol, Sink};
use crate::sizes::Sizes;

/// Ticks (about 100 ms each) a connection is held waiting for a table.
pub const HOLD_TICKS: u32 = 5;
/// Bytes a connection may hold while waiting.
pub const HOLD_BYTES: usize = 1 << 20;
/// Tables kept per direction before their block arrives: the bytes of a
/// connection's first records can wait in the capture's ordering stage
/// (`capture::causal`, up to 500 ms) while the server answers many calls
/// whose tables come at once.
const PENDING_TABLES: usize = 64;
/// Timeouts after which a direction stops waiting for tables.
const MAX_TIMEOUTS: u32 = 2;
/// Streams named per connection at most.
const MAX_NAMED: usize = 4096;
/// What the uprobes read for sockets whose connection has not shown yet
/// (a server's table can precede the connection's first record): how
/// many are kept, and for how many ticks.
const EARLY: usize = 64;
pub(super) const EARLY_TICKS: u32 = 3;

/// What the seeder did, for the summary.
#[derive(Clone, Debug, Default)]
pub struct SeederStats {
    /// Tables placed before their header block.
    pub seeded: u64,
    /// Connections that began before the capture whose tables could not be
    /// recovered, by reason.
    pub unavailable: BTreeMap<String, u64>,
    /// Tables that failed their checks (a layout this build misreads).
    pub rejected: u64,
    /// Streams opened before the capture, named from the server.
    pub streams_named: u64,
    /// Holds that ended without a table.
    pub timeouts: u64,
    /// Tables and stream methods received from the uprobes.
    pub tables: u64,
    /// Tables the uprobes could not copy, or whose connection never showed.
    pub tables_unusable: u64,
}

/// What the uprobes read for sockets not seen yet, kept a little while.
struct Early {
    learned: Learned,
    age: u32,
}

/// The block a held connection waits for.
struct Want {
    dir: Dir,
    head: Head,
    at: u64,
}

#[derive(Default)]
struct DirState {
    /// The table is known (seeded, or the connection was seen from its start).
    known: bool,
    /// No more waiting on this direction.
    given_up: bool,
    timeouts: u32,
    /// Where this direction's frames start.
    heads: Heads,
    pending: Vec<RecoveredTable>,
}

#[derive(PartialEq, Eq)]
enum Mode {
    /// Its protocol is not told yet.
    Untold,
    /// HTTP/2; not yet known whether it began before the capture.
    Undecided,
    /// It is: watch header blocks.
    Watch,
    /// Nothing to do (a fresh connection, or not HTTP/2).
    Off,
}

struct ConnState {
    conn: Conn,
    mode: Mode,
    dirs: [DirState; 2],
    held: Held,
    age: u32,
    want: Option<Want>,
    reported: bool,
    /// The first stream whose request the capture saw.
    first_stream: Option<u32>,
    /// Streams named already, and names waiting for a frame boundary.
    named: HashSet<u32>,
    /// Per direction, streams whose synthetic headers wait for a boundary.
    names: [Vec<StreamMethod>; 2],
    /// Time of the latest event.
    last_ts: u64,
}

/// The stage's state, kept between events (see the module docs).
pub struct Seeder {
    recovery: Recovery,
    conns: HashMap<ConnId, ConnState>,
    /// Connections by the inodes of their sockets.
    by_ino: HashMap<u64, ConnId>,
    early: Vec<Early>,
    /// Counters.
    pub stats: SeederStats,
}

impl Seeder {
    /// Connections, sockets and early records kept now.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("seeder.conns", self.conns.len());
        out.add("seeder.by_ino", self.by_ino.len());
        out.add("seeder.early", self.early.len());
        self.recovery.sizes(out);
    }

    /// A seeder told by `recovery` which servers can give tables.
    pub fn new(recovery: Recovery) -> Self {
        Seeder {
            recovery,
            conns: HashMap::new(),
            by_ino: HashMap::new(),
            early: Vec::new(),
            stats: SeederStats::default(),
        }
    }

    /// The stage in front of `inner`, which receives every event, seeds
    /// included.
    pub fn sink<'a>(&'a mut self, inner: &'a mut dyn Sink) -> Seeding<'a> {
        Seeding { s: self, inner }
    }
}

/// A [`Seeder`] in front of a sink.
pub struct Seeding<'a> {
    s: &'a mut Seeder,
    inner: &'a mut dyn Sink,
}

impl Seeding<'_> {
    /// What a uprobe read from a server: to its connection, or kept a
    /// little while if that connection has not shown yet.
    pub fn learned(&mut self, l: Learned) -> Result<()> {
        if matches!(l.found, Found::Unusable) {
            self.s.stats.tables_unusable += 1;
            return Ok(());
        }
        self.s.stats.tables += 1;
        let id = l
            .sockets
            .iter()
            .filter(|&&ino| ino != 0)
            .find_map(|ino| self.s.by_ino.get(ino).copied());
        if let Some(id) = id {
            return self.deliver(id, l);
        }
        if self.s.early.len() >= EARLY {
            self.s.early.remove(0);
            self.s.stats.tables_unusable += 1;
        }
        self.s.early.push(Early { learned: l, age: 0 });
        Ok(())
    }

    fn deliver(&mut self, id: ConnId, l: Learned) -> Result<()> {
        let Some(conn) = self.s.conns.get(&id).map(|c| c.conn.clone()) else {
            return Ok(());
        };
        match &l.found {
            Found::Table(t) => self.table(&conn, l.ts_ns, t),
            Found::Stream(m) => self.stream_method(&conn, l.ts_ns, m),
            Found::Unusable => Ok(()),
        }
    }

    /// The sockets of `conn`, now known: what waited for them is delivered.
    fn index(&mut self, conn: &Conn) -> Result<()> {
        let inos = [conn.client.ino, conn.server.ino];
        for ino in inos.into_iter().filter(|&ino| ino != 0) {
            self.s.by_ino.insert(ino, conn.id);
        }
        let mut i = 0;
        while i < self.s.early.len() {
            let sockets = self.s.early[i].learned.sockets;
            if sockets.iter().any(|x| *x != 0 && inos.contains(x)) {
                let e = self.s.early.remove(i);
                self.deliver(conn.id, e.learned)?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// What the connection speaks, told once: only HTTP/2 is watched.
    fn told(&mut self, conn: &Conn, protocol: Option<Protocol>) {
        let Some(c) = self.s.conns.get_mut(&conn.id) else {
            return;
        };
        if c.mode != Mode::Untold {
            return;
        }
        if protocol == Some(Protocol::Grpc) {
            c.mode = Mode::Undecided;
        } else {
            self.off(conn.id, conn.server.ino);
        }
    }

    /// Nothing to do for this connection (fresh, or not HTTP/2).
    fn off(&mut self, id: ConnId, server_ino: u64) {
        let Some(c) = self.s.conns.get_mut(&id) else {
            return;
        };
        c.mode = Mode::Off;
        c.names = Default::default();
        for d in &mut c.dirs {
            d.pending.clear();
        }
        self.s.recovery.mark_fresh(server_ino);
    }

    /// Decide from the first bytes of a direction of an HTTP/2 connection
    /// whether it began before the capture.
    fn decide(&mut self, conn: &Conn, dir: Dir, offset: u64, bytes: &[u8]) {
        let Some(c) = self.s.conns.get_mut(&conn.id) else {
            return;
        };
        if c.mode != Mode::Undecided {
            return;
        }
        let fresh = dir == Dir::ToServer && offset == 0 && bytes.starts_with(PREFACE);
        // A fresh server may send its SETTINGS before it reads the preface:
        // the client's first bytes decide then.
        let server_first = dir == Dir::ToClient && offset == 0 && is_initial_settings(bytes);
        if fresh {
            self.off(conn.id, conn.server.ino);
        } else if !server_first {
            c.mode = Mode::Watch;
            let pid = conn.server.owner.pid.unwrap_or(0);
            if let Some(Availability::Unavailable(why)) = self.s.recovery.availability(pid) {
                if !c.reported {
                    c.reported = true;
                    *self.s.stats.unavailable.entry(why).or_default() += 1;
                }
            }
        }
    }

    /// Bytes of a connection being watched.
    fn data(
        &mut self,
        conn: &Conn,
        ts: u64,
        dir: Dir,
        writer: &Process,
        offset: u64,
        bytes: &[u8],
    ) -> Result<()> {
        let probed = matches!(
            self.s
                .recovery
                .availability(conn.server.owner.pid.unwrap_or(0)),
            Some(Availability::Probed(_))
        );
        let Some(c) = self.s.conns.get_mut(&conn.id) else {
            return self.pass(conn, ts, dir, writer, offset, bytes);
        };
        let mut found = Vec::new();
        let d = &mut c.dirs[dir.index()];
        // Frame boundaries (for tables, names, the first request).
        d.heads.feed(offset, bytes, &mut found);
        // bytes[..done] went on already.
        let mut done = 0usize;
        for (at, head) in found {
            if at < offset + done as u64 {
                continue;
            }
            let cut = (at - offset) as usize;
            let c = self.s.conns.get_mut(&conn.id).expect("checked above");
            if dir == Dir::ToServer && head.kind == Kind::Headers && c.first_stream.is_none() {
                c.first_stream = Some(head.stream_id);
                self.s
                    .recovery
                    .mark_first_stream(conn.server.ino, head.stream_id);
            }
            if !c.names[dir.index()].is_empty() {
                done = self.pass_range(conn, ts, (dir, writer), (offset, bytes), done..cut)?;
                self.name_streams(conn, ts, dir, at)?;
            }
            let c = self.s.conns.get_mut(&conn.id).expect("checked above");
            let d = &mut c.dirs[dir.index()];
            if d.known || head.kind != Kind::Headers {
                continue;
            }
            let fragment = fragment_of(&head, &bytes[cut..]);
            if let Some(i) = d.pending.iter().position(|t| fits(t, &head, fragment)) {
                let t = d.pending.remove(i);
                done = self.pass_range(conn, ts, (dir, writer), (offset, bytes), done..cut)?;
                let seed = self.seed_of(conn, &t, at);
                self.event(conn, ts, seed.as_event())?;
                continue;
            }
            if !probed || d.given_up || d.heads.is_lost() {
                continue;
            }
            // Hold from this block on until its table comes.
            self.pass_range(conn, ts, (dir, writer), (offset, bytes), done..cut)?;
            let c = self.s.conns.get_mut(&conn.id).expect("checked above");
            c.want = Some(Want { dir, head, at });
            c.age = 0;
            c.held.push(ts, data_ev(dir, writer, at, &bytes[cut..]));
            return Ok(());
        }
        self.pass(conn, ts, dir, writer, offset + done as u64, &bytes[done..])
    }

    /// `bytes[range]` of a write at `offset` on to the sinks; returns
    /// where the next range starts.
    fn pass_range(
        &mut self,
        conn: &Conn,
        ts: u64,
        (dir, writer): (Dir, &Process),
        (offset, bytes): (u64, &[u8]),
        range: std::ops::Range<usize>,
    ) -> Result<usize> {
        let at = offset + range.start as u64;
        let end = range.end;
        self.pass(conn, ts, dir, writer, at, &bytes[range])?;
        Ok(end)
    }

    /// Bytes before a block, on to the sinks (nothing when empty).
    fn pass(
        &mut self,
        conn: &Conn,
        ts: u64,
        dir: Dir,
        writer: &Process,
        offset: u64,
        bytes: &[u8],
    ) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.inner
            .event(conn, ts, data_ev(dir, writer, offset, bytes))
    }
}

fn data_ev<'e>(dir: Dir, writer: &'e Process, offset: u64, bytes: &'e [u8]) -> FlowEvent<'e> {
    FlowEvent::Data {
        dir,
        writer,
        offset,
        bytes,
    }
}

impl Sink for Seeding<'_> {
    fn event(&mut self, conn: &Conn, ts: u64, ev: FlowEvent<'_>) -> Result<()> {
        if let Some(c) = self.s.conns.get_mut(&conn.id) {
            c.last_ts = c.last_ts.max(ts);
        }
        match ev {
            FlowEvent::Open => {
                self.s.conns.insert(
                    conn.id,
                    ConnState {
                        conn: conn.clone(),
                        mode: Mode::Untold,
                        dirs: Default::default(),
                        held: Held::default(),
                        age: 0,
                        want: None,
                        reported: false,
                        first_stream: None,
                        named: HashSet::new(),
                        names: Default::default(),
                        last_ts: ts,
                    },
                );
                self.inner.event(conn, ts, ev)?;
                self.index(conn)
            }
            FlowEvent::Protocol(p) => {
                self.told(conn, p);
                self.inner.event(conn, ts, ev)
            }
            FlowEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            } => {
                if self.hold(conn.id, ts, ev)? {
                    return Ok(());
                }
                if let Some(c) = self.s.conns.get_mut(&conn.id) {
                    // What the flow layer learned since (owners, the path,
                    // a socket), without a copy per write.
                    let new_ino = c.conn.client.ino != conn.client.ino
                        || c.conn.server.ino != conn.server.ino;
                    c.conn.client = conn.client;
                    c.conn.server = conn.server;
                    if c.conn.path != conn.path {
                        c.conn.path.clone_from(&conn.path);
                    }
                    if new_ino {
                        self.index(conn)?;
                    }
                }
                self.decide(conn, dir, offset, bytes);
                let watching = self
                    .s
                    .conns
                    .get(&conn.id)
                    .is_some_and(|c| c.mode == Mode::Watch);
                if watching {
                    self.data(conn, ts, dir, writer, offset, bytes)
                } else {
                    self.inner.event(conn, ts, ev)
                }
            }
            FlowEvent::Gap { dir, .. } => {
                if self.hold(conn.id, ts, ev)? {
                    return Ok(());
                }
                if let Some(c) = self.s.conns.get_mut(&conn.id) {
                    c.dirs[dir.index()].heads.gap();
                }
                self.inner.event(conn, ts, ev)
            }
            FlowEvent::Seed { .. } => {
                if self.hold(conn.id, ts, ev)? {
                    return Ok(());
                }
                self.inner.event(conn, ts, ev)
            }
            FlowEvent::Close => {
                if self.hold(conn.id, ts, ev)? {
                    // The connection is over: no table can come any more.
                    return self.timeout(conn.id);
                }
                if let Some(c) = self.s.conns.remove(&conn.id) {
                    for ino in [c.conn.client.ino, c.conn.server.ino] {
                        if self.s.by_ino.get(&ino) == Some(&conn.id) {
                            self.s.by_ino.remove(&ino);
                        }
                    }
                    // Nothing about its socket is kept in the kernel either.
                    self.s.recovery.forget(c.conn.server.ino);
                }
                self.inner.event(conn, ts, ev)
            }
        }
    }

    fn placed(&mut self, conn: &Conn, placement: &crate::flow::Placement) -> Result<()> {
        self.inner.placed(conn, placement)
    }
}
