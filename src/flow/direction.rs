//! One direction of a connection: bytes delivered in offset order.
//!
//! Records of one write arrive in order, but two threads writing on the
//! same socket can reserve ring buffer space in the other order than their
//! offsets. Records ahead of the stream position wait here (bounded in
//! bytes and time) for the missing range; what never comes is a gap.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{Conn, Dir, FlowEvent, Sink};
use crate::capture::record::Writer;

/// Bytes a direction may hold while waiting for an earlier range.
const STASH_LIMIT: usize = 8 << 20;
/// Ticks (about 100 ms each) a range waits before the missing bytes are declared lost.
const STASH_TICKS: u32 = 2;

struct Stashed {
    ts: u64,
    writer: Writer,
    bytes: Vec<u8>,
    /// A range the tracer reported as not copied (then `bytes` is empty).
    gap: u64,
}

/// What one call did, for the counters.
#[derive(Default)]
pub(super) struct Outcome {
    pub gap_bytes: u64,
    pub stale_bytes: u64,
    pub resets: u64,
}

/// The state of one direction.
#[derive(Default)]
pub(super) struct Direction {
    /// Offset of the next byte to deliver.
    next: u64,
    /// Time of the last delivery, for gap events.
    last_ts: u64,
    stash: BTreeMap<u64, Stashed>,
    stash_bytes: usize,
    stash_age: u32,
    /// Added (wrapping) to the sender's offsets: after the tracer's state
    /// for the socket was recreated its offsets start at 0 again and the
    /// stream continues where it was; and a stream whose first send starts
    /// below the tracer's base (the sock hook's second end of a connection)
    /// starts at 0 here.
    shift: u64,
    /// The first record placed the stream.
    based: bool,
}

impl Direction {
    /// Where the tracer's `raw` offset lies in the stream delivered.
    fn place(&mut self, raw: u64) -> u64 {
        if !self.based {
            self.based = true;
            if (raw as i64) < 0 {
                self.shift = raw.wrapping_neg();
            }
        }
        raw.wrapping_add(self.shift)
    }

    /// Bytes at `offset` arrived.
    #[allow(clippy::too_many_arguments)]
    pub fn data(
        &mut self,
        offset: u64,
        bytes: &[u8],
        ts: u64,
        writer: &Writer,
        conn: &Conn,
        dir: Dir,
        sink: &mut dyn Sink,
    ) -> Result<Outcome> {
        let mut out = Outcome::default();
        if offset == 0 && self.next > 0 && self.shift.wrapping_add(bytes.len() as u64) <= self.next
        {
            // The sender's offsets started again (its fresh-state record
            // was lost): a restart, not stale bytes.
            out = self.restart(conn, dir, sink)?;
        }
        let offset = self.place(offset);
        let end = offset + bytes.len() as u64;
        if end <= self.next && !bytes.is_empty() {
            out.stale_bytes = bytes.len() as u64;
            return Ok(out);
        }
        if offset > self.next {
            self.stash.insert(
                offset,
                Stashed {
                    ts,
                    writer: *writer,
                    bytes: bytes.to_vec(),
                    gap: 0,
                },
            );
            self.stash_bytes += bytes.len();
            if self.stash_bytes > STASH_LIMIT {
                out.gap_bytes += self.release_first(conn, dir, sink)?;
            }
            return Ok(out);
        }
        // Overlap with what was delivered: keep only the new tail.
        let skip = (self.next - offset) as usize;
        out.stale_bytes += skip as u64;
        self.deliver(&bytes[skip..], ts, writer, conn, dir, sink)?;
        out.gap_bytes += self.drain(conn, dir, sink)?;
        Ok(out)
    }

    /// The tracer reported `len` bytes at `offset` as sent but not copied.
    #[allow(clippy::too_many_arguments)]
    pub fn gap(
        &mut self,
        offset: u64,
        len: u64,
        ts: u64,
        writer: &Writer,
        conn: &Conn,
        dir: Dir,
        sink: &mut dyn Sink,
    ) -> Result<Outcome> {
        let mut out = Outcome::default();
        let offset = self.place(offset);
        let end = offset + len;
        if end <= self.next {
            return Ok(out);
        }
        if offset > self.next {
            let stashed = Stashed {
                ts,
                writer: *writer,
                bytes: Vec::new(),
                gap: len,
            };
            self.stash.insert(offset, stashed);
            return Ok(out);
        }
        out.gap_bytes += self.skip_to(end, ts, conn, dir, sink)?;
        out.gap_bytes += self.drain(conn, dir, sink)?;
        Ok(out)
    }

