//! The one stage that tells what a connection speaks, so that every sink
//! behind it (the recovery stage, the pcapng writer, the decoders) agrees.
//!
//! It sits right behind the flow source, live and offline. A connection's
//! events are held ([`Held`]) from its first bytes until they decide
//! ([`super::sniff`]) and both sides were heard (so that every sink knows
//! both processes from the first row on: the one that answers is named
//! by its first write); then the sinks get one [`FlowEvent::Protocol`] and
//! the held events, and everything after passes straight through. `Open`
//! passes at once; a connection that never carries a byte is told nothing.
//! A side that stays silent is not waited for past the bounds below
//! ([`HOLD_NS`] of event time, the same live and offline; live also
//! [`HOLD_TICKS`]).
//!
//! Each direction's start decides as its bytes accumulate, whatever the
//! writes (split-independent); only when the start is not either
//! protocol's (a capture begun inside a frame, or a gap first) do later
//! writes' starts count, since peers write whole frames. A seed (a
//! recovered HPACK table) means HTTP/2. Neither protocol is the verdict
//! when both sides wrote something else, past [`HOLD_LIMIT`] bytes, at
//! close, at the end of the input, or live after [`HOLD_TICKS`] ticks;
//! then any held write that is by itself one protocol's still decides.

use std::collections::{BTreeSet, HashMap, HashSet};

use anyhow::Result;

use super::sniff::{sniff, Sniff};
use crate::flow::{Conn, ConnId, Dir, FlowEvent, Held, OwnedEvent, Placement, Protocol, Sink};
use crate::sizes::Sizes;

/// Bytes held per connection while its protocol is undecided; past it the
/// connection is taken as neither gRPC nor ttrpc. Both protocols show
/// themselves in their first frame header, and a ttrpc frame whose start
/// the capture missed is followed by a boundary within its 4 MiB bound,
/// but peers write whole frames, so a later write start settles it sooner.
pub const HOLD_LIMIT: usize = 64 << 10;
/// Ticks (about 100 ms each) a live connection's bytes wait for a verdict.
pub const HOLD_TICKS: u32 = 20;
/// How long (by the times of later events, live and offline alike) a
/// decided connection waits for its other side: as long as the ticks.
pub const HOLD_NS: u64 = HOLD_TICKS as u64 * 100_000_000;

/// Per-direction evidence while undecided.
#[derive(Default)]
struct Evidence {
    /// The direction's bytes from its first, while they may still decide.
    start: Vec<u8>,
    /// A gap came before the start decided.
    broken: bool,
    /// The start is neither protocol's (or was broken): only later writes' starts count.
    other: bool,
    /// Writes seen.
    writes: u64,
}

/// A connection whose sinks were told nothing yet: its first bytes have
/// not decided, or one side was not heard yet.
struct Undecided {
    /// The connection as its latest event knew it.
    conn: Conn,
    held: Held,
    dirs: [Evidence; 2],
    age: u32,
    /// What its bytes decided, while waiting for the other side.
    verdict: Option<Option<Protocol>>,
    /// Since when (event time) it waits for the other side.
    waiting_since: Option<u64>,
}

impl Undecided {
    /// Both sides wrote (or lost bytes).
    fn both_heard(&self) -> bool {
        self.dirs.iter().all(|d| d.writes > 0 || d.broken)
    }
}

/// The stage's state, kept between events: the connections still
/// undecided, and the ones decided (whose events pass straight through).
#[derive(Default)]
pub struct Sniffer {
    undecided: HashMap<ConnId, Undecided>,
    /// Decided connections (removed at close).
    decided: HashSet<ConnId>,
    /// Decided connections waiting for their other side, by since when.
    waiting: BTreeSet<(u64, ConnId)>,
}

