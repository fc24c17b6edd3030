//! The adapter from flow events to protocol decoders: one decoder per
//! connection, fed each direction's ordered bytes and gaps, its events
//! handed on with the connection they belong to. The presentation
//! pipeline ([`super::Pipeline`]) and `redact` both decode through it.

use std::collections::HashMap;

use anyhow::{ensure, Result};

use super::item::ConnInfo;
use crate::decode::{ConnDecoder, Event};
use crate::flow::{Conn, ConnId, Dir, FlowEvent, Stamp};

/// Receives decoder events, with their connection and the time of the flow
/// event that produced them.
pub trait Events {
    /// One event.
    fn event(&mut self, conn: &ConnInfo, ts_ns: u64, ev: Event) -> Result<()>;
}

struct Entry {
    info: ConnInfo,
    dec: ConnDecoder,
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

    /// One flow event of `conn`: its bytes decoded, the events handed to `out`.
    pub fn on_flow(
        &mut self,
        conn: &Conn,
        ts_ns: u64,
        ev: FlowEvent<'_>,
        out: &mut dyn Events,
    ) -> Result<()> {
        self.last_ns = self.last_ns.max(ts_ns);
        let literals = self.literals;
        let e = self.conns.entry(conn.id).or_insert_with(|| {
            // The decoder recognises a preface at the client's first byte;
            // without one the capture began mid-connection.
            let mut dec = ConnDecoder::new(false);
            if literals {
                dec.report_literals();
            }
            Entry {
                info: ConnInfo::default(),
                dec,
                next: [0, 0],
            }
        });
        e.info = ConnInfo::of(conn);
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
                e.dec.feed(dir, bytes, &stamp, &mut self.events);
            }
            FlowEvent::Gap { dir, offset, len } => {
                advance(e, conn.id, dir, offset, len)?;
                e.dec.gap(dir, len, &mut self.events);
            }
            FlowEvent::Close => e.dec.close(ts_ns, &mut self.events),
        }
        let info = e.info.clone();
        if matches!(ev, FlowEvent::Close) {
            self.conns.remove(&conn.id);
        }
        self.emit(&info, ts_ns, out)
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
                e.dec.close(ts_ns, &mut self.events);
                self.emit(&e.info, ts_ns, out)?;
            }
        }
        Ok(())
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
