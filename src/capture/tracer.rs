//! Loading, configuring and attaching the BPF program, and draining its ring buffer.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject, PrintLevel, RingBufferBuilder};

use super::causal::Causal;
use super::cgroups::{self, Cgroups};
use super::filter::Filters;
use super::join::Joiner;
use super::liveness::Liveness;
use super::preflight::Hook;
use super::record::{self, Payload, Record, FLAG_ACK_UNKNOWN, KIND_CGROUP, KIND_GAP, KIND_HPACK};
use super::reorder::Reorder;
use super::skel::types::{snoop_abi, snoop_stat};
use super::skel::{SnoopSkel, SnoopSkelBuilder};
use super::uprobes::Uprobes;
use crate::error::Fatal;
use crate::recovery::Recovery;
use crate::sizes::Sizes;

/// Default ring buffer size: about 16 ms at 1 GB/s, with the reader woken
/// at 2 MiB. Its pages are mapped twice, so it costs twice this in RSS.
pub const DEFAULT_RINGBUF: u32 = 16 << 20;
/// How long one poll waits for a wakeup; records that did not wake us are
/// consumed after it (the BPF side wakes us only past `wakeup_bytes`).
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Ticks (flush, status, reorder timeouts) happen about this often.
const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// Counters kept by the BPF program (summed over CPUs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Data records that did not fit in the ring buffer.
    pub lost_records: u64,
    /// Payload bytes not delivered (lost records and bytes past the per-call bound).
    pub lost_bytes: u64,
    /// Payload bytes the kernel could not read from user memory.
    pub fault_bytes: u64,
    /// Close records lost.
    pub lost_meta: u64,
    /// Bytes reported in gap records, by reason code (snoop.h's
    /// `snoop_gap_reason`; index 0 holds unknown codes).
    pub uncopied: [u64; 8],
    /// Records released by the causal order's time or memory bound rather
    /// than by their ack.
    pub unordered: u64,
    /// Connections closed because their socket was found gone (sock_diag).
    pub vanished: u64,
}

impl KernelStats {
    /// Bytes of gaps with a reason that is a limit of the hook rather than
    /// a loss (io_uring, splice/sendfile, unmatched sendmmsg, unknown caller).
    pub fn uncopyable(&self) -> u64 {
        self.uncopyable_by_reason().map(|(_, n)| n).sum()
    }

    /// The nonzero counts of [`KernelStats::uncopyable`], by reason.
    pub fn uncopyable_by_reason(&self) -> impl Iterator<Item = (record::GapReason, u64)> + '_ {
        self.uncopied
            .iter()
            .enumerate()
            .map(|(code, &n)| (record::GapReason::from_code(code as u16), n))
            .filter(|(reason, n)| *n > 0 && reason.by_design())
    }
}

/// Receives what the tracer delivers.
pub trait Handler {
    /// One ring buffer record. An error stops the capture.
    fn record(&mut self, rec: Record<'_>) -> Result<()>;
    /// Called about every 100 ms and once at the end, with the kernel's counters.
    fn tick(&mut self, stats: &KernelStats) -> Result<()>;
    /// With [`Tracer::report_sizes`], called after each tick with the entry
    /// counts of the capture side (its stages, the uprobes, the BPF maps
    /// that can be walked).
    fn sizes(&mut self, capture: &Sizes) -> Result<()> {
        let _ = capture;
        Ok(())
    }
}

/// libbpf's messages, kept to explain a failed load.
static LIBBPF_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn keep_libbpf_message(level: PrintLevel, msg: String) {
    if matches!(level, PrintLevel::Warn) {
        if let Ok(mut log) = LIBBPF_LOG.lock() {
            if log.len() < 200 {
                log.push(msg.trim_end().to_string());
            }
        }
    }
}

fn libbpf_log() -> String {
    LIBBPF_LOG.lock().map(|l| l.join("\n")).unwrap_or_default()
}

/// The loaded and attached BPF program.
pub struct Tracer<'obj> {
    skel: SnoopSkel<'obj>,
    /// The HPACK uprobes on the watched servers.
    uprobes: RefCell<Uprobes>,
    /// Time from `start` until every program was attached.
    pub attach_time: Duration,
    /// The hook the programs are attached to.
    pub hook: Hook,
    /// Whether the handler is told the entry counts every tick.
    sizes: bool,
    /// The cgroup v1 controller the kernel reads for writers in the root
    /// of the default hierarchy (see `cgroups::v1_controller`).
    cgroup_v1: Option<String>,
}

