//! Puts on each item the pod and container its call is about
//! ([`crate::subjects`]), holding it a moment when its call names an id the
//! map does not know yet.
//!
//! A shim's Task call can reach the pipeline before the CRI response that
//! names its container (the two are on different connections, each in its
//! own order), and a sandbox's own Task calls come before RunPodSandbox
//! returns its id. So an item whose call names an unknown id waits, with
//! every later item of its connection (a connection's items keep their
//! order), when something may describe the id soon: the CRI speaks on
//! this node, a call that creates a sandbox or container is in flight, or
//! the call is in the CRI's containerd namespace (whose ids the CRI
//! describes even before any of its calls came: its connection may run
//! behind). It waits until the id is known, [`HOLD_NS`] of event time has
//! passed ([`HOLD_CREATING_NS`] while a creating call is in flight: a
//! sandbox's shim calls come before RunPodSandbox returns, seconds later
//! on a busy node), or the input ends; the same live and offline (live
//! ticks too). Where no CRI speaks (`ctr run`, dockerd's containers)
//! nothing is held: nothing would describe the ids. Bounded: at most
//! [`MAX_HELD`] items wait; past it the oldest go out as they are.

use std::collections::VecDeque;

use foldhash::HashMap;

use super::item::{Ends, Item, What};
use crate::decode::PathInfo;
use crate::flow::{ConnId, Process};
use crate::sizes::Sizes;
use crate::subjects::{Subject, Subjects, CRI_NAMESPACE};

/// How long an item waits for its call's id to be described (event time).
pub const HOLD_NS: u64 = 1_000_000_000;
/// How long it waits while a call that creates a sandbox or container is in
/// flight: a sandbox's own shim calls come before RunPodSandbox returns its
/// id, which may take seconds (a slow runc create, a CNI plugin).
pub const HOLD_CREATING_NS: u64 = 10_000_000_000;
/// Items held at most, over all connections.
pub const MAX_HELD: usize = 4096;

struct Held {
    since: u64,
    item: Item,
    /// The id its call named, not known yet when it came.
    wait_for: Option<String>,
    /// Its call is in the CRI's namespace: the CRI will describe its id
    /// even if none of the CRI's calls came yet.
    cri_namespace: bool,
}

/// The subject map and the items waiting on it.
pub struct Attribution {
    /// Off: items pass untouched ([`super::Pipeline::attributing`]).
    pub enabled: bool,
    subjects: Subjects,
    held: HashMap<ConnId, VecDeque<Held>>,
    count: usize,
    /// The latest write time seen (ns).
    now: u64,
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution {
            enabled: true,
            subjects: Subjects::default(),
            held: HashMap::default(),
            count: 0,
            now: 0,
        }
    }
}

impl Attribution {
    /// Sandboxes and containers the map let go past its bound.
    pub fn evicted(&self) -> u64 {
        self.subjects.stats.evicted
    }

    /// Entries kept.
    pub fn sizes(&self, out: &mut Sizes) {
        self.subjects.sizes(out);
        out.add("attribution.held", self.count);
    }

    /// `item`: the items that may go out now, in order (this one, or ones
    /// held before it, or none yet).
    pub fn admit(&mut self, mut item: Item, out: &mut Vec<Item>) {
        if !self.enabled {
            out.push(item);
            return;
        }
        // Time moves with the writes only: a connection found gone is
        // closed at the time it was found (wall time, later than the
        // writes still on their way), which must not end a wait early.
        if matches!(item.what, What::Message { .. }) {
            self.now = self.now.max(item.ts_ns);
        }
        let now = self.now;
        self.subjects.set_now(now);
        // What waited its time out by this write goes out before it, as a
        // live tick at that time would have let it go: the same order live
        // and offline, whether a tick came between or not.
        self.release(now, out);
        let (wait_for, cri_namespace) = self.attribute(&mut item);
        item.ends = Ends {
            writer: self.of_process(&item.writer),
            peer: self.of_process(&item.peer),
        };
        let conn = item.conn.id;
        let queued = self.held.get(&conn).is_some_and(|q| !q.is_empty());
        if wait_for.is_some() || queued {
            self.held.entry(conn).or_default().push_back(Held {
                since: now,
                item,
                wait_for,
                cri_namespace,
            });
            self.count += 1;
        } else {
            out.push(item);
        }
        self.release(now, out);
        while self.count > MAX_HELD {
            let oldest = self
                .held
                .iter()
                .filter_map(|(c, q)| q.front().map(|h| (h.since, *c)))
                .min();
            let Some((_, conn)) = oldest else { break };
            self.pop(conn, out);
        }
    }

