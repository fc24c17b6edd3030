//! The timeline's lanes: one per connection for the first
//! [`OWN_LANES`] connections seen, then one per client, server and socket
//! for the connections after them ([`MAX_GROUPS`] such groups, the rest in
//! one last lane). Each lane counts its calls, errors and gaps, and keeps
//! the calls not drawn one by one as counts over time ([`Bins`]).

use std::collections::{HashMap, HashSet};

use crate::decode::Protocol;
use crate::flow::{Comm, ConnId, Dir, Process};
use crate::pipeline::ConnInfo;

/// Connections with a lane of their own.
pub const OWN_LANES: usize = 48;
/// Lanes for groups of later connections (the last one takes the rest).
pub const MAX_GROUPS: usize = 12;
/// Connections told apart for the counts of groups; past it, a group's
/// count is a lower bound (said on the page).
pub const MAX_CONNS_COUNTED: usize = 1 << 20;
/// Gaps kept, over all lanes, to be drawn one by one.
pub const MAX_GAP_MARKS: usize = 1_000;
/// Time slices a lane keeps counts in.
pub const BINS: usize = 512;

/// Calls counted by time slice: slices of `width` ns from `origin`,
/// widened (pairs merged) when a call falls past the last.
#[derive(Clone, Debug)]
pub struct Bins {
    origin: u64,
    width: u64,
    calls: Vec<u32>,
    errors: Vec<u32>,
}

impl Bins {
    fn new(origin: u64) -> Bins {
        Bins {
            origin,
            width: 1_000_000,
            calls: vec![0; BINS],
            errors: vec![0; BINS],
        }
    }

    /// Empty slices from `origin`, for tests.
    #[cfg(test)]
    pub fn new_for_test(origin: u64) -> Bins {
        Bins::new(origin)
    }

    /// A call at `ts_ns` (before the origin: the first slice).
    pub fn add(&mut self, ts_ns: u64, error: bool) {
        let off = ts_ns.saturating_sub(self.origin);
        while off / self.width >= BINS as u64 {
            for v in [&mut self.calls, &mut self.errors] {
                for i in 0..BINS / 2 {
                    v[i] = v[2 * i].saturating_add(v[2 * i + 1]);
                }
                v[BINS / 2..].fill(0);
            }
            self.width = self.width.saturating_mul(2);
        }
        let i = (off / self.width) as usize;
        self.calls[i] = self.calls[i].saturating_add(1);
        self.errors[i] = self.errors[i].saturating_add(u32::from(error));
    }

    /// The non-empty slices: (start, end, calls, errors).
    pub fn slices(&self) -> impl Iterator<Item = (u64, u64, u32, u32)> + '_ {
        (0..BINS).filter(|&i| self.calls[i] > 0).map(|i| {
            let start = self
                .origin
                .saturating_add(self.width.saturating_mul(i as u64));
            (
                start,
                start.saturating_add(self.width),
                self.calls[i],
                self.errors[i],
            )
        })
    }
}

/// A gap drawn in its lane.
#[derive(Clone, Debug)]
pub struct GapMark {
    /// When it was found.
    pub ts_ns: u64,
    /// The direction that lost bytes.
    pub dir: Dir,
    /// How many.
    pub bytes: u64,
    /// Its lane.
    pub lane: usize,
}

/// What a lane stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaneKind {
    /// One connection.
    Conn(ConnId),
    /// The later connections of one client, server and socket.
    Group,
    /// Every connection past the groups.
    Rest,
}

/// One lane.
#[derive(Clone, Debug)]
pub struct Lane {
    /// What it stands for.
    pub kind: LaneKind,
    /// Its (first) connection's socket path.
    pub path: Option<String>,
    /// The client, as far as known.
    pub client: Process,
    /// The server, as far as known.
    pub server: Process,
    /// The protocol.
    pub protocol: Option<Protocol>,
    /// Connections in it.
    pub conns: u64,
    /// Calls that ended in it.
    pub calls: u64,
    /// Of them, errors.
    pub errors: u64,
    /// Gaps, and the bytes they lost.
    pub gaps: u64,
    /// Bytes lost.
    pub gap_bytes: u64,
    /// First and last time an item of it was seen.
    pub span: Option<(u64, u64)>,
    /// Calls not drawn one by one.
    pub bins: Bins,
    /// Calls in `bins`.
    pub binned: u64,
}

