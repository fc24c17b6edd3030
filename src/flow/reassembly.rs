//! One direction's bytes back in stream order: the one reassembler of the
//! live capture (records placed by their send offset) and of capture files
//! (TCP segments placed by sequence number).
//!
//! Ranges ahead of the delivery position are held, bounded in bytes, until
//! the missing range arrives; ranges behind it are dropped as stale
//! (retransmissions, duplicates). A range known to be lost is a [`Chunk::Lost`]
//! entry like any other, so a hole is reported as a gap of its exact size,
//! never filled and never skipped silently.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{Conn, Dir, FlowEvent, Process, Sink};

/// What a held entry costs beyond its bytes (bounds the number of entries).
const ENTRY_COST: usize = 64;

/// A range of a stream: bytes, or a count of bytes known to have been sent
/// but not captured.
#[derive(Clone, Copy, Debug)]
pub enum Chunk<B> {
    /// Captured bytes.
    Bytes(B),
    /// This many bytes were lost.
    Lost(u64),
}

impl<B: AsRef<[u8]>> Chunk<B> {
    fn len(&self) -> u64 {
        match self {
            Chunk::Bytes(b) => b.as_ref().len() as u64,
            Chunk::Lost(n) => *n,
        }
    }

    /// Bytes that count as stale when `n` of this chunk are dropped.
    fn stale(&self, n: u64) -> u64 {
        match self {
            Chunk::Bytes(_) => n,
            Chunk::Lost(_) => 0,
        }
    }

    fn cost(&self) -> usize {
        ENTRY_COST
            + match self {
                Chunk::Bytes(b) => b.as_ref().len(),
                Chunk::Lost(_) => 0,
            }
    }

    fn borrowed(&self) -> Chunk<&[u8]> {
        match self {
            Chunk::Bytes(b) => Chunk::Bytes(b.as_ref()),
            Chunk::Lost(n) => Chunk::Lost(*n),
        }
    }
}

/// Where a reassembler's output goes.
pub trait Deliver {
    /// `bytes` at stream `offset`, contiguous with what came before.
    fn data(&mut self, ts: u64, by: &Process, offset: u64, bytes: &[u8]) -> Result<()>;
    /// `len` bytes at `offset` are lost.
    fn gap(&mut self, ts: u64, offset: u64, len: u64) -> Result<()>;
    /// `len` bytes arrived again, or behind the delivery position, and were dropped.
    fn stale(&mut self, len: u64);
}

/// Delivery counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Bytes reported lost (gaps).
    pub gap_bytes: u64,
    /// Bytes dropped as duplicates or behind the stream position.
    pub stale_bytes: u64,
}

/// Delivery to a flow sink, as events of one direction of one connection.
pub struct ToSink<'a> {
    /// The connection.
    pub conn: &'a Conn,
    /// The direction.
    pub dir: Dir,
    /// The consumer.
    pub sink: &'a mut dyn Sink,
    /// Counters to add to.
    pub counts: &'a mut Counts,
}

impl Deliver for ToSink<'_> {
    fn data(&mut self, ts: u64, by: &Process, offset: u64, bytes: &[u8]) -> Result<()> {
        self.counts.bytes += bytes.len() as u64;
        let ev = FlowEvent::Data {
            dir: self.dir,
            writer: by,
            offset,
            bytes,
        };
        self.sink.event(self.conn, ts, ev)
    }

    fn gap(&mut self, ts: u64, offset: u64, len: u64) -> Result<()> {
        self.counts.gap_bytes += len;
        let ev = FlowEvent::Gap {
            dir: self.dir,
            offset,
            len,
        };
        self.sink.event(self.conn, ts, ev)
    }

    fn stale(&mut self, len: u64) {
        self.counts.stale_bytes += len;
    }
}

#[derive(Debug)]
struct Held {
    ts: u64,
    by: Process,
    chunk: Chunk<Vec<u8>>,
}

/// The reassembly state of one direction.
#[derive(Debug)]
pub struct Reassembler {
    /// Offset of the next byte to deliver.
    next: u64,
    /// Time of the last delivery.
    last_ts: u64,
    held: BTreeMap<u64, Held>,
    held_cost: usize,
    /// Most bytes held; past it the first hole is given up.
    limit: usize,
}

impl Reassembler {
    /// Ranges held ahead of the delivery position.
    pub fn held_ranges(&self) -> usize {
        self.held.len()
    }