/// Counts of what the stages saw, merged into [`KernelStats`].
#[derive(Default)]
struct StageStats {
    uncopied: [u64; 8],
}

/// The stages between the ring buffer and the handler: joining a call's
/// records, then ordering (by ack where records carry one, else by time),
/// and the liveness backstop.
#[derive(Default)]
struct Stages {
    /// The writers' cgroups, from the path records (before any stage:
    /// they come first in the ring, their records may not).
    cgroups: Cgroups,
    joiner: Joiner,
    reorder: Reorder,
    causal: Causal,
    liveness: Liveness,
    stats: StageStats,
    /// Records ready for the handler, in order.
    ready: Vec<Vec<u8>>,
    /// Buffers of records the handler is done with, for the next ones.
    pool: Vec<Vec<u8>>,
}

/// Buffers kept for reuse at most, and the largest kept.
const POOL_BUFFERS: usize = 1024;
const POOL_MAX_CAPACITY: usize = 128 << 10;

impl Stages {
    /// Entries kept per call, socket or record.
    fn sizes(&self, out: &mut Sizes) {
        self.cgroups.sizes(out);
        self.joiner.sizes(out);
        self.reorder.sizes(out);
        self.causal.sizes(out);
        self.liveness.sizes(out);
        out.add("stages.pool", self.pool.len());
        out.add(
            "stages.pool_kib",
            self.pool.iter().map(Vec::capacity).sum::<usize>() >> 10,
        );
    }

    /// One ring buffer record.
    fn push(&mut self, raw: &[u8], now: u64) {
        if record::header(raw).is_some_and(|h| h.kind == KIND_CGROUP) {
            if let Ok(Record {
                cgroup,
                payload: Payload::Cgroup { path, complete },
                ..
            }) = record::parse(raw)
            {
                self.cgroups.learn(cgroup, &path, complete);
            }
            return;
        }
        let mut joined = Vec::new();
        self.joiner.push(raw, &mut joined, &mut self.pool);
        for r in joined {
            self.route(r, now);
        }
    }

    /// A record the handler is done with: its buffer serves again.
    fn recycle(&mut self, raw: Vec<u8>) {
        if self.pool.len() < POOL_BUFFERS && raw.capacity() <= POOL_MAX_CAPACITY {
            self.pool.push(raw);
        }
    }

    fn route(&mut self, raw: Vec<u8>, now: u64) {
        let Some(h) = record::header(&raw) else {
            self.ready.push(raw);
            return;
        };
        if h.kind == KIND_GAP {
            let i = if (h.reason as usize) < 8 {
                h.reason as usize
            } else {
                0
            };
            self.stats.uncopied[i] += u64::from(h.gap_len);
        }
        if h.kind == KIND_HPACK {
            // Not stream bytes: what a server knew when it decoded or
            // encoded a header block, or sent on a stream. Recovery matches
            // them to their blocks itself; waiting in the time window
            // would only make the bytes arrive first.
            self.ready.push(raw);
        } else if h.flags & FLAG_ACK_UNKNOWN != 0 {
            self.reorder.push(h.ts_ns, raw);
        } else {
            self.causal.push(raw, now, &mut self.ready);
        }
    }