    /// Held items whose wait is over by `now` go out, and removals older
    /// than their grace take effect (live ticks).
    pub fn expire(&mut self, now: u64, out: &mut Vec<Item>) {
        self.subjects.set_now(now);
        self.release(now, out);
    }

    /// The end of the input: everything held goes out.
    pub fn flush(&mut self, out: &mut Vec<Item>) {
        // Every wait is over at the end of time.
        self.release(u64::MAX, out);
        self.held.clear();
    }

    /// Held items whose id became known or whose wait is over, in order
    /// per connection.
    fn release(&mut self, now: u64, out: &mut Vec<Item>) {
        if self.count == 0 {
            return;
        }
        let hold = match self.subjects.creating() {
            true => HOLD_CREATING_NS,
            false => HOLD_NS,
        };
        // Connections' fronts go in the order they were written (ties: the
        // lower connection): the same output whatever the map's order.
        loop {
            let next = self
                .held
                .iter()
                .filter_map(|(c, q)| q.front().map(|h| (h, *c)))
                .filter(|(h, _)| self.ready(h, hold, now))
                .map(|(h, c)| (h.item.ts_ns, c))
                .min();
            let Some((_, conn)) = next else {
                break;
            };
            self.pop(conn, out);
            if self.held.get(&conn).is_some_and(VecDeque::is_empty) {
                self.held.remove(&conn);
            }
        }
    }

    /// Whether held item `h` may go by `now` (waits at most `hold`).
    fn ready(&self, h: &Held, hold: u64, now: u64) -> bool {
        h.since.saturating_add(hold) <= now
            || !(h.cri_namespace || self.subjects.expects_ids())
            || h.wait_for
                .as_deref()
                .is_none_or(|id| self.subjects.knows(id))
    }

    /// What the map says of the container `p` runs in.
    fn of_process(&self, p: &Process) -> Subject {
        p.container
            .container()
            .map(|c| self.subjects.of_id(c.id.as_str()))
            .unwrap_or_default()
    }

    /// The front item of `conn`'s queue goes out, named if its id is known now.
    fn pop(&mut self, conn: ConnId, out: &mut Vec<Item>) {
        let Some(mut h) = self.held.get_mut(&conn).and_then(VecDeque::pop_front) else {
            return;
        };
        self.count -= 1;
        if let Some(id) = &h.wait_for {
            let s = self.subjects.of_id(id);
            if !s.is_empty() {
                h.item.subject = s;
            }
        }
        out.push(h.item);
    }

    /// Every message teaches the map (shown or not) and gets its call's
    /// subject; a call's end gets it and forgets the call. The id the call
    /// named, when the map does not know it yet, and whether the call is in
    /// the CRI's namespace.
    fn attribute(&mut self, item: &mut Item) -> (Option<String>, bool) {
        let conn = item.conn.id;
        match &item.what {
            What::Message {
                dir,
                stream,
                path: PathInfo::Known(path),
                meta,
                payload,
                decompress_error: None,
                ..
            } => {
                let stream = *stream;
                item.subject = self
                    .subjects
                    .message(conn, stream, path, dir.is_request(), payload);
                let ns = meta.namespace.as_deref();
                (
                    self.subjects.unresolved(conn, stream, ns),
                    ns == Some(CRI_NAMESPACE),
                )
            }
            What::CallEnd {
                stream,
                meta,
                status,
                reset,
                unfinished,
                ..
            } => {
                let ns = meta.namespace.as_deref();
                let wait = self.subjects.unresolved(conn, *stream, ns);
                let ok = *status == Some(0) && reset.is_none() && !*unfinished;
                item.subject = self.subjects.call_end(conn, *stream, ok);
                (wait, ns == Some(CRI_NAMESPACE))
            }
            _ => (None, false),
        }
    }
}

#[cfg(test)]
mod tests;
