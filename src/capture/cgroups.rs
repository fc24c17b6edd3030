//! Which container a writer runs in, from the cgroup the kernel names in
//! each record header (`cgroup_id`, `SNOOP_F_CGROUP_V1`). A cgroup's path
//! comes once, in a `SNOOP_CGROUP` record, and is turned into a container
//! at once: `ctr run --rm` removes its cgroup when the container exits,
//! often before the capture reads the bytes it wrote.
//!
//! A key the cache does not hold (its record was lost, or the cache
//! started over) is looked up in `/proc/PID/cgroup` while the writer
//! lives; otherwise the writer's container is unknown, never the host.

use std::collections::HashMap;

use crate::flow::container::from_cgroup_path;
use crate::flow::InContainer;
use crate::sizes::Sizes;

/// Cgroups remembered at most; the cache starts over beyond it (the
/// kernel is told to send their paths again).
const MAX_ENTRIES: usize = 8192;

/// The controllers tried, in order, for writers in the root of the
/// default hierarchy on a cgroup v1 host: container runtimes put a
/// container in every v1 hierarchy, and `pids` is rarely used for
/// anything else (this machine's supervisor moves its processes in
/// `memory` alone).
const V1_CONTROLLERS: [&str; 4] = ["pids", "cpu", "devices", "memory"];

/// The key the kernel knows a cgroup by (`cgroup_key` in cgroup.bpf.h):
/// its kernfs id, bit 63 flipped for a v1 hierarchy's.
pub fn key(id: u64, v1: bool) -> u64 {
    id ^ (u64::from(v1) << 63)
}

/// The v1 controller the kernel reads when the default hierarchy says
/// nothing: its index in css_set.subsys (the row of `/proc/cgroups`, whose
/// order is the kernel's enum cgroup_subsys_id) and its name; None when no
/// controller is mounted as v1 (a pure cgroup v2 host).
pub fn v1_controller(proc_cgroups: &str) -> Option<(usize, String)> {
    let rows: Vec<(usize, &str)> = proc_cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .enumerate()
        .filter_map(|(i, l)| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // subsys_name hierarchy num_cgroups enabled
            let mounted = f.get(1).is_some_and(|h| *h != "0") && f.get(3) == Some(&"1");
            mounted.then(|| (i, f[0]))
        })
        .collect();
    V1_CONTROLLERS.iter().find_map(|want| {
        rows.iter()
            .find(|(_, name)| name == want)
            .map(|(i, name)| (*i, name.to_string()))
    })
}

/// The path `/proc/PID/cgroup` gives for the hierarchy the kernel would
/// have read: the default one's (`0::`), or when that is the root and a
/// v1 controller is chosen, that controller's.
pub fn path_in_proc(proc_cgroup: &str, v1: Option<&str>) -> Option<String> {
    let mut unified = None;
    let mut in_v1 = None;
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if controllers.is_empty() {
            unified = Some(path);
        } else if v1.is_some_and(|c| controllers.split(',').any(|x| x == c)) {
            in_v1 = Some(path);
        }
    }
    match (unified, in_v1) {
        (Some(u), _) if u != "/" => Some(u.to_string()),
        (_, Some(p)) => Some(p.to_string()),
        (u, None) => u.map(str::to_string),
    }
}

/// Cgroup key -> where its processes run.
#[derive(Default)]
pub struct Cgroups {
    known: HashMap<u64, InContainer>,
    /// The v1 controller the kernel was told to read, by name.
    v1: Option<String>,
    /// Keys to delete from the kernel's `cgroups_seen` (the cache
    /// started over): their paths then come again.
    forget: Vec<u64>,
    /// Keys found through `/proc` (no path record), for the counters.
    pub from_proc: u64,
}

impl Cgroups {
    /// A cache for a kernel told to read controller `v1` (by name) for
    /// writers in the default hierarchy's root.
    pub fn new(v1: Option<String>) -> Self {
        Cgroups {
            v1,
            ..Default::default()
        }
    }

    /// Entries held.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("cgroups.known", self.known.len());
        out.add("cgroups.forget", self.forget.len());
    }

    /// A `SNOOP_CGROUP` record: the path of cgroup `key`.
    pub fn learn(&mut self, key: u64, path: &str, complete: bool) {
        self.make_room();
        self.known.insert(key, from_cgroup_path(path, complete));
    }

    /// Where the writer `pid` of a record naming cgroup `key` runs (key 0:
    /// the kernel did not say).
    pub fn of(&mut self, key: u64, pid: Option<u32>) -> InContainer {
        if key == 0 {
            return InContainer::Unknown;
        }
        if let Some(c) = self.known.get(&key) {
            return *c;
        }
        let from_proc = pid
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok())
            .and_then(|text| path_in_proc(&text, self.v1.as_deref()))
            .map(|path| from_cgroup_path(&path, true));
        // The writer is gone: unknown this time, asked again next time.
        let Some(found) = from_proc else {
            return InContainer::Unknown;
        };
        self.from_proc += 1;
        self.make_room();
        self.known.insert(key, found);
        found
    }

    /// Keys the kernel should forget, taken.
    pub fn take_forgotten(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.forget)
    }

    fn make_room(&mut self) {
        if self.known.len() >= MAX_ENTRIES {
            self.forget.extend(self.known.drain().map(|(k, _)| k));
            // Bounded too, should the kernel map never be reached.
            self.forget.truncate(MAX_ENTRIES);
        }
    }
}

#[cfg(test)]
mod tests;
