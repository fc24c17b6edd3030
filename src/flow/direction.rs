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
}

/// What one call did, for the counters.
#[derive(Default)]
pub(super) struct Outcome {
    pub gap_bytes: u64,
    pub stale_bytes: u64,
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
}

impl Direction {
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
        out.stale_bytes = skip as u64;
        self.deliver(&bytes[skip..], ts, writer, conn, dir, sink)?;
        self.drain(conn, dir, sink)?;
        Ok(out)
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

    /// Deliver stashed ranges that are now contiguous.
    fn drain(&mut self, conn: &Conn, dir: Dir, sink: &mut dyn Sink) -> Result<()> {
        while let Some(entry) = self.stash.first_entry() {
            let off = *entry.key();
            if off > self.next {
                break;
            }
            let s = entry.remove();
            self.stash_bytes -= s.bytes.len();
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
        Ok(())
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
        self.drain(conn, dir, sink)?;
        Ok(len)
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
        if let Some(end) = final_offset {
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