    /// Move what the timestamp window lets go (all of it when `now` is
    /// None) to `ready`, telling the causal stage of each.
    fn release_reorder(&mut self, now: Option<u64>) {
        loop {
            let next = match now {
                Some(now) => self.reorder.pop_due(now),
                None => self.reorder.pop_any(),
            };
            let Some(raw) = next else { return };
            let mut more = Vec::new();
            self.causal.note(&raw, &mut more);
            self.ready.push(raw);
            self.ready.extend(more);
        }
    }

    /// Periodic work at CLOCK_MONOTONIC `now`.
    fn tick(&mut self, now: u64) {
        let mut joined = Vec::new();
        self.joiner.tick(&mut joined);
        for r in joined {
            self.route(r, now);
        }
        self.release_reorder(Some(now));
        self.causal.expire(now, &mut self.ready);
    }

    /// End of capture: everything held.
    fn finish(&mut self) {
        let mut joined = Vec::new();
        self.joiner.finish(&mut joined);
        for r in joined {
            self.route(r, u64::MAX);
        }
        self.release_reorder(None);
        self.causal.finish(&mut self.ready);
    }

    /// The records ready for the handler, each noted by the liveness backstop.
    fn take_ready(&mut self) -> Vec<Vec<u8>> {
        let out = std::mem::take(&mut self.ready);
        for r in &out {
            self.liveness.note(r);
        }
        out
    }
}

fn copy_str(dst: &mut [i8], s: &str) {
    for (d, b) in dst.iter_mut().zip(s.as_bytes()) {
        *d = *b as i8;
    }
}

/// Why loading failed, as one sentence with the fix.
fn load_failure(err: &libbpf_rs::Error, stage: &str) -> Fatal {
    let detail = libbpf_log();
    if detail.contains("BEGIN PROG LOAD LOG") {
        let tail: Vec<&str> = detail.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Fatal::setup(format!(
            "the kernel's verifier rejected the BPF program: this kernel needs a change in \
             containerdsnoop, please report it with these lines:\n{}",
            tail.join("\n")
        ));
    }
    let hint = if detail.is_empty() {
        String::new()
    } else {
        format!("\nlibbpf said:\n{detail}")
    };
    match err.kind() {
        libbpf_rs::ErrorKind::PermissionDenied => Fatal::setup(format!(
            "the kernel refused to {stage} the BPF program (permission denied): run as root with \
             CAP_BPF and CAP_PERFMON, outside a container that drops them, and without kernel \
             lockdown in confidentiality mode{hint}"
        )),
        _ => Fatal::setup(format!(
            "could not {stage} the BPF program ({err}): containerdsnoop needs Linux 5.17 or later \
             with BTF{hint}"
        )),
    }
}