impl Sniffer {
    /// Connections tracked, by state.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("sniffer.undecided", self.undecided.len());
        out.add("sniffer.decided", self.decided.len());
        out.add("sniffer.waiting", self.waiting.len());
    }

    /// A stage with no connection yet.
    pub fn new() -> Self {
        Sniffer::default()
    }

    /// The stage in front of `inner`.
    pub fn sink<'a>(&'a mut self, inner: &'a mut dyn Sink) -> Sniffing<'a> {
        Sniffing { s: self, inner }
    }

    /// Connections tracked (undecided or decided and open).
    pub fn len(&self) -> usize {
        self.undecided.len() + self.decided.len()
    }

    /// No connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A [`Sniffer`] in front of a sink.
pub struct Sniffing<'a> {
    s: &'a mut Sniffer,
    inner: &'a mut dyn Sink,
}

impl Sniffing<'_> {
    /// Periodic work (live): connections undecided too long are decided
    /// with what they hold.
    pub fn tick(&mut self) -> Result<()> {
        let due: Vec<ConnId> = self
            .s
            .undecided
            .iter_mut()
            .filter(|(_, u)| !u.held.is_empty())
            .filter_map(|(id, u)| {
                u.age += 1;
                (u.age >= HOLD_TICKS).then_some(*id)
            })
            .collect();
        for id in due {
            self.settle(id, None)?;
        }
        Ok(())
    }

    /// End of the input: every connection still undecided is decided with
    /// what it holds.
    pub fn flush(&mut self) -> Result<()> {
        let mut ids: Vec<ConnId> = self.s.undecided.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.settle(id, None)?;
        }
        Ok(())
    }

    /// Connection `id`'s bytes decided `verdict`: told now if both sides
    /// were heard (or the bytes held reached their bound), else later.
    fn decide(&mut self, id: ConnId, verdict: Option<Protocol>, ts: u64) -> Result<()> {
        let Some(u) = self.s.undecided.get_mut(&id) else {
            return Ok(());
        };
        u.verdict = Some(verdict);
        if u.both_heard() || u.held.bytes() > HOLD_LIMIT {
            return self.settle(id, None);
        }
        if u.waiting_since.is_none() {
            u.waiting_since = Some(ts);
            self.s.waiting.insert((ts, id));
        }
        Ok(())
    }

    /// Connections that waited [`HOLD_NS`] for their other side by `ts`
    /// are told what they hold.
    fn expire(&mut self, ts: u64) -> Result<()> {
        while let Some(&(since, id)) = self.s.waiting.first() {
            if since.saturating_add(HOLD_NS) >= ts {
                break;
            }
            self.settle(id, None)?;
        }
        Ok(())
    }

    /// Tell the sinks what connection `id` speaks (`verdict`, or what its
    /// bytes decided, or else what its held writes say each by itself) and
    /// hand them what was held.
    fn settle(&mut self, id: ConnId, verdict: Option<Option<Protocol>>) -> Result<()> {
        let Some(mut u) = self.s.undecided.remove(&id) else {
            return Ok(());
        };
        if let Some(since) = u.waiting_since {
            self.s.waiting.remove(&(since, id));
        }
        self.s.decided.insert(id);
        let verdict = verdict.or(u.verdict);
        if u.held.bytes() == 0 && verdict.is_none() {
            // Nothing but events without bytes: nothing to tell.
            return u.held.replay(&u.conn, self.inner);
        }
        let protocol = verdict.unwrap_or_else(|| by_writes(&u.held));
        let ts = u.held.events().first().map_or(0, |(ts, _)| *ts);
        self.inner
            .event(&u.conn, ts, FlowEvent::Protocol(protocol))?;
        u.held.replay(&u.conn, self.inner)
    }

    /// The undecided state of `conn`, refreshed with what the source
    /// learned since (owners, the path, a socket), without a copy per event.
    fn undecided(&mut self, conn: &Conn) -> &mut Undecided {
        let u = self
            .s
            .undecided
            .entry(conn.id)
            .or_insert_with(|| Undecided {
                conn: conn.clone(),
                held: Held::default(),
                dirs: Default::default(),
                age: 0,
                verdict: None,
                waiting_since: None,
            });
        u.conn.client = conn.client;
        u.conn.server = conn.server;
        if u.conn.path != conn.path {
            u.conn.path.clone_from(&conn.path);
        }
        u
    }
}

