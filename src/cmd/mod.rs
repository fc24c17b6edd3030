//! The subcommands and what they share.

#[cfg(feature = "bpf")]
pub mod agent;
pub mod capture_file;
pub mod decode;
#[cfg(feature = "bpf")]
pub mod live;
pub mod redact;
pub mod report;
pub mod schemas;
#[cfg(feature = "bpf")]
pub mod spool;
#[cfg(feature = "bpf")]
pub mod status;
pub mod telemetry;
pub mod terminal;
pub mod view;

#[cfg(feature = "bpf")]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "bpf")]
use std::sync::Arc;

#[cfg(feature = "bpf")]
use crate::capture::clock_ns;
#[cfg(feature = "bpf")]
use crate::error::Fatal;

/// `n` and the noun, `one` or `many` as `n` says: `1 connection`, `2 writes`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A flag set by SIGINT or SIGTERM.
#[cfg(feature = "bpf")]
pub fn install_stop_handler() -> Result<Arc<AtomicBool>, Fatal> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .map_err(|e| Fatal::setup(format!("cannot install the SIGINT/SIGTERM handler: {e}")))?;
    Ok(stop)
}

/// Nanoseconds to add to CLOCK_MONOTONIC (bpf_ktime_get_ns) for wall-clock time.
#[cfg(feature = "bpf")]
pub fn mono_to_wall_offset() -> i128 {
    let mono = clock_ns(libc::CLOCK_MONOTONIC);
    let real = clock_ns(libc::CLOCK_REALTIME);
    let mono2 = clock_ns(libc::CLOCK_MONOTONIC);
    real - (mono + mono2) / 2
}
