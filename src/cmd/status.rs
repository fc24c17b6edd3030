//! The one-line status on stderr and the final summary.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::counted;
use super::terminal::{hide, SHOWN};
use crate::capture::tracer::KernelStats;
use crate::capture::tracker::FlowStats;

/// Human-readable byte count.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Text of the status line.
pub fn line(flow: &FlowStats, kernel: &KernelStats) -> String {
    let mut s = format!(
        "{} ({} open), {}, {}",
        counted(flow.connections, "connection", "connections"),
        flow.open,
        counted(flow.writes, "write", "writes"),
        bytes(flow.bytes)
    );
    let lost = kernel.lost_bytes + kernel.fault_bytes;
    // Gaps the hook cannot avoid (io_uring, splice...) are reported apart:
    // the tracer lost nothing there.
    let uncopyable = kernel.uncopyable();
    if lost > 0 || kernel.lost_records > 0 || flow.gap_bytes > uncopyable {
        s.push_str(&format!(
            ", DROPPED {} in {} records ({} in gaps)",
            bytes(lost),
            kernel.lost_records,
            bytes(flow.gap_bytes.saturating_sub(uncopyable))
        ));
    } else {
        s.push_str(", no drops");
    }
    if uncopyable > 0 {
        let reasons: Vec<String> = kernel
            .uncopyable_by_reason()
            .map(|(reason, n)| format!("{} {}", reason.name(), bytes(n)))
            .collect();
        s.push_str(&format!(
            ", {} not copyable ({})",
            bytes(uncopyable),
            reasons.join(", ")
        ));
    }
    if flow.stale_bytes > 0 {
        s.push_str(&format!(", {} stale", bytes(flow.stale_bytes)));
    }
    if flow.resets > 0 {
        s.push_str(&format!(", {} offset restarts", flow.resets));
    }
    if kernel.unordered > 0 {
        s.push_str(&format!(
            ", {} records ordered by time bound",
            kernel.unordered
        ));
    }
    if kernel.vanished > 0 {
        s.push_str(&format!(
            ", {} sockets found gone (sock_diag)",
            kernel.vanished
        ));
    }
    s
}

/// The protocols part of the final summary, from (gRPC, ttrpc, HTTP/1.x,
/// other) connection counts: `; 3 gRPC, 5 ttrpc, 2 HTTP/1.1, 1 other (not
/// decoded)`, HTTP and other only when there were some.
pub fn protocols((grpc, ttrpc, http, other): (u64, u64, u64, u64)) -> String {
    let mut s = format!("; {grpc} gRPC, {ttrpc} ttrpc");
    if http > 0 {
        s.push_str(&format!(", {http} HTTP/1.1"));
    }
    if other > 0 {
        s.push_str(&format!(", {other} other (not decoded)"));
    }
    s
}

/// Refreshes the status line about once a second when stderr is a terminal.
pub struct Status {
    tty: bool,
    last: Instant,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            tty: std::io::stderr().is_terminal(),
            last: Instant::now(),
        }
    }
}

impl Status {
    /// Show the line if a second passed, or at once if other output erased
    /// it (terminal only).
    pub fn update(&mut self, flow: &FlowStats, kernel: &KernelStats) {
        let erased = !SHOWN.load(Ordering::Relaxed);
        if self.tty && (erased || self.last.elapsed() >= Duration::from_secs(1)) {
            self.last = Instant::now();
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{}", line(flow, kernel));
            let _ = err.flush();
            SHOWN.store(true, Ordering::Relaxed);
        }
    }

    /// Erase the line before the final summary.
    pub fn clear(&self) {
        hide();
    }
}

#[cfg(test)]
mod tests;