/// Any held write that is by itself one protocol's start (peers write
/// whole frames); the client's first.
fn by_writes(held: &Held) -> Option<Protocol> {
    let verdict = |want: Dir| {
        held.events().iter().find_map(|(_, ev)| match ev {
            OwnedEvent::Data { dir, bytes, .. } if *dir == want => {
                match sniff(bytes, *dir == Dir::ToClient) {
                    Sniff::Is(p) => Some(p),
                    _ => None,
                }
            }
            _ => None,
        })
    };
    verdict(Dir::ToServer).or_else(|| verdict(Dir::ToClient))
}

/// What a new write of `dir` tells: a protocol, neither (`Some(None)`), or
/// nothing yet (see the module docs).
fn look(ev: &mut Evidence, dir: Dir, write: &[u8], held: usize) -> Option<Option<Protocol>> {
    let from_server = dir == Dir::ToClient;
    let first = ev.writes == 0;
    ev.writes += 1;
    if !ev.broken && !ev.other {
        ev.start.extend_from_slice(write);
        match sniff(&ev.start, from_server) {
            Sniff::Is(p) => return Some(Some(p)),
            Sniff::NeedMore if ev.start.len() <= HOLD_LIMIT => return None,
            _ => {
                ev.other = true;
                ev.start = Vec::new();
            }
        }
    }
    ev.other = true;
    if !first {
        if let Sniff::Is(p) = sniff(write, from_server) {
            return Some(Some(p));
        }
    }
    (held > HOLD_LIMIT).then_some(None)
}

impl Sink for Sniffing<'_> {
    fn event(&mut self, conn: &Conn, ts: u64, ev: FlowEvent<'_>) -> Result<()> {
        self.expire(ts)?;
        if self.s.decided.contains(&conn.id) {
            if matches!(ev, FlowEvent::Close) {
                self.s.decided.remove(&conn.id);
            }
            return self.inner.event(conn, ts, ev);
        }
        match ev {
            FlowEvent::Open => {
                self.undecided(conn);
                self.inner.event(conn, ts, ev)
            }
            // A stage in front already told: what was held goes on behind it.
            FlowEvent::Protocol(p) => {
                self.undecided(conn);
                self.settle(conn.id, Some(p))
            }
            FlowEvent::Data { dir, bytes, .. } => {
                let u = self.undecided(conn);
                u.held.push(ts, ev);
                if let Some(v) = u.verdict {
                    // Decided: waiting for the other side.
                    u.dirs[dir.index()].writes += 1;
                    return self.decide(conn.id, v, ts);
                }
                let held = u.held.bytes();
                let mut verdict = look(&mut u.dirs[dir.index()], dir, bytes, held);
                // Both sides wrote, neither like gRPC or ttrpc.
                if verdict.is_none() && u.dirs.iter().all(|d| d.other) {
                    verdict = Some(None);
                }
                match verdict {
                    Some(v) => self.decide(conn.id, v, ts),
                    None => Ok(()),
                }
            }
            FlowEvent::Gap { dir, .. } => {
                let u = self.undecided(conn);
                u.held.push(ts, ev);
                // The start can no longer be read as one stream.
                let e = &mut u.dirs[dir.index()];
                e.broken = true;
                e.other = true;
                e.start = Vec::new();
                match u.verdict {
                    Some(v) => self.decide(conn.id, v, ts),
                    None => Ok(()),
                }
            }
            FlowEvent::Seed { .. } => {
                // Only HTTP/2 connections get one, and only those that
                // began before the capture, whose both sides spoke.
                self.undecided(conn).held.push(ts, ev);
                self.settle(conn.id, Some(Some(Protocol::Grpc)))
            }
            FlowEvent::Close => {
                self.undecided(conn).held.push(ts, ev);
                self.settle(conn.id, None)?;
                self.s.decided.remove(&conn.id);
                Ok(())
            }
        }
    }

    fn placed(&mut self, conn: &Conn, placement: &Placement) -> Result<()> {
        self.inner.placed(conn, placement)
    }
}

#[cfg(test)]
mod tests;