    /// The sender's offsets start again at 0 (a fresh tracer state): what
    /// waits is flushed, and later offsets continue the stream from here.
    pub fn restart(&mut self, conn: &Conn, dir: Dir, sink: &mut dyn Sink) -> Result<Outcome> {
        if !self.based {
            // Nothing placed yet: the first record places the stream.
            return Ok(Outcome::default());
        }
        let mut out = self.flush_stash(conn, dir, sink)?;
        if self.next > 0 {
            out.resets = 1;
        }
        self.shift = self.next;
        self.based = true;
        Ok(out)
    }

    /// Report the bytes up to `end` as missing and move past them.
    fn skip_to(
        &mut self,
        end: u64,
        ts: u64,
        conn: &Conn,
        dir: Dir,
        sink: &mut dyn Sink,
    ) -> Result<u64> {
        let len = end.saturating_sub(self.next);
        if len == 0 {
            return Ok(0);
        }
        let offset = self.next;
        self.next = end;
        self.last_ts = ts;
        sink.event(conn, ts, FlowEvent::Gap { dir, offset, len })?;
        Ok(len)
    }

    fn deliver(
        &mut self,
        bytes: &[u8],
        ts: u64,
        writer: &Writer,
        conn: &Conn,
        dir: Dir,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let offset = self.next;
        self.next += bytes.len() as u64;
        self.last_ts = ts;
        sink.event(
            conn,
            ts,
            FlowEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            },
        )
    }

    /// Deliver stashed ranges that are now contiguous; returns the bytes of
    /// reported gaps among them.
    fn drain(&mut self, conn: &Conn, dir: Dir, sink: &mut dyn Sink) -> Result<u64> {
        let mut gap_bytes = 0;
        while let Some(entry) = self.stash.first_entry() {
            let off = *entry.key();
            if off > self.next {
                break;
            }
            let s = entry.remove();
            self.stash_bytes -= s.bytes.len();
            if s.gap > 0 {
                gap_bytes += self.skip_to(off + s.gap, s.ts, conn, dir, sink)?;
                continue;
            }
            let end = off + s.bytes.len() as u64;
            if end <= self.next {
                continue;
            }
            let skip = (self.next - off) as usize;
            self.deliver(&s.bytes[skip..], s.ts, &s.writer, conn, dir, sink)?;
        }
        if self.stash.is_empty() {
            self.stash_age = 0;
        }
        Ok(gap_bytes)
    }

    /// Give up waiting for the range before the first stashed one.
    fn release_first(&mut self, conn: &Conn, dir: Dir, sink: &mut dyn Sink) -> Result<u64> {
        let Some((&off, first)) = self.stash.first_key_value() else {
            return Ok(0);
        };
        let len = off - self.next;
        let ts = first.ts;
        sink.event(
            conn,
            ts,
            FlowEvent::Gap {
                dir,
                offset: self.next,
                len,
            },
        )?;
        self.next = off;
        Ok(len + self.drain(conn, dir, sink)?)
    }

    /// Everything waiting becomes deliverable, with gaps for what is missing.
    pub fn flush_stash(&mut self, conn: &Conn, dir: Dir, sink: &mut dyn Sink) -> Result<Outcome> {
        let mut out = Outcome::default();
        while !self.stash.is_empty() {
            out.gap_bytes += self.release_first(conn, dir, sink)?;
        }
        Ok(out)
    }

    /// The socket closed after `final_offset` bytes (if known): flush, and
    /// report a trailing gap if the last records were lost.
    pub fn finish(
        &mut self,
        final_offset: Option<u64>,
        conn: &Conn,
        dir: Dir,
        sink: &mut dyn Sink,
    ) -> Result<Outcome> {
        let mut out = self.flush_stash(conn, dir, sink)?;
        if let Some(end) = final_offset.map(|e| e.wrapping_add(self.shift)) {
            if end > self.next {
                let len = end - self.next;
                sink.event(
                    conn,
                    self.last_ts,
                    FlowEvent::Gap {
                        dir,
                        offset: self.next,
                        len,
                    },
                )?;
                self.next = end;
                out.gap_bytes += len;
            }
        }
        Ok(out)
    }

    /// Called every ~100 ms: a range that waited long enough releases its gap.
    pub fn tick(&mut self, conn: &Conn, dir: Dir, sink: &mut dyn Sink) -> Result<Outcome> {
        if self.stash.is_empty() {
            return Ok(Outcome::default());
        }
        self.stash_age += 1;
        if self.stash_age > STASH_TICKS {
            self.stash_age = 0;
            return self.flush_stash(conn, dir, sink);
        }
        Ok(Outcome::default())
    }
}
