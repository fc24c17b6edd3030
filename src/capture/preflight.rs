//! Checks before loading BPF, so that a missing privilege or kernel feature
//! is one clear sentence instead of a libbpf error.

use std::fs;
use std::path::Path;

use crate::error::Fatal;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set of this process, from /proc/self/status.
fn effective_caps() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn has(caps: u64, cap: u32) -> bool {
    caps & (1u64 << cap) != 0
}

/// Whether the capabilities suffice to load and attach the tracer:
/// CAP_BPF and CAP_PERFMON (Linux 5.8+), or CAP_SYS_ADMIN.
pub fn privileged(caps: u64) -> bool {
    has(caps, CAP_SYS_ADMIN) || (has(caps, CAP_BPF) && has(caps, CAP_PERFMON))
}

/// Everything that can be checked without trying: privileges, BTF,
/// lockdown, tracefs. Returns the first problem as a Fatal (exit code 2).
pub fn check() -> Result<(), Fatal> {
    match effective_caps() {
        Some(caps) if !privileged(caps) => return Err(Fatal::setup(
            "containerdsnoop needs root (or the CAP_BPF and CAP_PERFMON capabilities) to load its \
                 BPF program: run it with sudo",
        )),
        _ => {}
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(Fatal::setup(
            "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): containerdsnoop needs a \
             kernel built with CONFIG_DEBUG_INFO_BTF=y, as most distribution kernels since 5.8 are",
        ));
    }
    if let Ok(mode) = fs::read_to_string("/sys/kernel/security/lockdown") {
        if mode.contains("[confidentiality]") {
            return Err(Fatal::setup(
                "kernel lockdown is in confidentiality mode, which forbids BPF programs to read \
                 memory: boot with lockdown=integrity or none (or disable Secure Boot lockdown) to \
                 use containerdsnoop",
            ));
        }
    }
    ensure_tracefs()
}

const TRACEFS: &str = "/sys/kernel/tracing";

fn tracepoints_visible() -> bool {
    [
        "/sys/kernel/tracing/events/syscalls",
        "/sys/kernel/debug/tracing/events/syscalls",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
}

/// libbpf finds tracepoint ids in tracefs. When it is not mounted, mount it
/// in a private mount namespace of this process only: the host's mounts are
/// left as they were. Must run before any thread is started (unshare).
fn ensure_tracefs() -> Result<(), Fatal> {
    if tracepoints_visible() {
        return Ok(());
    }
    let fail = |what: &str| {
        Fatal::setup(format!(
            "the syscall tracepoints are not visible (tracefs is not mounted) and {what} failed \
             ({}): run `mount -t tracefs nodev {TRACEFS}` and try again",
            std::io::Error::last_os_error()
        ))
    };
    // SAFETY: plain system calls with valid NUL-terminated strings; the
    // process is still single-threaded, as unshare(CLONE_NEWNS) requires.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(fail("unshare(CLONE_NEWNS)"));
        }
        let root = c"/";
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(fail("making the mount namespace private"));
        }
        let (src, dst, fstype) = (c"tracefs", c"/sys/kernel/tracing", c"tracefs");
        if libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            return Err(fail("mounting tracefs"));
        }
    }
    if !tracepoints_visible() {
        return Err(Fatal::setup(
            "this kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS): containerdsnoop needs them",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_rules() {
        assert!(privileged(1 << CAP_SYS_ADMIN));
        assert!(privileged((1 << CAP_BPF) | (1 << CAP_PERFMON)));
        assert!(!privileged(1 << CAP_BPF));
        assert!(!privileged(0));
    }
}
