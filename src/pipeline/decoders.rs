//! The adapter from flow events to protocol decoders: one decoder per
//! connection, chosen from its bytes ([`sniff`]), fed each direction's
//! ordered bytes and gaps, its events handed on with the connection they
//! belong to. The presentation pipeline ([`super::Pipeline`]) and `redact`
//! both decode through it.

use std::collections::HashMap;

use anyhow::{ensure, Result};

use super::item::ConnInfo;
use crate::decode::sniff::{sniff, Sniff};
use crate::decode::{ConnDecoder, Event, Protocol, TtrpcDecoder};
use crate::flow::{Conn, ConnId, Dir, FlowEvent, Process, Stamp};

/// Bytes held per connection while its protocol is undecided; past it the
/// connection is taken as neither gRPC nor ttrpc. Both protocols show
/// themselves in their first frame header, and a ttrpc frame whose start
/// the capture missed is followed by a boundary within its 4 MiB bound,
/// but peers write whole frames, so a later write start settles it sooner.
const HOLD_LIMIT: usize = 64 << 10;

/// Receives decoder events, with their connection and the time of the flow
/// event that produced them.
pub trait Events {
    /// One event.
    fn event(&mut self, conn: &ConnInfo, ts_ns: u64, ev: Event) -> Result<()>;
}

/// How many connections spoke what, counted when decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProtocolCounts {
    /// gRPC over HTTP/2.
    pub grpc: u64,
    /// ttrpc.
    pub ttrpc: u64,
    /// Bytes that are neither: not decoded.
    pub other: u64,
}

/// A flow event kept while the protocol is undecided.
enum Held {
    Data {
        ts_ns: u64,
        dir: Dir,
        writer: Process,
        bytes: Vec<u8>,
    },
    Gap {
        dir: Dir,
        len: u64,
    },
    Seed {
        dir: Dir,
        frame: Vec<u8>,
        ts_ns: u64,
    },
}

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

enum Proto {
    Undecided {
        held: Vec<Held>,
        bytes: usize,
        dirs: [Evidence; 2],
    },
    Http2(Box<ConnDecoder>),
    Ttrpc(Box<TtrpcDecoder>),
    /// Neither: its bytes are dropped.
    Other,
}

struct Entry {
    info: ConnInfo,
    proto: Proto,
    /// Stream offset of the next byte of each direction, as the decoder
    /// counts (bytes fed and lost since it began).
    next: [u64; 2],
}

/// The decoders of every open connection.
#[derive(Default)]
pub struct Decoders {
    conns: HashMap<ConnId, Entry>,
    events: Vec<Event>,
    last_ns: u64,
    literals: bool,
    counts: ProtocolCounts,
}

impl Decoders {
    /// Decoders for every connection that shows up.
    pub fn new() -> Self {
        Decoders::default()
    }

    /// Also report where literal header values lie in the stream
    /// ([`Event::Literals`]), for rewriting a capture without them.
    pub fn with_literals(mut self) -> Self {
        self.literals = true;
        self
    }

    /// Time of the latest flow event seen (for finishing at the end of a file).
    pub fn last_ns(&self) -> u64 {
        self.last_ns
    }

    /// Connections decided so far, by protocol.
    pub fn counts(&self) -> ProtocolCounts {
        self.counts
    }

