//! What the capture side and the [`super::Seeder`] share about recovery:
//! which server processes can give their tables (and why others cannot),
//! and which connections need no more tables (told to the kernel side so
//! its uprobes stop copying them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::flow::Dir;
use crate::sizes::Sizes;

/// Whether a server process can give its connections' HPACK tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Uprobes are attached to its executable (the path, for messages).
    Probed(String),
    /// Not possible; the phrase says why ("not a Go program", ...).
    Unavailable(String),
}

#[derive(Default)]
struct Inner {
    enabled: bool,
    by_pid: HashMap<u32, Availability>,
    /// What became known, by server socket inode, for the kernel side.
    done: Vec<(u64, Done)>,
}

/// What became known about a connection (by its server socket's inode),
/// so the uprobes stop copying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    /// Bits: 1 the client-to-server table, 2 the server-to-client table,
    /// 4 no stream predates the capture (snoop.h's `snoop_hpack_side`).
    Sides(u8),
    /// The first stream whose request the capture saw: only streams below
    /// it need naming.
    FirstStream(u32),
    /// The connection closed: nothing about it is kept any more.
    Forget,
}

/// A handle shared by the tracer and the seeder (clones share one state).
#[derive(Clone, Default)]
pub struct Recovery {
    inner: Arc<Mutex<Inner>>,
}

impl Recovery {
    /// Server processes known, and news for the kernel side not taken yet.
    pub fn sizes(&self, out: &mut Sizes) {
        let inner = self.lock();
        out.add("recovery.by_pid", inner.by_pid.len());
        out.add("recovery.done", inner.done.len());
    }

    /// A handle; `enabled` false when the user turned recovery off.
    pub fn new(enabled: bool) -> Self {
        let r = Recovery::default();
        r.lock().enabled = enabled;
        r
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether recovery was asked for.
    pub fn enabled(&self) -> bool {
        self.lock().enabled
    }

    /// What is known about server process `pid`.
    pub fn availability(&self, pid: u32) -> Option<Availability> {
        let inner = self.lock();
        if !inner.enabled {
            return Some(Availability::Unavailable(
                "recovery is off (--no-hpack-recovery)".into(),
            ));
        }
        inner.by_pid.get(&pid).cloned()
    }

    /// Whether `pid` was looked at already.
    pub fn knows(&self, pid: u32) -> bool {
        self.lock().by_pid.contains_key(&pid)
    }

    /// Record what was found about `pid`.
    pub fn set(&self, pid: u32, a: Availability) {
        self.lock().by_pid.insert(pid, a);
    }

    /// The table of direction `dir` of the connection whose server socket
    /// is `server_ino` is known: no more copies are needed.
    pub fn mark_done(&self, server_ino: u64, dir: Dir) {
        let bit = match dir {
            Dir::ToServer => 1,
            Dir::ToClient => 2,
        };
        self.push(server_ino, Done::Sides(bit));
    }

    /// The connection began in the capture: no stream of it needs naming.
    pub fn mark_fresh(&self, server_ino: u64) {
        self.push(server_ino, Done::Sides(1 | 2 | 4));
    }

    /// The first request the capture saw on the connection was on `stream`.
    pub fn mark_first_stream(&self, server_ino: u64, stream: u32) {
        self.push(server_ino, Done::FirstStream(stream));
    }

    /// The connection closed: the kernel side forgets its socket.
    pub fn forget(&self, server_ino: u64) {
        self.push(server_ino, Done::Forget);
    }

    /// Server processes that no longer run are forgotten (`alive` says
    /// whether a pid still runs).
    pub fn forget_exited(&self, alive: impl Fn(u32) -> bool) {
        self.lock().by_pid.retain(|&pid, _| alive(pid));
    }

    fn push(&self, server_ino: u64, mark: Done) {
        if server_ino == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.done.len() < 65536 {
            inner.done.push((server_ino, mark));
        }
    }

    /// The marks made since the last call, for the kernel side.
    pub fn take_done(&self) -> Vec<(u64, Done)> {
        std::mem::take(&mut self.lock().done)
    }
}