    /// A stream delivered from offset 0, holding at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Reassembler {
            next: 0,
            last_ts: 0,
            held: BTreeMap::new(),
            held_cost: 0,
            limit,
        }
    }

    /// Offset of the next byte to deliver.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Time of the last delivery (0 before any).
    pub fn last_ts(&self) -> u64 {
        self.last_ts
    }

    /// Nothing delivered or held yet.
    pub fn is_fresh(&self) -> bool {
        self.next == 0 && self.held.is_empty()
    }

    /// Whether ranges wait for a hole to fill.
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Memory held, for bounds over many directions.
    pub fn held_cost(&self) -> usize {
        self.held_cost
    }

    /// A range at stream offset `off` (negative: partly before the stream
    /// began, that part is dropped), written at `ts` by `by`.
    pub fn insert(
        &mut self,
        off: i128,
        ts: u64,
        by: Process,
        chunk: Chunk<&[u8]>,
        out: &mut dyn Deliver,
    ) -> Result<()> {
        let len = chunk.len();
        let next = self.next as i128;
        if len == 0 {
            return Ok(());
        }
        if off + len as i128 <= next {
            out.stale(chunk.stale(len));
            return Ok(());
        }
        if off <= next {
            let skip = (next - off) as u64;
            out.stale(chunk.stale(skip));
            self.deliver(ts, &by, chunk, skip, out)?;
            return self.drain(out);
        }
        let off = off as u64;
        if let Some(old) = self.held.get(&off) {
            // Real bytes beat a lost marker; otherwise the longer one stays.
            let old_wins = match (&old.chunk, &chunk) {
                (Chunk::Lost(_), Chunk::Bytes(_)) => false,
                (Chunk::Bytes(_), Chunk::Lost(_)) => true,
                _ => old.chunk.len() >= len,
            };
            if old_wins {
                out.stale(chunk.stale(len));
                return Ok(());
            }
            out.stale(old.chunk.stale(old.chunk.len()));
            self.held_cost -= old.chunk.cost();
        }
        let chunk = match chunk {
            Chunk::Bytes(b) => Chunk::Bytes(b.to_vec()),
            Chunk::Lost(n) => Chunk::Lost(n),
        };
        self.held_cost += chunk.cost();
        self.held.insert(off, Held { ts, by, chunk });
        while self.held_cost > self.limit {
            self.release_first(out)?;
        }
        Ok(())
    }

    /// Deliver `chunk` from its byte `skip` on, at the stream position.
    fn deliver(
        &mut self,
        ts: u64,
        by: &Process,
        chunk: Chunk<&[u8]>,
        skip: u64,
        out: &mut dyn Deliver,
    ) -> Result<()> {
        let offset = self.next;
        self.last_ts = ts;
        match chunk {
            Chunk::Bytes(b) => {
                let b = &b[skip as usize..];
                self.next += b.len() as u64;
                out.data(ts, by, offset, b)
            }
            Chunk::Lost(n) => {
                let len = n - skip;
                self.next += len;
                out.gap(ts, offset, len)
            }
        }
    }

    /// Deliver held entries that the stream position has reached.
    fn drain(&mut self, out: &mut dyn Deliver) -> Result<()> {
        while let Some(entry) = self.held.first_entry() {
            let off = *entry.key();
            if off > self.next {
                break;
            }
            let h = entry.remove();
            self.held_cost -= h.chunk.cost();
            let end = off + h.chunk.len();
            let skip = self.next - off;
            out.stale(h.chunk.stale(skip.min(h.chunk.len())));
            if end > self.next {
                self.deliver(h.ts, &h.by, h.chunk.borrowed(), skip, out)?;
            }
        }
        Ok(())
    }

    /// Give up on the hole before the first held entry: it becomes a gap.
    pub fn release_first(&mut self, out: &mut dyn Deliver) -> Result<()> {
        let Some((&off, first)) = self.held.first_key_value() else {
            return Ok(());
        };
        if off > self.next {
            let (ts, offset, len) = (first.ts, self.next, off - self.next);
            self.next = off;
            out.gap(ts, offset, len)?;
        }
        self.drain(out)
    }

    /// Everything before stream offset `end` is final (the reader has
    /// acknowledged it): holes below it are gaps now, not at the limit.
    pub fn release_to(&mut self, ts: u64, end: i128, out: &mut dyn Deliver) -> Result<()> {
        while let Some((&off, _)) = self.held.first_key_value() {
            if end <= self.next as i128 {
                break;
            }
            let stop = off.min(end as u64);
            if stop > self.next {
                let (offset, len) = (self.next, stop - self.next);
                self.next = stop;
                out.gap(ts, offset, len)?;
            }
            self.drain(out)?;
            if off > stop {
                break;
            }
        }
        Ok(())
    }

    /// Everything held is delivered, holes as gaps.
    pub fn flush(&mut self, out: &mut dyn Deliver) -> Result<()> {
        while !self.held.is_empty() {
            self.release_first(out)?;
        }
        Ok(())
    }

    /// The stream ends at offset `end`: flush, and report the bytes before
    /// `end` that never arrived as a gap at `ts`.
    pub fn end_at(&mut self, ts: u64, end: i128, out: &mut dyn Deliver) -> Result<()> {
        self.flush(out)?;
        if end > self.next as i128 {
            let len = (end - self.next as i128) as u64;
            let offset = self.next;
            self.next += len;
            out.gap(ts, offset, len)?;
        }
        Ok(())
    }
}
