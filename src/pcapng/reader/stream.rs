//! One direction of a TCP connection: segments placed by sequence number,
//! delivered in order; retransmitted bytes dropped; a hole that is never
//! filled becomes a gap of its exact size.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::capture::record::Writer;
use crate::flow::{Conn, Dir, FlowEvent, Sink};

/// Bytes one direction may hold while waiting for a hole to fill.
pub const HOLD_LIMIT: usize = 4 << 20;
/// What a held entry costs beyond its bytes (bounds the number of entries).
const ENTRY_COST: usize = 64;
/// Largest loss a writer comment may declare (larger ones are not ours).
const MAX_LOST: u64 = 1 << 40;

/// Counters shared by every direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Bytes declared lost.
    pub gap_bytes: u64,
    /// Bytes seen again (retransmissions, overlaps) and dropped.
    pub retransmitted_bytes: u64,
}

/// Where events go: the connection and direction they are about, and the sink.
pub struct Ctx<'a> {
    /// The connection.
    pub conn: &'a Conn,
    /// The direction.
    pub dir: Dir,
    /// The consumer.
    pub sink: &'a mut dyn Sink,
    /// Counters to add to.
    pub counts: &'a mut Counts,
}

impl Ctx<'_> {
    fn data(&mut self, ts: u64, writer: &Writer, offset: u64, bytes: &[u8]) -> Result<()> {
        self.counts.bytes += bytes.len() as u64;
        let dir = self.dir;
        self.sink.event(
            self.conn,
            ts,
            FlowEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            },
        )
    }

    fn gap(&mut self, ts: u64, offset: u64, len: u64) -> Result<()> {
        self.counts.gap_bytes += len;
        let dir = self.dir;
        self.sink
            .event(self.conn, ts, FlowEvent::Gap { dir, offset, len })
    }
}

/// A range of the stream: bytes (borrowed from the packet, or owned while
/// held), or bytes known to have been sent but not captured.
#[derive(Clone, Copy)]
enum Chunk<B> {
    Bytes(B),
    Lost(u64),
}

impl<B: AsRef<[u8]>> Chunk<B> {
    fn len(&self) -> u64 {
        match self {
            Chunk::Bytes(b) => b.as_ref().len() as u64,
            Chunk::Lost(n) => *n,
        }
    }

    /// Bytes that count as retransmitted when `n` of this chunk are dropped.
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

struct Held {
    ts: u64,
    writer: Writer,
    chunk: Chunk<Vec<u8>>,
}

/// The state of one direction.
pub struct Stream {
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    /// Offset of the next byte to deliver.
    next: u64,
    held: BTreeMap<u64, Held>,
    held_cost: usize,
    /// Who wrote the last segment that said so; segments without a comment
    /// (the tail of a write split into several) inherit it.
    pub writer: Writer,
    /// FIN or RST seen: later segments are old news.
    done: bool,
}

impl Stream {
    /// A direction whose start is not known yet.
    pub fn new() -> Self {
        Stream {
            base: None,
            next: 0,
            held: BTreeMap::new(),
            held_cost: 0,
            writer: super::unknown_writer(),
            done: false,
        }
    }

    /// The stream starts at `seq` (from a SYN: ISN + 1), unless already placed.
    pub fn start_at(&mut self, seq: u32) {
        self.base.get_or_insert(seq);
    }

    /// Nothing delivered or waiting yet.
    pub fn is_fresh(&self) -> bool {
        self.next == 0 && self.held.is_empty()
    }

    /// Memory held, for the global bound.
    pub fn held_cost(&self) -> usize {
        self.held_cost
    }

    /// The `len` bytes at `seq` are not part of the stream (a synthetic
    /// preface): offset 0 moves past them. False when bytes were already placed.
    pub fn skip_start(&mut self, seq: u32, len: u32) -> bool {
        if !self.is_fresh() || self.base.is_some_and(|b| b != seq) {
            return false;
        }
        self.base = Some(seq.wrapping_add(len));
        true
    }

    /// Stream offset of `seq`: the one nearest the delivery position (TCP
    /// sequence numbers wrap at 2^32). Negative: before the stream began.
    fn offset(&self, base: u32, seq: u32) -> i128 {
        let rel = seq.wrapping_sub(base);
        let diff = rel.wrapping_sub(self.next as u32) as i32;
        self.next as i128 + diff as i128
    }

    /// Stream offset of `seq`, once the start is known (negative: before it).
    pub fn offset_of(&self, seq: u32) -> Option<i128> {
        Some(self.offset(self.base?, seq))
    }

    /// A segment's payload: `bytes` at `seq`, then `missing` bytes the capture cut off.
    pub fn segment(
        &mut self,
        ts: u64,
        seq: u32,
        bytes: &[u8],
        missing: u64,
        writer: Writer,
        cx: &mut Ctx<'_>,
    ) -> Result<()> {
        if bytes.is_empty() && missing == 0 {
            return Ok(());
        }
        if self.done {
            cx.counts.retransmitted_bytes += bytes.len() as u64;
            return Ok(());
        }
        let base = *self.base.get_or_insert(seq);
        let off = self.offset(base, seq);
        if !bytes.is_empty() {
            self.insert(off, ts, writer, Chunk::Bytes(bytes), cx)?;
        }
        if missing > 0 {
            let at = off + bytes.len() as i128;
            self.insert(at, ts, writer, Chunk::Lost(missing.min(MAX_LOST)), cx)?;
        }
        Ok(())
    }

