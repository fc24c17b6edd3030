//! Naming streams opened before the capture: the method the server knows
//! goes in as synthetic request and response headers at the next frame
//! boundary of each direction.

use anyhow::Result;

use super::{Mode, Seeding, MAX_NAMED};
use crate::flow::{Conn, Dir, FlowEvent, Sink};
use crate::recovery::StreamMethod;

impl Seeding<'_> {
    /// The method of a stream opened before the capture: named with a
    /// synthetic request HEADERS frame at the next frame boundary of the
    /// client's direction.
    pub(super) fn stream_method(&mut self, conn: &Conn, ts: u64, m: &StreamMethod) -> Result<()> {
        let Some(c) = self.s.conns.get_mut(&conn.id) else {
            return Ok(());
        };
        if c.mode == Mode::Off
            || c.first_stream.is_some_and(|f| m.stream >= f)
            || c.named.len() >= MAX_NAMED
            || !c.named.insert(m.stream)
        {
            return Ok(());
        }
        for names in &mut c.names {
            names.push(m.clone());
        }
        self.s.stats.streams_named += 1;
        self.place_names(conn, ts)
    }

    /// Names waiting for a boundary go in where a direction's bytes so far
    /// end at one (and nothing is held).
    pub(super) fn place_names(&mut self, conn: &Conn, ts: u64) -> Result<()> {
        for dir in Dir::BOTH {
            let Some(c) = self.s.conns.get(&conn.id) else {
                return Ok(());
            };
            if c.names[dir.index()].is_empty() || c.want.is_some() || c.mode != Mode::Watch {
                continue;
            }
            if let Some(at) = c.dirs[dir.index()].heads.boundary() {
                self.name_streams(conn, ts, dir, at)?;
            }
        }
        Ok(())
    }

    /// The waiting names of `dir`, as seeds at its stream offset `at`.
    pub(super) fn name_streams(&mut self, conn: &Conn, ts: u64, dir: Dir, at: u64) -> Result<()> {
        let Some(c) = self.s.conns.get_mut(&conn.id) else {
            return Ok(());
        };
        let first = c.first_stream;
        let names = std::mem::take(&mut c.names[dir.index()]);
        for m in names {
            // A stream the capture saw the request of needs no name.
            if first.is_some_and(|f| m.stream >= f) {
                continue;
            }
            let seed = FlowEvent::Seed {
                dir,
                offset: at,
                frame: &m.frame(dir),
                origin: &m.origin(dir),
            };
            self.event(conn, ts, seed)?;
        }
        Ok(())
    }
}
