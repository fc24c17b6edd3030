//! The adapter from flow events to protocol decoders: one decoder per
//! connection (HTTP/2, ttrpc or HTTP/1.x), chosen by the flow's [`FlowEvent::Protocol`] (told by the
//! one stage that sniffs, `decode::sniffer`), fed each direction's
//! ordered bytes and gaps, its events handed on with the connection they
//! belong to. The presentation pipeline ([`super::Pipeline`]) and `redact`
//! both decode through it.

use std::collections::HashMap;

use anyhow::{ensure, Result};

use super::item::ConnInfo;
use crate::decode::http1::Ttys;
use crate::decode::{ConnDecoder, Event, Http1Decoder, Protocol, TtrpcDecoder};
use crate::flow::{Conn, ConnId, Dir, FlowEvent, Process, Stamp};
use crate::sizes::Sizes;

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
    /// HTTP/1.x.
    pub http: u64,
    /// Bytes that are none of them: not decoded.
    pub other: u64,
}

enum Proto {
    /// Not told yet: no byte came.
    Untold,
    Http2(Box<ConnDecoder>),
    Ttrpc(Box<TtrpcDecoder>),
    Http1(Box<Http1Decoder>),
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
    /// HTTP/1.x: the TTYs create calls named, for other connections' streams.
    ttys: Ttys,
}

impl Decoders {
    /// Connections with a decoder now.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("decoders.conns", self.conns.len());
        out.add("decoders.http_ttys", self.ttys.len());
    }

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
            proto: Proto::Untold,
            next: [0, 0],
        });
        e.info.refresh(conn);
        match ev {
            FlowEvent::Open => {}
            FlowEvent::Protocol(p) => self.decide(conn.id, p),
            FlowEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            } => {
                advance(e, conn.id, dir, offset, bytes.len() as u64)?;
                ensure!(
                    !matches!(e.proto, Proto::Untold),
                    "connection {}: bytes before its protocol was told (the flow source \
                     must pass through decode::sniffer)",
                    conn.id
                );
                let stamp = Stamp { ts_ns, by: *writer };
                feed(e, dir, bytes, &stamp, &mut self.events);
            }
            FlowEvent::Gap { dir, offset, len } => {
                advance(e, conn.id, dir, offset, len)?;
                gap(e, dir, len, &mut self.events);
            }
            FlowEvent::Seed { dir, frame, .. } => {
                e.info.hpack_recovered = true;
                if let Proto::Http2(d) = &mut e.proto {
                    let stamp = Stamp {
                        ts_ns,
                        by: Process::default(),
                    };
                    d.seed(dir, frame, &stamp, &mut self.events);
                }
            }
            FlowEvent::Close => {
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

    /// The decoder of connection `id`, for what it speaks (`None`: neither).
    fn decide(&mut self, id: ConnId, verdict: Option<Protocol>) {
        let Some(e) = self.conns.get_mut(&id) else {
            return;
        };
        if !matches!(e.proto, Proto::Untold) {
            return;
        }
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
            Some(Protocol::Http1) => {
                self.counts.http += 1;
                let mut dec = Http1Decoder::new();
                dec.share_ttys(self.ttys.clone());
                if self.literals {
                    dec.report_literals();
                }
                Proto::Http1(Box::new(dec))
            }
            None => {
                self.counts.other += 1;
                Proto::Other
            }
        };
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
            if let Some(mut e) = self.conns.remove(&id) {
                close(&mut e, ts_ns, &mut self.events);
                self.emit(&e.info, ts_ns, out)?;
            }
        }
        Ok(())
    }
}

fn feed(e: &mut Entry, dir: Dir, bytes: &[u8], stamp: &Stamp, out: &mut Vec<Event>) {
    match &mut e.proto {
        Proto::Http2(d) => d.feed(dir, bytes, stamp, out),
        Proto::Ttrpc(d) => d.feed(dir, bytes, stamp, out),
        Proto::Http1(d) => d.feed(dir, bytes, stamp, out),
        Proto::Untold | Proto::Other => {}
    }
}

fn gap(e: &mut Entry, dir: Dir, n: u64, out: &mut Vec<Event>) {
    match &mut e.proto {
        Proto::Http2(d) => d.gap(dir, n, out),
        Proto::Ttrpc(d) => d.gap(dir, n, out),
        Proto::Http1(d) => d.gap(dir, n, out),
        Proto::Untold | Proto::Other => {}
    }
}

fn close(e: &mut Entry, ts_ns: u64, out: &mut Vec<Event>) {
    match &mut e.proto {
        Proto::Http2(d) => d.close(ts_ns, out),
        Proto::Ttrpc(d) => d.close(ts_ns, out),
        Proto::Http1(d) => d.close(ts_ns, out),
        Proto::Untold | Proto::Other => {}
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