    /// The writer's gap marker: the `len` bytes before `seq_end` were lost.
    pub fn lost_before(&mut self, ts: u64, seq_end: u32, len: u64, cx: &mut Ctx<'_>) -> Result<()> {
        let Some(base) = self.base else {
            return Ok(());
        };
        if self.done || len == 0 || len > MAX_LOST {
            return Ok(());
        }
        let end = self.offset(base, seq_end);
        let writer = self.writer;
        self.insert(end - len as i128, ts, writer, Chunk::Lost(len), cx)
    }

    fn insert(
        &mut self,
        off: i128,
        ts: u64,
        writer: Writer,
        chunk: Chunk<&[u8]>,
        cx: &mut Ctx<'_>,
    ) -> Result<()> {
        let len = chunk.len();
        let next = self.next as i128;
        if off + len as i128 <= next {
            cx.counts.retransmitted_bytes += chunk.stale(len);
            return Ok(());
        }
        if off <= next {
            let skip = (next - off) as u64;
            cx.counts.retransmitted_bytes += chunk.stale(skip);
            self.deliver(ts, &writer, chunk, skip, cx)?;
            return self.drain(cx);
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
                cx.counts.retransmitted_bytes += chunk.stale(len);
                return Ok(());
            }
            cx.counts.retransmitted_bytes += old.chunk.stale(old.chunk.len());
            self.held_cost -= old.chunk.cost();
        }
        let chunk = match chunk {
            Chunk::Bytes(b) => Chunk::Bytes(b.to_vec()),
            Chunk::Lost(n) => Chunk::Lost(n),
        };
        self.held_cost += chunk.cost();
        self.held.insert(off, Held { ts, writer, chunk });
        while self.held_cost > HOLD_LIMIT {
            self.release_first(cx)?;
        }
        Ok(())
    }

    /// Deliver `chunk` from its byte `skip` on, at the stream position.
    fn deliver(
        &mut self,
        ts: u64,
        writer: &Writer,
        chunk: Chunk<&[u8]>,
        skip: u64,
        cx: &mut Ctx<'_>,
    ) -> Result<()> {
        let offset = self.next;
        match chunk {
            Chunk::Bytes(b) => {
                let b = &b[skip as usize..];
                self.next += b.len() as u64;
                cx.data(ts, writer, offset, b)
            }
            Chunk::Lost(n) => {
                let len = n - skip;
                self.next += len;
                cx.gap(ts, offset, len)
            }
        }
    }

    /// Deliver held entries that the stream position has reached.
    fn drain(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        while let Some(entry) = self.held.first_entry() {
            let off = *entry.key();
            if off > self.next {
                break;
            }
            let h = entry.remove();
            self.held_cost -= h.chunk.cost();
            let end = off + h.chunk.len();
            let skip = self.next - off;
            cx.counts.retransmitted_bytes += h.chunk.stale(skip.min(h.chunk.len()));
            if end > self.next {
                self.deliver(h.ts, &h.writer, h.chunk.borrowed(), skip, cx)?;
            }
        }
        Ok(())
    }

    /// Give up on the hole before the first held entry.
    fn release_first(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        let Some((&off, first)) = self.held.first_key_value() else {
            return Ok(());
        };
        if off > self.next {
            let (ts, offset, len) = (first.ts, self.next, off - self.next);
            self.next = off;
            cx.gap(ts, offset, len)?;
        }
        self.drain(cx)
    }

    /// The peer acknowledged everything before `ack`: a hole below it will
    /// not be retransmitted, so it is lost to the capture (Wireshark's
    /// "ACKed unseen segment"). Releases the gap now instead of at the limit.
    pub fn acked(&mut self, ts: u64, ack: u32, cx: &mut Ctx<'_>) -> Result<()> {
        let Some(base) = self.base else {
            return Ok(());
        };
        if self.done {
            return Ok(());
        }
        let acked = self.offset(base, ack);
        while let Some((&off, _)) = self.held.first_key_value() {
            if acked <= self.next as i128 {
                break;
            }
            let end = off.min(acked as u64);
            if end > self.next {
                let (offset, len) = (self.next, end - self.next);
                self.next = end;
                cx.gap(ts, offset, len)?;
            }
            self.drain(cx)?;
            if off > end {
                break;
            }
        }
        Ok(())
    }

    /// Everything held is delivered, holes as gaps.
    pub fn flush(&mut self, cx: &mut Ctx<'_>) -> Result<()> {
        while !self.held.is_empty() {
            self.release_first(cx)?;
        }
        Ok(())
    }

    /// FIN (with the sequence number it occupies) or RST: flush, report
    /// bytes sent before the FIN that never showed up, take nothing more.
    pub fn finish(&mut self, ts: u64, fin_seq: Option<u32>, cx: &mut Ctx<'_>) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.flush(cx)?;
        if let (Some(seq), Some(base)) = (fin_seq, self.base) {
            let end = self.offset(base, seq);
            if end > self.next as i128 {
                let len = (end - self.next as i128) as u64;
                let offset = self.next;
                self.next += len;
                cx.gap(ts, offset, len)?;
            }
        }
        self.done = true;
        Ok(())
    }
}
