//! Holding a connection while its table is on its way: from the header
//! block that needs one until the table comes, a timeout, or the bound on
//! held bytes; then what was held goes on, looked at again.

use anyhow::Result;

use super::{Seeding, EARLY_TICKS, HOLD_BYTES, HOLD_TICKS, MAX_TIMEOUTS};
use crate::flow::{ConnId, FlowEvent, Sink};

impl Seeding<'_> {
    /// Periodic work: holds that waited too long are released.
    pub fn tick(&mut self) -> Result<()> {
        let before = self.s.early.len();
        self.s.early.retain_mut(|e| {
            e.age += 1;
            e.age <= EARLY_TICKS
        });
        self.s.stats.tables_unusable += (before - self.s.early.len()) as u64;
        let due: Vec<ConnId> = self
            .s
            .conns
            .iter_mut()
            .filter(|(_, c)| c.want.is_some())
            .filter_map(|(id, c)| {
                c.age += 1;
                (c.age >= HOLD_TICKS).then_some(*id)
            })
            .collect();
        for id in due {
            self.timeout(id)?;
        }
        Ok(())
    }

    /// End of the capture: everything held goes on.
    pub fn flush(&mut self) -> Result<()> {
        let ids: Vec<ConnId> = self.s.conns.keys().copied().collect();
        for id in ids {
            if self.s.conns.get(&id).is_some_and(|c| c.want.is_some()) {
                self.timeout(id)?;
            }
        }
        Ok(())
    }

    pub(super) fn timeout(&mut self, id: ConnId) -> Result<()> {
        let Some(c) = self.s.conns.get_mut(&id) else {
            return Ok(());
        };
        if let Some(w) = c.want.take() {
            self.s.stats.timeouts += 1;
            let d = &mut c.dirs[w.dir.index()];
            d.timeouts += 1;
            if d.timeouts >= MAX_TIMEOUTS {
                d.given_up = true;
            }
        }
        self.release(id)
    }

    /// Send the held events on, looking at each again (one may start a
    /// new hold).
    pub(super) fn release(&mut self, id: ConnId) -> Result<()> {
        self.release_held(id)?;
        let Some(c) = self.s.conns.get(&id) else {
            return Ok(());
        };
        let (conn, ts) = (c.conn.clone(), c.last_ts);
        self.place_names(&conn, ts)
    }

    pub(super) fn release_held(&mut self, id: ConnId) -> Result<()> {
        let Some(c) = self.s.conns.get_mut(&id) else {
            return Ok(());
        };
        let held = c.held.take();
        c.age = 0;
        let conn = c.conn.clone();
        let mut rest = held.into_iter();
        while let Some((ts, ev)) = rest.next() {
            self.event(&conn, ts, ev.as_event())?;
            if self.s.conns.get(&id).is_some_and(|c| c.want.is_some()) {
                // Held again: what is left waits behind it.
                let c = self.s.conns.get_mut(&id).expect("checked above");
                for (ts, ev) in rest.by_ref() {
                    c.held.push_owned(ts, ev);
                }
            }
        }
        Ok(())
    }

    /// Keep `ev` if the connection is held.
    pub(super) fn hold(&mut self, id: ConnId, ts: u64, ev: FlowEvent<'_>) -> Result<bool> {
        let Some(c) = self.s.conns.get_mut(&id) else {
            return Ok(false);
        };
        if c.want.is_none() {
            return Ok(false);
        }
        c.held.push(ts, ev);
        if c.held.bytes() > HOLD_BYTES {
            self.timeout(id)?;
        }
        Ok(true)
    }
}