impl Lane {
    fn new(kind: LaneKind, conn: &ConnInfo, origin: u64) -> Lane {
        Lane {
            kind,
            path: conn.path.clone(),
            client: conn.client,
            server: conn.server,
            protocol: conn.protocol,
            conns: 0,
            calls: 0,
            errors: 0,
            gaps: 0,
            gap_bytes: 0,
            span: None,
            bins: Bins::new(origin),
            binned: 0,
        }
    }
}

/// Group of later connections: client's and server's names, socket.
type GroupKey = (Option<Comm>, Option<Comm>, Option<String>);

/// The lanes.
#[derive(Default)]
pub struct Lanes {
    /// The lanes, in the order they were opened.
    pub lanes: Vec<Lane>,
    own: HashMap<ConnId, usize>,
    groups: HashMap<GroupKey, usize>,
    rest: Option<usize>,
    counted: HashSet<ConnId>,
    /// More connections came than [`MAX_CONNS_COUNTED`].
    pub uncounted: bool,
    /// Gaps to draw.
    pub gap_marks: Vec<GapMark>,
    /// Gaps not drawn one by one (past [`MAX_GAP_MARKS`]).
    pub gaps_not_marked: u64,
    /// The first time seen: the origin of every lane's slices.
    origin: Option<u64>,
}

impl Lanes {
    /// The lane of `conn`, opened if new, its processes brought up to date
    /// (they are learned as the connection goes).
    pub fn of(&mut self, conn: &ConnInfo, ts_ns: u64) -> usize {
        let origin = *self.origin.get_or_insert(ts_ns);
        let new = match self.counted.len() < MAX_CONNS_COUNTED {
            true => self.counted.insert(conn.id),
            false => {
                self.uncounted |= !self.counted.contains(&conn.id);
                false
            }
        };
        let i = match self.own.get(&conn.id) {
            Some(&i) => i,
            None if new && self.own.len() < OWN_LANES => {
                self.lanes
                    .push(Lane::new(LaneKind::Conn(conn.id), conn, origin));
                self.own.insert(conn.id, self.lanes.len() - 1);
                self.lanes.len() - 1
            }
            None => self.grouped(conn, origin),
        };
        let lane = &mut self.lanes[i];
        lane.conns += u64::from(new);
        if lane.kind == LaneKind::Conn(conn.id) {
            fill(&mut lane.client, conn.client);
            fill(&mut lane.server, conn.server);
            lane.protocol = lane.protocol.or(conn.protocol);
        }
        lane.span = Some(match lane.span {
            Some((a, b)) => (a.min(ts_ns), b.max(ts_ns)),
            None => (ts_ns, ts_ns),
        });
        i
    }

    fn grouped(&mut self, conn: &ConnInfo, origin: u64) -> usize {
        let key = (conn.client.comm, conn.server.comm, conn.path.clone());
        if let Some(&i) = self.groups.get(&key) {
            return i;
        }
        if self.groups.len() < MAX_GROUPS {
            self.lanes.push(Lane::new(LaneKind::Group, conn, origin));
            let i = self.lanes.len() - 1;
            // A group stands for processes by name, not one process.
            let lane = &mut self.lanes[i];
            lane.client.pid = None;
            lane.server.pid = None;
            self.groups.insert(key, i);
            return i;
        }
        *self.rest.get_or_insert_with(|| {
            let mut lane = Lane::new(LaneKind::Rest, conn, origin);
            lane.path = None;
            lane.client = Process::default();
            lane.server = Process::default();
            self.lanes.push(lane);
            self.lanes.len() - 1
        })
    }

    /// A gap in its lane.
    pub fn gap(&mut self, mark: GapMark) {
        let Some(l) = self.lanes.get_mut(mark.lane) else {
            return;
        };
        l.gaps += 1;
        l.gap_bytes = l.gap_bytes.saturating_add(mark.bytes);
        if self.gap_marks.len() < MAX_GAP_MARKS {
            self.gap_marks.push(mark);
        } else {
            self.gaps_not_marked += 1;
        }
    }

    /// Connections seen (a lower bound when [`Lanes::uncounted`]).
    pub fn conns(&self) -> usize {
        self.counted.len()
    }
}

/// What `learned` knows that `p` does not, in `p`.
fn fill(p: &mut Process, learned: Process) {
    if p.pid.is_none() {
        p.pid = learned.pid;
    }
    if p.comm.is_none() {
        p.comm = learned.comm;
    }
}
