//! Helpers shared by the integration tests (`mod common;`): real peers from Debian's packages
//! (containerd, ctr, runc, busybox-static, tshark, dockerd, python3-grpcio), started and stopped
//! by the tests themselves.
//!
//! Everything here is bounded in time: each wait polls with a deadline and panics with the
//! evidence (child output, containerd log) instead of hanging the test run.
//!
//! Host-global state to keep in mind: even with a private root, state and socket, containerd
//! 1.6 and its runc shim use fixed paths under `/run/containerd` (`s/` for shim sockets,
//! `runc/<namespace>` for runc state, `fifo/` for ctr's stdio). Shim sockets are keyed by the
//! containerd address, but runc state and cgroups (`/<namespace>/<id>`) are not, so concurrent
//! tests must use distinct namespaces or container ids.

// Each integration test compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod chromium;
mod cri;
pub mod daemonset;
mod dockerd;
pub mod http;
mod image;
pub mod kubelet;
pub mod otel;
mod podman;
pub mod podman_image;
mod ports;
pub mod report;

// Re-exports are "unused imports" in the tests that use none of them.
#[allow(unused_imports)]
pub use cri::{CriClient, CriResult};
#[allow(unused_imports)]
pub use dockerd::Dockerd;
#[allow(unused_imports)]
pub use image::{busybox_docker_archive, DOCKER_IMAGE};
#[allow(unused_imports)]
pub use podman::Podman;
#[allow(unused_imports)]
pub use ports::with_port;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How often waits re-check their condition.
const POLL: Duration = Duration::from_millis(10);
/// containerd boots in about 0.1 s here; the margin is for loaded CI machines.
const CONTAINERD_START: Duration = Duration::from_secs(20);
/// containerd exits within milliseconds of SIGTERM when no task is running.
const CONTAINERD_STOP: Duration = Duration::from_secs(10);
/// Any single ctr, tshark or script invocation.
const COMMAND: Duration = Duration::from_secs(60);
/// Loading and attaching the BPF programs (verifier included).
const RECORDER_ATTACH: Duration = Duration::from_secs(30);
/// Draining the ring buffer and finishing the pcapng file after SIGINT.
const RECORDER_STOP: Duration = Duration::from_secs(15);
/// `sun_path` is 108 bytes including the terminating NUL (unix(7)).
const SUN_PATH_MAX: usize = 107;

/// The containerdsnoop binary built by cargo for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_containerdsnoop"))
}

/// Fails the test unless it runs as root. Tests that need root are marked
/// `#[ignore = "needs root..."]`, so a plain `cargo test` lists them as
/// ignored; `scripts/test.sh` (and CI) runs them with `--include-ignored`,
/// where a missing privilege is a failure, never a skip.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "this test needs root (BPF, containerd, runc): run it with sudo, or leave out \
             --include-ignored"
        );
    }
}

/// Fails the test unless `path` exists. Tests that read Debian's binaries are marked
/// `#[ignore = "needs ..."]`, like the root tests, and run by `scripts/test.sh`.
pub fn require_file(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: apt-get install {package} (scripts/install-deps.sh does), or leave \
         out --include-ignored"
    );
}

/// A temporary directory with a short path, so that socket paths inside it fit in `sun_path`
/// whatever `TMPDIR` says. With `KEEP_TEST_DIRS` set it stays (its path on stderr): the
/// captures, traces and logs of a failed run, for the post-mortem.
pub fn short_tempdir(prefix: &str) -> tempfile::TempDir {
    let mut dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("cannot create a temporary directory in /tmp");
    if std::env::var_os("KEEP_TEST_DIRS").is_some() {
        eprintln!("keeping {}", dir.path().display());
        dir.disable_cleanup(true);
    }
    dir
}

