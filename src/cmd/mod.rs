//! The subcommands and what they share.

pub mod decode;
pub mod live;
pub mod output;
pub mod redact;
pub mod spool;
pub mod status;
pub mod view;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::Fatal;

/// A flag set by SIGINT or SIGTERM.
pub fn install_stop_handler() -> Result<Arc<AtomicBool>, Fatal> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .map_err(|e| Fatal::setup(format!("cannot install the SIGINT/SIGTERM handler: {e}")))?;
    Ok(stop)
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// Nanoseconds to add to CLOCK_MONOTONIC (bpf_ktime_get_ns) for wall-clock time.
pub fn mono_to_wall_offset() -> i128 {
    let mono = clock_ns(libc::CLOCK_MONOTONIC);
    let real = clock_ns(libc::CLOCK_REALTIME);
    let mono2 = clock_ns(libc::CLOCK_MONOTONIC);
    real - (mono + mono2) / 2
}