impl<'obj> Tracer<'obj> {
    /// Check privileges, choose the hook (`choice`, or the best this kernel
    /// has), load the programs of that hook with `filters`, and attach them.
    pub fn start(
        object: &'obj mut MaybeUninit<OpenObject>,
        filters: &Filters,
        ringbuf_bytes: u32,
        choice: Option<super::preflight::Hook>,
        recovery: Recovery,
    ) -> Result<Self> {
        let started = Instant::now();
        let hook = super::preflight::check(choice)?;
        // The servers' executables are read while the programs load (a
        // thread only now: the preflight may have needed unshare()).
        let scan = recovery.enabled().then(|| {
            let filters = filters.clone();
            std::thread::spawn(move || super::uprobes::scan_servers(&filters))
        });
        libbpf_rs::set_print(Some((PrintLevel::Warn, keep_libbpf_message)));
        let builder = SnoopSkelBuilder::default();
        let mut open = builder.open(object).map_err(|e| load_failure(&e, "open"))?;
        let ro = open
            .maps
            .rodata_data
            .as_deref_mut()
            .context("the BPF object has no read-only data section")?;
        let me = SelfIds::get();
        ro.self_pidns_dev = me.pidns_dev;
        ro.self_pidns_ino = me.pidns_ino;
        ro.self_pid = std::process::id();
        ro.self_netns_ino = me.netns_ino;
        // This architecture's numbers, for reading the registers of the
        // system call that sent (sock hook).
        ro.nr_write = libc::SYS_write;
        ro.nr_writev = libc::SYS_writev;
        ro.nr_pwritev2 = libc::SYS_pwritev2;
        ro.nr_sendto = libc::SYS_sendto;
        ro.nr_sendmsg = libc::SYS_sendmsg;
        ro.nr_sendmmsg = libc::SYS_sendmmsg;
        ro.nr_io_uring_enter = libc::SYS_io_uring_enter;
        ro.nr_sendfile = libc::SYS_sendfile;
        ro.nr_splice = libc::SYS_splice;
        // Writers in the root of the default hierarchy are named by a v1
        // controller's cgroup, on hosts that have one (the kernel's array
        // holds 12 controllers in the BTF this was built against).
        let v1 = std::fs::read_to_string("/proc/cgroups")
            .ok()
            .and_then(|t| cgroups::v1_controller(&t))
            .filter(|(i, _)| *i < 12);
        ro.cgroup_v1_subsys = v1.as_ref().map_or(-1, |(i, _)| *i as i32);
        // Wake the reader when an eighth of the ring is used.
        ro.wakeup_bytes = u64::from(ringbuf_bytes / 8);
        ro.capture_all = filters.all;
        ro.n_paths = filters.paths.len() as u32;
        for (i, p) in filters.paths.iter().enumerate() {
            // Slots of little-endian words, as the BPF side compares them.
            let mut slot = [0u8; snoop_abi::SNOOP_PATH_SLOT.0 as usize];
            slot[..p.path.len()].copy_from_slice(p.path.as_bytes());
            for (w, word) in ro.path_filters[i].iter_mut().enumerate() {
                *word = u64::from_le_bytes(slot[w * 8..w * 8 + 8].try_into().unwrap_or_default());
            }
            ro.path_filter_len[i] = p.path.len() as u32;
            ro.path_filter_prefix[i] = p.prefix;
        }
        ro.n_pids = filters.pids.len() as u32;
        ro.pid_filters[..filters.pids.len()].copy_from_slice(&filters.pids);
        ro.n_comms = filters.comms.len() as u32;
        for (i, c) in filters.comms.iter().enumerate() {
            copy_str(&mut ro.comm_filters[i], c);
        }
        let cpus = libbpf_rs::num_possible_cpus().context("counting the possible CPUs")?;
        open.maps
            .scratch_buf
            .set_max_entries(cpus as u32)
            .map_err(|e| load_failure(&e, "size the scratch buffers of"))?;
        let sock = hook == Hook::Sock;
        for prog in [
            &mut open.progs.enter_write,
            &mut open.progs.enter_writev,
            &mut open.progs.enter_sendto,
            &mut open.progs.enter_sendmsg,
            &mut open.progs.exit_write,
            &mut open.progs.exit_writev,
            &mut open.progs.exit_sendto,
            &mut open.progs.exit_sendmsg,
            &mut open.progs.enter_close,
        ] {
            prog.set_autoload(!sock);
        }
        open.progs.sock_send.set_autoload(sock);
        open.progs.sock_recv.set_autoload(sock);
        if sock {
            // The syscall hook's tables are not used: keep them minimal
            // (per-CPU LRU lists need an entry per CPU).
            for map in [
                &mut open.maps.kept_socks,
                &mut open.maps.rejected_socks,
                &mut open.maps.pending,
            ] {
                map.set_max_entries(cpus as u32)
                    .map_err(|e| load_failure(&e, "size the tables of"))?;
            }
        } else {
            // Likewise the sock hook's handoff table on the syscall hook.
            open.maps
                .handoff
                .set_max_entries(cpus as u32)
                .map_err(|e| load_failure(&e, "size the tables of"))?;
        }
        open.maps
            .events
            .set_max_entries(ringbuf_bytes)
            .map_err(|e| load_failure(&e, "size the ring buffer of"))?;
        let mut skel = open.load().map_err(|e| load_failure(&e, "load"))?;
        // The uprobes first: a header block the server decodes after the
        // socket hook attached must find them in place.
        let mut uprobes = Uprobes::new(&skel, recovery)?;
        if let Some(servers) = scan.and_then(|t| t.join().ok()) {
            uprobes.adopt(&skel, servers);
        }
        skel.attach().map_err(|e| load_failure(&e, "attach"))?;
        Ok(Tracer {
            skel,
            uprobes: RefCell::new(uprobes),
            attach_time: started.elapsed(),
            hook,
            sizes: false,
            cgroup_v1: v1.map(|(_, name)| name),
        })
    }