/// A private containerd: config, root, state, sockets and log all live in `dir`.
///
/// [`Containerd::start`] disables the CRI plugin: with it enabled containerd logs a CNI error at
/// start and opens a TCP streaming port on 127.0.0.1. [`Containerd::start_with_cri`] enables it
/// for CRI clients ([`CriClient`]), its CNI directories moved into `dir` (by default it creates
/// and watches `/etc/cni/net.d`); no CNI plugin is installed, so pods cannot start, but the
/// calls that need no network (Version, Status, List*, *Status) work. Snapshotters that cannot
/// work here (aufs, btrfs, devmapper, zfs) are disabled so the log holds no noise; overlayfs
/// (the default) and native remain.
pub struct Containerd {
    pub dir: tempfile::TempDir,
    /// The gRPC socket, for `ctr -a`.
    pub sock: PathBuf,
    /// The ttrpc socket that shims send events to.
    pub ttrpc_sock: PathBuf,
    child: Child,
}

impl Containerd {
    /// Starts containerd without its CRI plugin and waits until both of its sockets accept
    /// connections.
    pub fn start() -> Containerd {
        Containerd::launch(false)
    }

    /// Like [`Containerd::start`], with the CRI plugin (`runtime.v1` and `runtime.v1alpha2` on
    /// the gRPC socket) enabled.
    pub fn start_with_cri() -> Containerd {
        Containerd::launch(true)
    }

    /// Like [`Containerd::start_with_cri`], running the executable at `binary`
    /// (a modified copy of Debian's) instead of `containerd` from PATH.
    pub fn start_binary_with_cri(binary: &Path) -> Containerd {
        Containerd::launch_from(binary.as_os_str(), true)
    }

    fn launch(cri: bool) -> Containerd {
        Containerd::launch_from("containerd".as_ref(), cri)
    }

