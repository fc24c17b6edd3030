//! Checks before loading BPF, so that a missing privilege or kernel feature
//! is one clear sentence instead of a libbpf error, and the choice of hook
//! (probed the way libbpf-tools do: BTF for tracepoints, test loads for
//! helpers and map types).

use std::ffi::CString;
use std::fs;
use std::path::Path;

use libbpf_rs::libbpf_sys;

use crate::error::Fatal;

/// The hook the programs are attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// tp_btf/sock_send_length and tp_btf/sock_recv_length.
    Sock,
    /// sys_enter/sys_exit tracepoints of the send calls, and sys_enter_close.
    Syscalls,
}

impl Hook {
    /// How the "attached" line names it.
    pub fn describe(self) -> &'static str {
        match self {
            Hook::Sock => "tp_btf/sock_send_length",
            Hook::Syscalls => "syscall tracepoints",
        }
    }
}

/// Whether the running kernel's BTF has a typedef named `name` (every
/// tracepoint `tp` has one named `btf_trace_<tp>`, which tp_btf attaches by).
fn vmlinux_has_typedef(name: &str) -> bool {
    let Ok(name) = CString::new(name) else {
        return false;
    };
    // SAFETY: btf__load_vmlinux_btf returns an owned BTF object or NULL
    // (errors as a NULL pointer in libbpf 1.x); it is freed once, below.
    let btf = unsafe { libbpf_sys::btf__load_vmlinux_btf() };
    if btf.is_null() {
        return false;
    }
    // SAFETY: btf is a valid BTF object and name a NUL-terminated string.
    let id = unsafe {
        libbpf_sys::btf__find_by_name_kind(btf, name.as_ptr(), libbpf_sys::BTF_KIND_TYPEDEF)
    };
    // SAFETY: btf came from btf__load_vmlinux_btf and is not used after this.
    unsafe { libbpf_sys::btf__free(btf) };
    id > 0
}

/// Whether the kernel has the sock_send_length and sock_recv_length tracepoints (6.3+).
pub fn has_sock_tracepoints() -> bool {
    vmlinux_has_typedef("btf_trace_sock_send_length")
        && vmlinux_has_typedef("btf_trace_sock_recv_length")
}

/// libbpf's probe: 1 when the kernel supports it, 0 when not, negative when unknown.
fn probe_map(kind: libbpf_sys::bpf_map_type) -> i32 {
    // SAFETY: a test load with no options (NULL is allowed).
    unsafe { libbpf_sys::libbpf_probe_bpf_map_type(kind, std::ptr::null()) }
}

fn probe_helper(helper: libbpf_sys::bpf_func_id) -> i32 {
    // SAFETY: a test load with no options (NULL is allowed).
    unsafe {
        libbpf_sys::libbpf_probe_bpf_helper(
            libbpf_sys::BPF_PROG_TYPE_TRACEPOINT,
            helper,
            std::ptr::null(),
        )
    }
}

/// `Seccomp:` of /proc/self/status: 0 none, 1 strict, 2 a filter (proc(5)).
fn seccomp_mode(status: &str) -> Option<u32> {
    let mode = status.lines().find_map(|l| l.strip_prefix("Seccomp:"))?;
    mode.trim().parse().ok()
}

/// Whether bpf(2) itself is refused by a seccomp filter: the default profiles
/// of container runtimes (podman's, containerd's) answer EPERM to it unless
/// CAP_SYS_ADMIN is granted, which the feature probes would take for a kernel
/// without the feature.
fn bpf_refused_by_seccomp() -> bool {
    // SAFETY: creates a one-element array map with no options (NULL is
    // allowed); its descriptor is closed at once.
    let fd = unsafe {
        libbpf_sys::bpf_map_create(
            libbpf_sys::BPF_MAP_TYPE_ARRAY,
            std::ptr::null(),
            4,
            4,
            1,
            std::ptr::null(),
        )
    };
    if fd >= 0 {
        // SAFETY: fd is the descriptor just returned, closed once.
        unsafe { libc::close(fd) };
        return false;
    }
    // libbpf returns -errno.
    fd == -libc::EPERM
        && fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| seccomp_mode(&s))
            == Some(2)
}

/// The kernel features both hooks need, each missing one as its own sentence.
fn check_features() -> Result<(), Fatal> {
    if bpf_refused_by_seccomp() {
        return Err(Fatal::setup(
            "the bpf system call is refused (EPERM) by this process's seccomp filter: container \
             runtimes' default profiles refuse bpf and perf_event_open without CAP_SYS_ADMIN; run \
             the container with seccomp unconfined (Kubernetes: securityContext.seccompProfile.type \
             Unconfined, as deploy/kubernetes/02-daemonset.yaml does; podman or docker: \
             --security-opt seccomp=unconfined)",
        ));
    }
    if probe_map(libbpf_sys::BPF_MAP_TYPE_RINGBUF) == 0 {
        return Err(Fatal::setup(
            "this kernel has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8+): containerdsnoop \
             needs Linux 5.17 or later",
        ));
    }
    if probe_helper(libbpf_sys::BPF_FUNC_loop) == 0 {
        return Err(Fatal::setup(
            "this kernel has no bpf_loop helper (Linux 5.17+), which containerdsnoop's copy loop \
             needs: it needs Linux 5.17 or later",
        ));
    }
    Ok(())
}

/// Choose the hook asked for (`None`: the best this kernel has).
fn choose(choice: Option<Hook>, sock_available: bool) -> Result<Hook, Fatal> {
    match (choice, sock_available) {
        (Some(Hook::Sock), false) => Err(Fatal::setup(
            "--hook sock needs the sock_send_length and sock_recv_length tracepoints (Linux 6.3+), \
             which this kernel's BTF does not have: use --hook syscalls (or leave --hook out)",
        )),
        (Some(Hook::Sock) | None, true) => Ok(Hook::Sock),
        (Some(Hook::Syscalls), _) | (None, false) => Ok(Hook::Syscalls),
    }
}

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
/// lockdown, kernel features, and tracefs for the syscall hook. Returns the
/// hook to use (`choice`, or the best this kernel has when `None`), or the
/// first problem as a Fatal (exit code 2).
pub fn check(choice: Option<Hook>) -> Result<Hook, Fatal> {
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
    check_features()?;
    let hook = choose(choice, has_sock_tracepoints())?;
    // tp_btf attaches by BTF id: only the syscall tracepoints need tracefs.
    if hook == Hook::Syscalls {
        ensure_tracefs()?;
    }
    Ok(hook)
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
mod tests;
