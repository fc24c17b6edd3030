//! One direction of a TCP connection: sequence numbers mapped to stream
//! offsets for the shared reassembler (`flow::reassembly`), plus what TCP
//! adds: acknowledgements that make a hole final, and the end at FIN.

use anyhow::Result;

use crate::flow::reassembly::{Chunk, Deliver, Reassembler};
use crate::flow::Process;

/// Bytes one direction may hold while waiting for a hole to fill.
pub const HOLD_LIMIT: usize = 4 << 20;
/// Largest loss a writer comment may declare (larger ones are not ours).
const MAX_LOST: u64 = 1 << 40;

/// The state of one direction.
pub struct Stream {
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    bytes: Reassembler,
    /// Who wrote the last segment that said so; segments without a comment
    /// (the tail of a write split into several) inherit it.
    pub writer: Process,
    /// FIN or RST seen: later segments are old news.
    done: bool,
}

impl Stream {
    /// A direction whose start is not known yet.
    pub fn new() -> Self {
        Stream {
            base: None,
            bytes: Reassembler::new(HOLD_LIMIT),
            writer: Process::default(),
            done: false,
        }
    }

    /// The stream starts at `seq` (from a SYN: ISN + 1), unless already placed.
    pub fn start_at(&mut self, seq: u32) {
        self.base.get_or_insert(seq);
    }

    /// Nothing delivered or waiting yet.
    pub fn is_fresh(&self) -> bool {
        self.bytes.is_fresh()
    }

    /// Memory held, for the global bound.
    pub fn held_cost(&self) -> usize {
        self.bytes.held_cost()
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

    /// The `len` bytes at `seq`, right at the delivery position, are not
    /// part of the stream (a synthetic frame carrying a recovered HPACK
    /// table): later sequence numbers move back by `len`. The stream offset
    /// they stood at, or None when they are not at the delivery position.
    pub fn skip_here(&mut self, seq: u32, len: u32) -> Option<u64> {
        let base = self.base?;
        if self.done || self.bytes.is_holding() {
            return None;
        }
        let next = self.bytes.next();
        if self.offset(base, seq) != i128::from(next) {
            return None;
        }
        self.base = Some(base.wrapping_add(len));
        Some(next)
    }

    /// Stream offset of `seq`: the one nearest the delivery position (TCP
    /// sequence numbers wrap at 2^32). Negative: before the stream began.
    fn offset(&self, base: u32, seq: u32) -> i128 {
        let next = self.bytes.next();
        let rel = seq.wrapping_sub(base);
        let diff = rel.wrapping_sub(next as u32) as i32;
        next as i128 + diff as i128
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
        out: &mut dyn Deliver,
    ) -> Result<()> {
        if bytes.is_empty() && missing == 0 {
            return Ok(());
        }
        if self.done {
            out.stale(bytes.len() as u64);
            return Ok(());
        }
        let base = *self.base.get_or_insert(seq);
        let off = self.offset(base, seq);
        let by = self.writer;
        self.bytes.insert(off, ts, by, Chunk::Bytes(bytes), out)?;
        if missing > 0 {
            let at = off + bytes.len() as i128;
            let lost = Chunk::Lost(missing.min(MAX_LOST));
            self.bytes.insert(at, ts, by, lost, out)?;
        }
        Ok(())
    }

    /// The writer's gap marker: the `len` bytes before `seq_end` were lost.
    pub fn lost_before(
        &mut self,
        ts: u64,
        seq_end: u32,
        len: u64,
        out: &mut dyn Deliver,
    ) -> Result<()> {
        let Some(base) = self.base else {
            return Ok(());
        };
        if self.done || len == 0 || len > MAX_LOST {
            return Ok(());
        }
        let end = self.offset(base, seq_end);
        let by = self.writer;
        self.bytes
            .insert(end - len as i128, ts, by, Chunk::Lost(len), out)
    }

    /// The peer acknowledged everything before `ack`: a hole below it will
    /// not be retransmitted, so it is lost to the capture (Wireshark's
    /// "ACKed unseen segment"). Releases the gap now instead of at the limit.
    pub fn acked(&mut self, ts: u64, ack: u32, out: &mut dyn Deliver) -> Result<()> {
        let Some(base) = self.base else {
            return Ok(());
        };
        if self.done {
            return Ok(());
        }
        let end = self.offset(base, ack);
        self.bytes.release_to(ts, end, out)
    }

    /// Everything held is delivered, holes as gaps.
    pub fn flush(&mut self, out: &mut dyn Deliver) -> Result<()> {
        self.bytes.flush(out)
    }

    /// FIN (with the sequence number it occupies) or RST: flush, report
    /// bytes sent before the FIN that never showed up, take nothing more.
    pub fn finish(&mut self, ts: u64, fin_seq: Option<u32>, out: &mut dyn Deliver) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.bytes.flush(out)?;
        if let (Some(seq), Some(base)) = (fin_seq, self.base) {
            let end = self.offset(base, seq);
            self.bytes.end_at(ts, end, out)?;
        }
        self.done = true;
        Ok(())
    }
}