    fn launch_from(binary: &OsStr, cri: bool) -> Containerd {
        let dir = short_tempdir("ctd");
        let sock = dir.path().join("containerd.sock");
        let ttrpc_sock = dir.path().join("containerd.sock.ttrpc");
        assert!(
            ttrpc_sock.as_os_str().len() <= SUN_PATH_MAX,
            "socket path {} is too long for a unix socket",
            ttrpc_sock.display()
        );
        let config = dir.path().join("config.toml");
        fs::write(&config, config_toml(dir.path(), &sock, &ttrpc_sock, cri))
            .expect("cannot write containerd config");

        let log_path = dir.path().join("containerd.log");
        let log = File::create(&log_path).expect("cannot create containerd log");
        let child = Command::new(binary)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cannot duplicate log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run containerd (apt-get install containerd): {e}"));
        let mut containerd = Containerd {
            dir,
            sock,
            ttrpc_sock,
            child,
        };
        containerd.wait_ready();
        containerd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + CONTAINERD_START;
        loop {
            if let Some(status) = self.child.try_wait().expect("cannot poll containerd") {
                panic!(
                    "containerd exited during start ({status}); log:\n{}",
                    self.log()
                );
            }
            if UnixStream::connect(&self.sock).is_ok()
                && UnixStream::connect(&self.ttrpc_sock).is_ok()
            {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "containerd did not listen on {} within {CONTAINERD_START:?}; log:\n{}",
                    self.sock.display(),
                    self.log()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// The process id of containerd.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Path of containerd's log (level debug: it records every event forwarded by shims).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("containerd.log")
    }

    /// The whole containerd log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Runs `ctr -a SOCK ARGS...`; panics with its output and containerd's log unless it
    /// succeeds.
    pub fn ctr(&self, args: &[&str]) -> Output {
        let output = self.try_ctr(args);
        if !output.status.success() {
            panic!(
                "ctr {} failed ({})\n{}\ncontainerd log:\n{}",
                args.join(" "),
                output.status,
                describe_output(&output),
                self.log()
            );
        }
        output
    }

    /// Like [`Containerd::ctr`], returning stdout as text.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.ctr(args).stdout).into_owned()
    }

    /// Runs `ctr -a SOCK ARGS...` and returns its output whatever the exit status (for tests
    /// that expect an error). Still panics if ctr cannot start or hangs.
    pub fn try_ctr(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("ctr");
        cmd.arg("-a").arg(&self.sock).args(args);
        run_bounded(&mut cmd, &format!("ctr {}", args.join(" ")), COMMAND)
    }

    fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        signal(&self.child, libc::SIGTERM);
        if let Some(status) = wait_deadline(&mut self.child, CONTAINERD_STOP) {
            return Some(status);
        }
        eprintln!("containerd ignored SIGTERM for {CONTAINERD_STOP:?}; killing it");
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Containerd {
    /// SIGTERM, then SIGKILL after a bounded wait; the temp dir goes after (fields drop last).
    /// When the test is failing, the containerd log is printed for the post-mortem.
    fn drop(&mut self) {
        let status = self.stop();
        if thread::panicking() {
            eprintln!(
                "containerd ({}) exit: {status:?}; log {}:\n{}",
                self.sock.display(),
                self.log_path().display(),
                self.log()
            );
        }
    }
}

/// containerd 1.6 config: everything under `dir`, plus the disabled plugins documented on
/// [`Containerd`]. The CRI plugin keeps its state under containerd's root and state.
fn config_toml(dir: &Path, sock: &Path, ttrpc_sock: &Path, cri: bool) -> String {
    let s = |p: &Path| toml_string(&p.to_string_lossy());
    let cri_config = if cri {
        format!(
            r#"
[plugins."io.containerd.grpc.v1.cri"]
  # runc fails to start a container without it here ("can't get final
  # child's PID from pipe: EOF"), and there is no AppArmor.
  restrict_oom_score_adj = true
  disable_apparmor = true
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = {cni_bin}
  conf_dir = {cni_conf}
"#,
            cni_bin = s(&dir.join("cni/bin")),
            cni_conf = s(&dir.join("cni/net.d")),
        )
    } else {
        String::new()
    };
    format!(
        r#"version = 2
root = {root}
state = {state}
disabled_plugins = [{no_cri}
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = {sock}

[ttrpc]
  address = {ttrpc}

[debug]
  level = "debug"

# Defaults to /opt/containerd on the host.
[plugins."io.containerd.internal.v1.opt"]
  path = {opt}
{cri_config}"#,
        no_cri = if cri {
            ""
        } else {
            "\n  \"io.containerd.grpc.v1.cri\","
        },
        root = s(&dir.join("root")),
        state = s(&dir.join("state")),
        sock = s(sock),
        ttrpc = s(ttrpc_sock),
        opt = s(&dir.join("opt")),
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Builds the busybox OCI image tarball (`docker.io/library/busybox:snoop`) in `dir` with
/// `scripts/make-busybox-oci.sh` and returns its path.
pub fn busybox_oci(dir: &Path) -> PathBuf {
    make_busybox(dir.join("busybox-oci.tar"), None)
}

/// A pod sandbox's pause image: busybox whose command is `/bin/sleep 3600`,
/// named as containerd 1.6's CRI plugin expects (`registry.k8s.io/pause:3.6`).
pub fn pause_oci(dir: &Path) -> PathBuf {
    make_busybox(dir.join("pause-oci.tar"), Some("registry.k8s.io/pause:3.6"))
}

fn make_busybox(out: PathBuf, pause_ref: Option<&str>) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-busybox-oci.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg(&out);
    if let Some(r) = pause_ref {
        cmd.arg(r).env("SLEEP", "1");
    }
    let output = run_bounded(&mut cmd, "make-busybox-oci.sh", COMMAND);
    if !output.status.success() {
        panic!(
            "{} failed ({})\n{}",
            script.display(),
            output.status,
            describe_output(&output)
        );
    }
    out
}

/// `--socket` arguments for everything `cd` and its shims speak on: its
/// gRPC socket, its ttrpc socket (shims' events) and the shims' own.
pub fn runtime_sockets(cd: &Containerd) -> Vec<String> {
    vec![
        "--socket".into(),
        cd.sock.display().to_string(),
        "--socket".into(),
        cd.ttrpc_sock.display().to_string(),
        "--socket".into(),
        "/run/containerd/s/*".into(),
    ]
}

/// `containerdsnoop decode ARGS... FILE`'s standard output; panics with its
/// standard error when it fails, or when the output is not UTF-8.
pub fn decode_ok(file: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("decode")
        .args(args)
        .arg(file)
        .output()
        .expect("run decode");
    assert!(
        out.status.success(),
        "decode {args:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("decode prints UTF-8")
}

/// The frames of the synthetic stream that carries recovered HPACK tables
/// (2^31-1) in `pcap`: `fields`, `|`-separated, one line per frame.
pub fn synthetic_stream_fields(pcap: &str, fields: &[&str]) -> String {
    let mut args = vec![
        "-r",
        pcap,
        "-Y",
        "http2.streamid == 2147483647",
        "-T",
        "fields",
        "-E",
        "separator=|",
    ];
    for f in fields {
        args.extend(["-e", f]);
    }
    tshark(args)
}

/// Runs tshark with a fresh, empty configuration (no user preferences can change what it
/// shows) and returns its stdout. Panics with stderr on failure; the warning tshark prints
/// about running as root is expected and ignored.
pub fn tshark<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let config = tempfile::tempdir().expect("cannot create a temporary directory");
    let mut cmd = Command::new("tshark");
    cmd.args(args)
        .env("WIRESHARK_CONFIG_DIR", config.path())
        .env("HOME", config.path())
        .env_remove("XDG_CONFIG_HOME");
    let output = run_bounded(&mut cmd, "tshark", COMMAND);
    if !output.status.success() {
        panic!(
            "tshark failed ({})\n{}",
            output.status,
            describe_output(&output)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A running `containerdsnoop record -o FILE ARGS...`, its stdout and stderr kept in files next
/// to FILE (`FILE.stdout`, `FILE.stderr`). Dropping it without [`Recorder::stop`] kills it.
pub struct Recorder {
    child: Option<Child>,
    /// The pcapng file being written.
    pub out: PathBuf,
    stderr_path: PathBuf,
}

impl Recorder {
    /// Starts the recorder and waits until its stderr has a line containing "attached".
    pub fn start(out: &Path, args: &[&str]) -> Recorder {
        let mut full = vec!["record", "-o", out.to_str().expect("UTF-8 path")];
        full.extend_from_slice(args);
        Recorder::start_command(out, &full)
    }

    /// Starts `containerdsnoop ARGS...` (any live subcommand, e.g. `trace --json`), with
    /// stdout and stderr kept in `BASE.stdout` and `BASE.stderr`, and waits until it attached.
    pub fn start_command(out: &Path, args: &[&str]) -> Recorder {
        let sibling = |ext: &str| {
            let mut name = out
                .file_name()
                .expect("output path has no file name")
                .to_owned();
            name.push(ext);
            out.with_file_name(name)
        };
        let stderr_path = sibling(".stderr");
        let stdout = File::create(sibling(".stdout")).expect("cannot create recorder stdout file");
        let stderr = File::create(&stderr_path).expect("cannot create recorder stderr file");
        let child = Command::new(bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin().display()));
        let mut recorder = Recorder {
            child: Some(child),
            out: out.to_path_buf(),
            stderr_path,
        };
        recorder.wait_attached();
        recorder
    }

    fn wait_attached(&mut self) {
        let deadline = Instant::now() + RECORDER_ATTACH;
        loop {
            let stderr = self.stderr_text();
            if stderr.lines().any(|l| l.contains("attached")) {
                return;
            }
            let child = self.child.as_mut().expect("recorder already stopped");
            if let Some(status) = child.try_wait().expect("cannot poll the recorder") {
                panic!(
                    "containerdsnoop record exited before attaching ({status}); stderr:\n{stderr}"
                );
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "containerdsnoop record did not say \"attached\" within {RECORDER_ATTACH:?}; \
                     stderr:\n{}",
                    self.stderr_text()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// The process id of the recorder.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("recorder already stopped").id()
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout_text(&self) -> String {
        let mut name = self.out.file_name().expect("file name").to_owned();
        name.push(".stdout");
        fs::read_to_string(self.out.with_file_name(name)).unwrap_or_default()
    }

    /// Everything the recorder wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends SIGINT and waits (bounded) for the recorder to finish; returns its exit status and
    /// stderr. Panics with stderr if it does not exit in time.
    pub fn stop(self) -> (ExitStatus, String) {
        self.stop_with(libc::SIGINT)
    }

    /// Like [`Recorder::stop`], with signal `sig` (SIGTERM: as Kubernetes stops a pod).
    pub fn stop_with(mut self, sig: libc::c_int) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("recorder already stopped");
        signal(&child, sig);
        match wait_deadline(&mut child, RECORDER_STOP) {
            Some(status) => (status, self.stderr_text()),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "containerdsnoop record did not exit within {RECORDER_STOP:?} of signal {sig}; \
                     stderr:\n{}",
                    self.stderr_text()
                );
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if thread::panicking() {
                eprintln!("containerdsnoop record stderr:\n{}", self.stderr_text());
            }
        }
    }
}

/// Sends `sig` to a child that has not been reaped yet (so its pid cannot have been reused).
fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid out of range");
    // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
    unsafe { libc::kill(pid, sig) };
}

/// Waits for `child` to exit, at most `timeout`.
fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(None) => return None,
            Err(e) => panic!("cannot wait for child {}: {e}", child.id()),
        }
    }
}

/// Runs a command to completion with stdout and stderr captured, killing it and panicking with
/// what it printed if it takes longer than `timeout`.
pub fn run_bounded(cmd: &mut Command, what: &str, timeout: Duration) -> Output {
    run_timed(cmd, what, timeout).unwrap_or_else(|output| {
        panic!(
            "{what} did not finish within {timeout:?}\n{}",
            describe_output(&output)
        )
    })
}

/// Like [`run_bounded`], returning what the command printed as an error if it took longer than
/// `timeout` (and was killed).
fn run_timed(cmd: &mut Command, what: &str, timeout: Duration) -> Result<Output, Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let finished = wait_deadline(&mut child, timeout);
    let status = match finished {
        Some(status) => status,
        None => {
            let _ = child.kill();
            child
                .wait()
                .unwrap_or_else(|e| panic!("cannot reap {what}: {e}"))
        }
    };
    // A grandchild may still hold the pipes open; do not wait for it forever.
    let collect =
        |rx: mpsc::Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    let output = Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    };
    match finished {
        Some(_) => Ok(output),
        None => Err(output),
    }
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

fn describe_output(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The gRPC messages tshark finds in a capture: (TCP stream, to the server
/// (port 80)?, message length) -> count.
pub fn grpc_census(pcap: &str) -> std::collections::BTreeMap<(u64, bool, u64), u32> {
    let rows = tshark([
        "-r",
        pcap,
        "-Y",
        "grpc",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.dstport",
        "-e",
        "grpc.message_length",
    ]);
    let mut c = std::collections::BTreeMap::new();
    for line in rows.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let stream: u64 = f[0].parse().expect("tcp.stream is a number");
        let request = f[1] == "80";
        for len in f[2].split(',').filter(|s| !s.is_empty()) {
            let len: u64 = len.parse().expect("grpc.message_length is a number");
            *c.entry((stream, request, len)).or_default() += 1;
        }
    }
    c
}

/// What tshark's HTTP/2 dissector shows of each call, frame by frame (a
/// packet often holds frames of several streams, so per-packet field lists
/// cannot say which header belongs to which stream): the request path of
/// each (TCP stream, HTTP/2 stream), and which of them had a `:status 200`.
pub struct Http2Calls {
    /// (tcp.stream, http2.streamid) -> :path.
    pub paths: std::collections::HashMap<(u64, u32), String>,
    /// (tcp.stream, http2.streamid) that received `:status 200`.
    pub answered: std::collections::HashSet<(u64, u32)>,
}

/// The `show` attribute of a PDML field line whose name is `name`.
fn pdml_show<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.split_once(&format!("<field name=\"{name}\""))?.1;
    let value = rest.split_once(" show=\"")?.1;
    value.split_once('"').map(|(v, _)| v)
}

/// Reads a capture's HTTP/2 frames through tshark's PDML output, where the
/// fields come in dissection order: a header follows its frame's stream id.
pub fn http2_calls(pcap: &str) -> Http2Calls {
    let pdml = tshark(["-r", pcap, "-Y", "http2", "-T", "pdml"]);
    let mut calls = Http2Calls {
        paths: Default::default(),
        answered: Default::default(),
    };
    let (mut tcp, mut stream) = (u64::MAX, u32::MAX);
    for line in pdml.lines() {
        if let Some(v) = pdml_show(line, "tcp.stream") {
            tcp = v.parse().expect("tcp.stream is a number");
        } else if let Some(v) = pdml_show(line, "http2.streamid") {
            stream = v.parse().expect("http2.streamid is a number");
        } else if let Some(v) = pdml_show(line, "http2.headers.path") {
            calls.paths.insert((tcp, stream), v.to_string());
        } else if pdml_show(line, "http2.headers.status") == Some("200") {
            calls.answered.insert((tcp, stream));
        }
    }
    calls
}

/// tshark's options that load `contrib/wireshark/ttrpc.lua` and the
/// repository's schemas (absolute paths, as Wireshark's protobuf search
/// path needs them).
pub fn ttrpc_lua_args() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let search = |dir: &str| {
        format!(
            "uat:protobuf_search_paths:\"{}\",\"TRUE\"",
            root.join(dir).display()
        )
    };
    vec![
        "-X".into(),
        format!(
            "lua_script:{}",
            root.join("contrib/wireshark/ttrpc.lua").display()
        ),
        "-o".into(),
        search("proto"),
        "-o".into(),
        search("contrib/wireshark/wkt"),
        "-o".into(),
        "protobuf.preload_protos:TRUE".into(),
    ]
}

/// The ttrpc frames the Lua dissector finds: (method path, frame type 1
/// request / 2 response / 3 data) -> count. A frame whose request was not
/// seen has an empty path.
pub fn ttrpc_lua_census(pcap: &str) -> std::collections::BTreeMap<(String, u8), u32> {
    let mut args = ttrpc_lua_args();
    args.extend(
        [
            "-r",
            pcap,
            "-Y",
            "ttrpc",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "separator=|",
            "-e",
            "ttrpc.type",
            "-e",
            "ttrpc.method_path",
        ]
        .map(String::from),
    );
    let mut c = std::collections::BTreeMap::new();
    for line in tshark(args).lines() {
        let (types, paths) = line.split_once('|').expect("two fields");
        let paths: Vec<&str> = paths.split(',').collect();
        for (i, t) in types.split(',').enumerate() {
            let t: u8 = t.parse().expect("ttrpc.type is a number");
            let path = paths.get(i).copied().unwrap_or("").to_string();
            *c.entry((path, t)).or_default() += 1;
        }
    }
    c
}

/// What the Lua dissector and Wireshark flag in a capture: malformed
/// packets and expert infos of warning severity or worse, one line each.
pub fn ttrpc_lua_problems(pcap: &str) -> String {
    let mut args = ttrpc_lua_args();
    args.extend(
        [
            "-r",
            pcap,
            "-Y",
            "_ws.malformed || _ws.expert.severity >= warning",
        ]
        .map(String::from),
    );
    tshark(args)
}

/// The pids of the processes holding the client end of each connection to the listening unix
/// socket `sock`: one entry per connection and process holding it (a process with two
/// connections appears twice; a socket shared after fork gives one entry per holder), as
/// `ss -x` sees them: the server's end is named by the path, the client's end only by the
/// inode that the server's end gives as its peer.
pub fn connected_pids(sock: &Path) -> Vec<u32> {
    let mut cmd = Command::new("ss");
    cmd.args(["-x", "-p", "-H", "-n"]);
    let output = run_bounded(&mut cmd, "ss -xpHn", COMMAND);
    assert!(
        output.status.success(),
        "ss failed ({})\n{}",
        output.status,
        describe_output(&output)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    // Netid State Recv-Q Send-Q Local-Address Local-Port(inode) Peer-Address Peer-Port Process
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 8 && f[1] == "ESTAB")
        .collect();
    let path = sock.to_string_lossy();
    let client_inodes: Vec<&str> = rows.iter().filter(|f| f[4] == path).map(|f| f[7]).collect();
    let mut pids = Vec::new();
    for inode in client_inodes {
        let Some(row) = rows.iter().find(|f| f[4] == "*" && f[5] == inode) else {
            continue;
        };
        let users = row[8..].join(" ");
        pids.extend(
            users
                .split("pid=")
                .skip(1)
                .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .filter_map(|pid| pid.parse::<u32>().ok()),
        );
    }
    pids
}
