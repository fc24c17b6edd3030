//! Matching tables with their header blocks: a table is only valid right
//! before its block (the client's block of that stream with the same first
//! bytes, or the server's block of that stream with the same END_STREAM
//! flag), where it becomes a seed.

use anyhow::Result;

use super::{Mode, Seeding, Want, PENDING_TABLES};
use crate::decode::h2::frame::{flags, Head, HEAD_LEN};
use crate::flow::{Conn, Dir, Held, OwnedEvent};
use crate::recovery::RecoveredTable;

impl Seeding<'_> {
    /// A table copied by the uprobes.
    pub(super) fn table(&mut self, conn: &Conn, ts: u64, t: &RecoveredTable) -> Result<()> {
        let Some(c) = self.s.conns.get_mut(&conn.id) else {
            return Ok(());
        };
        let d = &mut c.dirs[t.dir.index()];
        if c.mode == Mode::Off || d.known {
            self.s.recovery.mark_done(conn.server.ino, t.dir);
            return Ok(());
        }
        if t.check().is_err() {
            self.s.stats.rejected += 1;
            return Ok(());
        }
        let matches_want = c
            .want
            .as_ref()
            .is_some_and(|w| w.dir == t.dir && fits(t, &w.head, held_fragment(&c.held, w)));
        if matches_want {
            let w = c.want.take().expect("checked above");
            // The seed goes first, then what was held behind the block.
            let at = c
                .held
                .events()
                .iter()
                .position(|(_, h)| matches!(h, OwnedEvent::Data { dir, offset, .. } if *dir == w.dir && *offset == w.at))
                .unwrap_or(0);
            let seed = self.seed_of(conn, t, w.at);
            let c = self.s.conns.get_mut(&conn.id).expect("checked above");
            c.held.insert(at, ts, seed);
            return self.release(conn.id);
        }
        if d.pending.len() >= PENDING_TABLES {
            d.pending.remove(0);
        }
        d.pending.push(t.clone());
        Ok(())
    }

    /// The seed event for `t`, placed at `offset`; the direction is known
    /// from then on.
    pub(super) fn seed_of(&mut self, conn: &Conn, t: &RecoveredTable, offset: u64) -> OwnedEvent {
        self.s.stats.seeded += 1;
        if let Some(c) = self.s.conns.get_mut(&conn.id) {
            let d = &mut c.dirs[t.dir.index()];
            d.known = true;
            d.pending.clear();
        }
        self.s.recovery.mark_done(conn.server.ino, t.dir);
        OwnedEvent::Seed {
            dir: t.dir,
            offset,
            frame: t.seed_frame(),
            origin: t.origin(),
        }
    }
}

/// The start of the header block fragment of a HEADERS frame whose bytes
/// (header included) begin `frame`, as far as present.
pub(super) fn fragment_of<'b>(head: &Head, frame: &'b [u8]) -> &'b [u8] {
    let mut skip = HEAD_LEN;
    if head.flags & flags::PADDED != 0 {
        skip += 1;
    }
    if head.flags & flags::PRIORITY != 0 {
        skip += 5;
    }
    frame.get(skip..).unwrap_or(&[])
}

/// The held bytes of the block a hold waits for, from its fragment on.
pub(super) fn held_fragment<'h>(held: &'h Held, w: &Want) -> &'h [u8] {
    held.events()
        .iter()
        .find_map(|(_, h)| match h {
            OwnedEvent::Data {
                dir, offset, bytes, ..
            } if *dir == w.dir && *offset == w.at => Some(fragment_of(&w.head, bytes)),
            _ => None,
        })
        .unwrap_or(&[])
}

/// Whether table `t` is the one for the header block of `head`, whose
/// fragment starts with `fragment` (as far as captured).
pub(super) fn fits(t: &RecoveredTable, head: &Head, fragment: &[u8]) -> bool {
    if t.stream != head.stream_id {
        return false;
    }
    match t.dir {
        Dir::ToClient => t.end_stream == (head.flags & flags::END_STREAM != 0),
        Dir::ToServer => {
            let n = t.block_prefix.len().min(fragment.len());
            !t.block_prefix.is_empty() && t.block_prefix[..n] == fragment[..n]
        }
    }
}