    /// One counter of the `stats` map, summed over CPUs.
    fn stat(&self, which: snoop_stat) -> u64 {
        let key = which.0.to_ne_bytes();
        match self.skel.maps.stats.lookup_percpu(&key, MapFlags::ANY) {
            Ok(Some(per_cpu)) => per_cpu
                .iter()
                .filter_map(|v| v.get(..8))
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or_default()))
                .sum(),
            _ => 0,
        }
    }

    /// The kernel's loss counters, summed over CPUs.
    pub fn stats(&self) -> KernelStats {
        KernelStats {
            lost_records: self.stat(snoop_stat::SNOOP_STAT_LOST_RECORDS),
            lost_bytes: self.stat(snoop_stat::SNOOP_STAT_LOST_BYTES),
            fault_bytes: self.stat(snoop_stat::SNOOP_STAT_FAULT_BYTES),
            lost_meta: self.stat(snoop_stat::SNOOP_STAT_LOST_META),
            ..Default::default()
        }
    }

    /// Tell the handler the entry counts on every tick (for `--state-sizes`:
    /// walking the BPF maps costs a system call per entry).
    pub fn report_sizes(&mut self) {
        self.sizes = true;
    }

    /// Entries of the uprobes and of the BPF maps that can be walked (the
    /// socket- and task-local storage is freed with its socket or task).
    fn kernel_sizes(&self, out: &mut Sizes) {
        self.uprobes.borrow().sizes(out);
        let maps = &self.skel.maps;
        out.add("bpf.kept_socks", maps.kept_socks.keys().count());
        out.add("bpf.rejected_socks", maps.rejected_socks.keys().count());
        out.add("bpf.pending", maps.pending.keys().count());
        out.add("bpf.handoff", maps.handoff.keys().count());
        out.add("bpf.hpack_done", maps.hpack_done.keys().count());
        out.add("bpf.cgroups_seen", maps.cgroups_seen.keys().count());
    }

    fn stats_with(&self, p: &Stages) -> KernelStats {
        KernelStats {
            uncopied: p.stats.uncopied,
            unordered: p.causal.forced,
            vanished: p.liveness.synthesized,
            ..self.stats()
        }
    }

    /// Deliver records to `handler` until `stop` is set or the handler fails,
    /// then drain what is left in the ring buffer. Returns the final counters.
    pub fn run<H: Handler>(&self, stop: &AtomicBool, handler: &mut H) -> Result<KernelStats> {
        let stages = RefCell::new(Stages {
            cgroups: Cgroups::new(self.cgroup_v1.clone()),
            ..Stages::default()
        });
        let failure: RefCell<Option<anyhow::Error>> = RefCell::new(None);
        // Hand the ready records to the handler.
        let deliver = |handler: &mut H| -> Result<()> {
            let ready = stages.borrow_mut().take_ready();
            for raw in ready {
                let mut rec = record::parse(&raw)?;
                rec.writer.container = stages.borrow_mut().cgroups.of(rec.cgroup, rec.writer.pid);
                // A server not looked at yet: probed before its
                // connection's events reach the recovery stage.
                let server = match rec.socket.is_server() {
                    true => rec.writer.pid.unwrap_or(0),
                    false => rec.socket.peer_pid,
                };
                self.uprobes.borrow_mut().consider(&self.skel, server);
                handler.record(rec)?;
                stages.borrow_mut().recycle(raw);
            }
            Ok(())
        };
        let mut builder = RingBufferBuilder::new();
        builder.add(&self.skel.maps.events, |raw: &[u8]| {
            if failure.borrow().is_some() {
                return -1;
            }
            match record::parse(raw) {
                Ok(_) => {
                    stages.borrow_mut().push(raw, now_ns());
                    0
                }
                Err(e) => {
                    failure.borrow_mut().get_or_insert(anyhow::Error::new(e));
                    -1
                }
            }
        })?;
        let ring = builder.build()?;
        let mut last_tick = Instant::now();
        while !stop.load(Ordering::Relaxed) && failure.borrow().is_none() {
            // EINTR from a signal is expected here; the loop re-checks `stop`.
            let _ = ring.poll(POLL_INTERVAL);
            if failure.borrow().is_none() {
                let _ = ring.consume();
            }
            // Records past the timestamp window go at every poll, not at
            // the next tick: they wait the window, not up to a tick more,
            // behind records that came the other way.
            stages.borrow_mut().release_reorder(Some(now_ns()));
            deliver(handler)?;
            if last_tick.elapsed() >= TICK_INTERVAL {
                last_tick = Instant::now();
                stages.borrow_mut().tick(now_ns());
                if stages.borrow().liveness.due() {
                    // Drained first: no record of a socket found gone is
                    // still in the ring when its close is made.
                    let _ = ring.consume();
                    let mut p = stages.borrow_mut();
                    let now = now_ns();
                    for close in p.liveness.check(now) {
                        p.route(close, now);
                    }
                }
                deliver(handler)?;
                let stats = self.stats_with(&stages.borrow());
                handler.tick(&stats)?;
                self.uprobes.borrow().sync_done(&self.skel);
                for key in stages.borrow_mut().cgroups.take_forgotten() {
                    // Gone already (LRU) is fine: the path comes again.
                    let _ = self.skel.maps.cgroups_seen.delete(&key.to_ne_bytes());
                }
                if self.sizes {
                    let mut sizes = Sizes::default();
                    stages.borrow().sizes(&mut sizes);
                    self.kernel_sizes(&mut sizes);
                    handler.sizes(&sizes)?;
                }
            }
        }
        if failure.borrow().is_none() {
            let _ = ring.consume();
        }
        drop(ring);
        if let Some(e) = failure.borrow_mut().take() {
            return Err(e);
        }
        {
            // Connections whose sockets are gone end with the capture's
            // summary and FIN packets, not as "open".
            let mut p = stages.borrow_mut();
            let now = now_ns();
            for close in p.liveness.check_all(now) {
                p.route(close, now);
            }
        }
        stages.borrow_mut().finish();
        deliver(handler)?;
        let stats = self.stats_with(&stages.borrow());
        handler.tick(&stats)?;
        Ok(stats)
    }
}

fn now_ns() -> u64 {
    super::clock_ns(libc::CLOCK_MONOTONIC) as u64
}

/// The tracer's own namespaces, for the BPF side to recognise it.
#[derive(Default)]
struct SelfIds {
    /// Device of the nsfs inode, in the kernel's encoding (MKDEV).
    pidns_dev: u64,
    pidns_ino: u64,
    netns_ino: u32,
}

impl SelfIds {
    fn get() -> Self {
        use std::os::unix::fs::MetadataExt;
        let mut ids = SelfIds::default();
        if let Ok(m) = std::fs::metadata("/proc/self/ns/pid") {
            // stat's st_dev is the userspace encoding; the kernel compares
            // with s_dev, which is (major << 20) | minor.
            let (major, minor) = (libc::major(m.dev()), libc::minor(m.dev()));
            ids.pidns_dev = (u64::from(major) << 20) | u64::from(minor);
            ids.pidns_ino = m.ino();
        }
        if let Ok(m) = std::fs::metadata("/proc/self/ns/net") {
            ids.netns_ino = m.ino() as u32;
        }
        ids
    }
}
