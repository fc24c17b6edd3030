//! Names of processes known only by pid (SO_PEERCRED gives no name), read
//! once from `/proc/PID/comm` while the process lives. Live captures only:
//! a file read elsewhere says nothing of this machine's processes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::flow::Comm;
use crate::sizes::Sizes;

/// Entries older than this are read again: a pid may be reused.
const FRESH_FOR: Duration = Duration::from_secs(5);
/// Most pids remembered; the cache starts over beyond it.
const MAX_ENTRIES: usize = 4096;

/// A small cache of `/proc/PID/comm`, None for processes that are gone.
#[derive(Default)]
pub struct ProcNames {
    cache: HashMap<u32, (Instant, Option<Comm>)>,
}

impl ProcNames {
    /// Processes remembered.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("proc_names.cache", self.cache.len());
    }

    /// Entries past their freshness are dropped (a name is read again
    /// when asked), so the cache holds only the processes of recent
    /// connections.
    pub fn expire(&mut self) {
        let now = Instant::now();
        self.cache
            .retain(|_, (at, _)| now.duration_since(*at) < FRESH_FOR);
    }

    /// The name of process `pid` now, if it lives.
    pub fn get(&mut self, pid: u32) -> Option<Comm> {
        let now = Instant::now();
        if let Some((at, comm)) = self.cache.get(&pid) {
            if now.duration_since(*at) < FRESH_FOR {
                return *comm;
            }
        }
        if self.cache.len() >= MAX_ENTRIES {
            self.cache.clear();
        }
        let comm = read_comm(pid);
        self.cache.insert(pid, (now, comm));
        comm
    }
}

/// The process's name as the kernel keeps it: bytes, not always UTF-8
/// (the same bytes the BPF program reads from the thread group leader).
fn read_comm(pid: u32) -> Option<Comm> {
    let bytes = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    let name = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    Comm::from_bytes(name).filter(|c| !c.name().is_empty())
}

#[cfg(test)]
mod tests;
