//! The kernel side's userspace half: load the BPF program, read its records.

pub mod causal;
pub mod cgroups;
pub mod filter;
pub mod join;
pub mod liveness;
pub mod preflight;
mod proc_names;
pub mod record;
pub mod reorder;
pub mod tracer;
pub mod tracker;
pub mod uprobes;

/// `clock` now, in nanoseconds (CLOCK_MONOTONIC is the clock of
/// `bpf_ktime_get_ns`, which stamps every record).
pub fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// The skeleton libbpf-cargo generated from `src/bpf/snoop.bpf.c`.
#[allow(clippy::all, missing_docs, unused_imports, non_camel_case_types)]
pub(crate) mod skel {
    include!(concat!(env!("OUT_DIR"), "/snoop.skel.rs"));
}
