//! Loading, configuring and attaching the BPF program, and draining its ring buffer.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject, PrintLevel, RingBufferBuilder};

use super::filter::Filters;
use super::record::{self, Record};
use super::reorder::Reorder;
use super::skel::{SnoopSkel, SnoopSkelBuilder};
use crate::error::Fatal;

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
}

/// Receives what the tracer delivers.
pub trait Handler {
    /// One ring buffer record. An error stops the capture.
    fn record(&mut self, rec: Record<'_>) -> Result<()>;
    /// Called about every 100 ms and once at the end, with the kernel's counters.
    fn tick(&mut self, stats: &KernelStats) -> Result<()>;
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
    /// Time from `start` until every program was attached.
    pub attach_time: Duration,
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
    /// Check privileges, load the program with `filters`, and attach it.
    pub fn start(
        object: &'obj mut MaybeUninit<OpenObject>,
        filters: &Filters,
        ringbuf_bytes: u32,
    ) -> Result<Self> {
        let started = Instant::now();
        super::preflight::check()?;
        libbpf_rs::set_print(Some((PrintLevel::Warn, keep_libbpf_message)));
        let builder = SnoopSkelBuilder::default();
        let mut open = builder.open(object).map_err(|e| load_failure(&e, "open"))?;
        let ro = open
            .maps
            .rodata_data
            .as_deref_mut()
            .context("the BPF object has no read-only data section")?;
        ro.self_tgid = std::process::id();
        // Wake the reader when an eighth of the ring is used.
        ro.wakeup_bytes = u64::from(ringbuf_bytes / 8);
        ro.capture_all = filters.all;
        ro.n_paths = filters.paths.len() as u32;
        for (i, p) in filters.paths.iter().enumerate() {
            // Slots of little-endian words, as the BPF side compares them.
            let mut slot = [0u8; 112];
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
        open.maps
            .events
            .set_max_entries(ringbuf_bytes)
            .map_err(|e| load_failure(&e, "size the ring buffer of"))?;
        let mut skel = open.load().map_err(|e| load_failure(&e, "load"))?;
        skel.attach().map_err(|e| load_failure(&e, "attach"))?;
        Ok(Tracer {
            skel,
            attach_time: started.elapsed(),
        })
    }

    /// The kernel's loss counters, summed over CPUs.
    pub fn stats(&self) -> KernelStats {
        let mut sums = [0u64; 4];
        for (i, sum) in sums.iter_mut().enumerate() {
            let key = (i as u32).to_ne_bytes();
            if let Ok(Some(per_cpu)) = self.skel.maps.stats.lookup_percpu(&key, MapFlags::ANY) {
                *sum = per_cpu
                    .iter()
                    .filter_map(|v| v.get(..8))
                    .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or_default()))
                    .sum();
            }
        }
        KernelStats {
            lost_records: sums[0],
            lost_bytes: sums[1],
            fault_bytes: sums[2],
            lost_meta: sums[3],
        }
    }

    /// Deliver records to `handler` until `stop` is set or the handler fails,
    /// then drain what is left in the ring buffer.
    pub fn run<H: Handler>(&self, stop: &AtomicBool, handler: &mut H) -> Result<()> {
        let handler = RefCell::new(handler);
        let failure: RefCell<Option<anyhow::Error>> = RefCell::new(None);
        let held = RefCell::new(Reorder::default());
        // Hand the due records (all of them when `now` is None) to the handler.
        let release = |now: Option<u64>| -> Result<()> {
            loop {
                let next = match now {
                    Some(now) => held.borrow_mut().pop_due(now),
                    None => held.borrow_mut().pop_any(),
                };
                let Some(raw) = next else { return Ok(()) };
                handler.borrow_mut().record(record::parse(&raw)?)?;
            }
        };
        let mut builder = RingBufferBuilder::new();
        builder.add(&self.skel.maps.events, |raw: &[u8]| {
            let result = match record::parse(raw) {
                Ok(rec) => {
                    held.borrow_mut().push(rec.mono_ns, raw);
                    release(Some(0))
                }
                Err(e) => Err(anyhow::Error::new(e)),
            };
            match result {
                Ok(()) => 0,
                Err(e) => {
                    failure.borrow_mut().get_or_insert(e);
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
            if last_tick.elapsed() >= TICK_INTERVAL {
                last_tick = Instant::now();
                release(Some(super::clock_ns(libc::CLOCK_MONOTONIC) as u64))?;
                handler.borrow_mut().tick(&self.stats())?;
            }
        }
        if failure.borrow().is_none() {
            let _ = ring.consume();
        }
        drop(ring);
        if let Some(e) = failure.borrow_mut().take() {
            return Err(e);
        }
        release(None)?;
        let result = handler.borrow_mut().tick(&self.stats());
        result
    }
}