    /// One flow event of `conn`: its bytes decoded, the events handed to `out`.
    pub fn on_flow(
        &mut self,
        conn: &Conn,
        ts_ns: u64,
        ev: FlowEvent<'_>,
        out: &mut dyn Events,
    ) -> Result<()> {
        self.last_ns = self.last_ns.max(ts_ns);
        let e = self.conns.entry(conn.id).or_insert_with(|| Entry {
            info: ConnInfo::default(),
            proto: Proto::Undecided {
                held: Vec::new(),
                bytes: 0,
                dirs: Default::default(),
            },
            next: [0, 0],
        });
        e.info.refresh(conn);
        match ev {
            FlowEvent::Open => {}
            FlowEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            } => {
                advance(e, conn.id, dir, offset, bytes.len() as u64)?;
                let stamp = Stamp { ts_ns, by: *writer };
                if let Proto::Undecided {
                    held,
                    bytes: n,
                    dirs,
                } = &mut e.proto
                {
                    *n += bytes.len();
                    held.push(Held::Data {
                        ts_ns,
                        dir,
                        writer: *writer,
                        bytes: bytes.to_vec(),
                    });
                    let mut verdict = look(&mut dirs[dir.index()], dir, bytes, *n);
                    // Both sides wrote, neither like gRPC or ttrpc.
                    if verdict.is_none() && dirs.iter().all(|d| d.other) {
                        verdict = Some(None);
                    }
                    self.decide(conn.id, verdict)?;
                } else {
                    feed(e, dir, bytes, &stamp, &mut self.events);
                }
            }
            FlowEvent::Gap { dir, offset, len } => {
                advance(e, conn.id, dir, offset, len)?;
                match &mut e.proto {
                    Proto::Undecided { held, dirs, .. } => {
                        held.push(Held::Gap { dir, len });
                        // The start can no longer be read as one stream.
                        let ev = &mut dirs[dir.index()];
                        ev.broken = true;
                        ev.other = true;
                        ev.start = Vec::new();
                    }
                    _ => gap(e, dir, len, &mut self.events),
                }
            }
            FlowEvent::Seed { dir, frame, .. } => {
                e.info.hpack_recovered = true;
                match &mut e.proto {
                    Proto::Undecided { held, .. } => {
                        held.push(Held::Seed {
                            dir,
                            frame: frame.to_vec(),
                            ts_ns,
                        });
                        // Only HTTP/2 connections get one.
                        self.decide(conn.id, Some(Some(Protocol::Grpc)))?;
                    }
                    Proto::Http2(d) => {
                        let stamp = Stamp {
                            ts_ns,
                            by: Process::default(),
                        };
                        d.seed(dir, frame, &stamp, &mut self.events);
                    }
                    Proto::Ttrpc(_) | Proto::Other => {}
                }
            }
            FlowEvent::Close => {
                self.decide(conn.id, Some(None))?;
                if let Some(e) = self.conns.get_mut(&conn.id) {
                    close(e, ts_ns, &mut self.events);
                }
            }
        }
        // Most writes end no message: nothing to hand on, nothing copied.
        if !self.events.is_empty() {
            match self.conns.get(&conn.id) {
                Some(e) => {
                    for ev in self.events.drain(..) {
                        out.event(&e.info, ts_ns, ev)?;
                    }
                }
                None => self.events.clear(),
            }
        }
        if matches!(ev, FlowEvent::Close) {
            self.conns.remove(&conn.id);
        }
        Ok(())
    }

    /// Settles the protocol of `id` when `verdict` says so (`Some(None)`:
    /// neither), replaying what was held into the chosen decoder.
    fn decide(&mut self, id: ConnId, verdict: Option<Option<Protocol>>) -> Result<()> {
        let Some(verdict) = verdict else {
            return Ok(());
        };
        let Some(e) = self.conns.get_mut(&id) else {
            return Ok(());
        };
        let held = match &mut e.proto {
            Proto::Undecided { held, .. } => std::mem::take(held),
            _ => return Ok(()),
        };
        e.info.protocol = verdict;
        e.proto = match verdict {
            Some(Protocol::Grpc) => {
                self.counts.grpc += 1;
                // The decoder recognises a preface at the client's first
                // byte; without one the capture began mid-connection.
                let mut dec = ConnDecoder::new(false);
                if self.literals {
                    dec.report_literals();
                }
                Proto::Http2(Box::new(dec))
            }
            Some(Protocol::Ttrpc) => {
                self.counts.ttrpc += 1;
                Proto::Ttrpc(Box::new(TtrpcDecoder::new()))
            }
            None => {
                // A connection that closed without a byte spoke nothing.
                if !held.is_empty() {
                    self.counts.other += 1;
                }
                Proto::Other
            }
        };
        for h in held {
            match h {
                Held::Data {
                    ts_ns,
                    dir,
                    writer,
                    bytes,
                } => {
                    let stamp = Stamp { ts_ns, by: writer };
                    feed(e, dir, &bytes, &stamp, &mut self.events);
                }
                Held::Gap { dir, len, .. } => gap(e, dir, len, &mut self.events),
                Held::Seed { dir, frame, ts_ns } => {
                    if let Proto::Http2(d) = &mut e.proto {
                        let stamp = Stamp {
                            ts_ns,
                            by: Process::default(),
                        };
                        d.seed(dir, &frame, &stamp, &mut self.events);
                    }
                }
            }
        }
        Ok(())
    }

    fn emit(&mut self, info: &ConnInfo, ts_ns: u64, out: &mut dyn Events) -> Result<()> {
        for ev in self.events.drain(..) {
            out.event(info, ts_ns, ev)?;
        }
        Ok(())
    }

    /// End of input: the calls still open on every connection end unfinished.
    pub fn finish(&mut self, ts_ns: u64, out: &mut dyn Events) -> Result<()> {
        let mut ids: Vec<ConnId> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.decide(id, Some(None))?;
            if let Some(mut e) = self.conns.remove(&id) {
                close(&mut e, ts_ns, &mut self.events);
                self.emit(&e.info, ts_ns, out)?;
            }
        }
        Ok(())
    }
}

/// What a new write of `dir` tells: a protocol, neither (`Some(None)`), or
/// nothing yet. The direction's start decides as its bytes accumulate,
/// whatever the writes (split-independent); only when the start is not
/// either protocol's (a capture begun inside a frame, or a gap before the
/// verdict) do later writes' starts count, since peers write whole frames.
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

fn feed(e: &mut Entry, dir: Dir, bytes: &[u8], stamp: &Stamp, out: &mut Vec<Event>) {
    match &mut e.proto {
        Proto::Http2(d) => d.feed(dir, bytes, stamp, out),
        Proto::Ttrpc(d) => d.feed(dir, bytes, stamp, out),
        Proto::Undecided { .. } | Proto::Other => {}
    }
}

fn gap(e: &mut Entry, dir: Dir, n: u64, out: &mut Vec<Event>) {
    match &mut e.proto {
        Proto::Http2(d) => d.gap(dir, n, out),
        Proto::Ttrpc(d) => d.gap(dir, n, out),
        Proto::Undecided { .. } | Proto::Other => {}
    }
}

fn close(e: &mut Entry, ts_ns: u64, out: &mut Vec<Event>) {
    match &mut e.proto {
        Proto::Http2(d) => d.close(ts_ns, out),
        Proto::Ttrpc(d) => d.close(ts_ns, out),
        Proto::Undecided { .. } | Proto::Other => {}
    }
}

/// The flow layer delivers each direction contiguously from offset 0, gaps
/// included, and the decoder counts the same way: stream ranges the decoder
/// reports (`redact` rewrites them in place) are the flow's offsets.
fn advance(e: &mut Entry, id: ConnId, dir: Dir, offset: u64, len: u64) -> Result<()> {
    let next = &mut e.next[dir.index()];
    let expected = *next;
    *next = offset + len;
    ensure!(
        offset == expected,
        "connection {id} {dir}: bytes at stream offset {offset}, expected {expected}"
    );
    Ok(())
}
