//! A private dockerd (Debian's docker.io 20.10) on top of a private [`Containerd`].
//!
//! What it needs and leaves on the host, as found on Debian 12 (kernel without AppArmor):
//! - no iptables or ip6tables run (`--iptables=false --ip6tables=false`), no docker0 bridge
//!   (`--bridge=none`), no docker-proxy (`--userland-proxy=false`); at start it runs only
//!   `runc --version` and `docker-init --version`. Where the kernel has AppArmor enabled,
//!   dockerd loads its `docker-default` profile with `apparmor_parser` (package apparmor).
//! - its trust key goes to `/etc/docker/key.json` unless daemon.json's `deprecated-key-path`
//!   says otherwise (20.10 has no flag for it), and host-wide `/etc/docker/daemon.json` is read
//!   unless `--config-file` names another: both are pointed into the temp dir.
//! - host-global and not configurable: it creates `/run/docker/plugins` (plugin discovery);
//!   containers' cgroups are `/docker/<id>` (cgroupfs driver); the shims' sockets are under
//!   `/run/containerd/s` (see the module docs of `common`). runc's state is in the exec root
//!   (`runtime-runc/moby`), so in the temp dir.
//! - it bind-mounts its data root onto itself (to make it a shared mount) and unmounts it on a
//!   clean exit; [`Dockerd`]'s drop unmounts whatever a killed dockerd left under its temp dir.
//!
//! It keeps two long-lived gRPC connections to containerd: one for its containers (namespace
//! `moby`) and one for managed plugins (namespace `plugins.moby`).

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{describe_output, run_bounded, run_timed, short_tempdir, Containerd, COMMAND};

/// Debian's dockerd (package docker.io).
const DOCKERD: &str = "/usr/sbin/dockerd";
/// Debian's docker client, named by path: a newer client may come first on PATH (this machine
/// has docker 28's in /usr/local/bin).
const DOCKER: &str = "/usr/bin/docker";
/// dockerd answers `docker version` 0.4 to 1.3 s after its start here.
const DOCKERD_START: Duration = Duration::from_secs(60);
/// One `docker version` probe while dockerd starts.
const PROBE: Duration = Duration::from_secs(10);
/// On SIGTERM dockerd stops its running containers (10 s each before SIGKILL: a test's
/// `sleep` as pid 1 ignores SIGTERM) and exits within 2 s when none runs.
const DOCKERD_STOP: Duration = Duration::from_secs(30);
/// How often the start and stop waits re-check.
const POLL: Duration = Duration::from_millis(50);
/// Storage drivers tried in order: overlay2 does not work when the temp dir is itself on
/// overlayfs (dockerd in a container); vfs works anywhere (copies each layer in full).
const STORAGE_DRIVERS: [&str; 2] = ["overlay2", "vfs"];
/// How many lines of dockerd's log a failure shows.
const LOG_TAIL: usize = 40;

/// A private dockerd: data root, exec root, pid file, API socket, configs and log in `dir`,
/// its containers run by the given containerd in namespace [`Dockerd::NAMESPACE`].
///
/// It has no network (`--bridge=none`) and cannot pull; load images with
/// `docker load` (see [`super::busybox_docker_archive`]). Drop it before its containerd (declare
/// it after): its drop stops it with SIGTERM, so that it stops its containers (SIGKILL after a
/// bounded wait, for it and any child left in its process group), and unmounts what it left
/// mounted under `dir`. A container still running when dockerd is killed outlives it, and its
/// runc state (`exec/runtime-runc/moby`) goes with the temp dir: remove containers in the test.
pub struct Dockerd {
    /// Holds everything dockerd writes.
    pub dir: tempfile::TempDir,
    /// The Docker API socket.
    pub sock: PathBuf,
    /// The storage driver that worked (overlay2, else vfs).
    pub storage_driver: &'static str,
    child: Child,
    reaped: Option<ExitStatus>,
}

impl Dockerd {
    /// The containerd namespace that dockerd puts its containers in (its plugins go to
    /// `plugins.moby`).
    pub const NAMESPACE: &'static str = "moby";

    /// Starts dockerd against `containerd`'s gRPC socket and waits until `docker version`
    /// answers. Tries overlay2, then vfs when dockerd rejects overlay2; panics with the log's
    /// tail if dockerd fails otherwise or does not answer in time.
    pub fn start(containerd: &Containerd) -> Dockerd {
        let mut rejected = String::new();
        for driver in STORAGE_DRIVERS {
            match Dockerd::launch(containerd, driver) {
                Ok(dockerd) => return dockerd,
                Err(tail) if mentions_storage(&tail) => {
                    rejected.push_str(&format!("--- storage driver {driver}:\n{tail}\n"));
                }
                Err(tail) => panic!("dockerd exited during start; log tail:\n{tail}"),
            }
        }
        panic!("dockerd accepted none of the storage drivers {STORAGE_DRIVERS:?}:\n{rejected}");
    }

    /// One start with `driver`: Err(log tail) if dockerd exits before it answers.
    fn launch(containerd: &Containerd, driver: &'static str) -> Result<Dockerd, String> {
        let dir = short_tempdir("dkd");
        let d = dir.path();
        let sock = d.join("docker.sock");
        let config = d.join("daemon.json");
        let daemon_json = serde_json::json!({
            "deprecated-key-path": d.join("key.json"),
        });
        fs::write(&config, daemon_json.to_string()).expect("cannot write daemon.json");
        let log = fs::File::create(d.join("dockerd.log")).expect("cannot create dockerd log");

        let mut cmd = Command::new(DOCKERD);
        cmd.arg(format!("--config-file={}", config.display()))
            .arg(format!("--containerd={}", containerd.sock.display()))
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--exec-root={}", d.join("exec").display()))
            .arg(format!("--pidfile={}", d.join("docker.pid").display()))
            .arg(format!("--host=unix://{}", sock.display()))
            .arg(format!("--storage-driver={driver}"))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--userland-proxy=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cannot duplicate log file"))
            .stderr(log)
            // Its own process group, so that the drop can kill whatever it started.
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {DOCKERD} (apt-get install docker.io): {e}"));
        let mut dockerd = Dockerd {
            dir,
            sock,
            storage_driver: driver,
            child,
            reaped: None,
        };
        if dockerd.wait_ready() {
            Ok(dockerd)
        } else {
            Err(dockerd.log_tail())
        }
    }

    /// True once `docker version` answers, false if dockerd exited; panics at the deadline.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + DOCKERD_START;
        loop {
            if self.has_exited() {
                return false;
            }
            // The socket accepts connections before the API serves; `docker version` then
            // waits, so it is the probe, bounded.
            if UnixStream::connect(&self.sock).is_ok() {
                let left = deadline.saturating_duration_since(Instant::now());
                let mut cmd = self.docker_command(&["version"]);
                if let Ok(out) = run_timed(&mut cmd, "docker version", left.min(PROBE)) {
                    if out.status.success() {
                        return true;
                    }
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "dockerd did not answer `docker version` within {DOCKERD_START:?}; log {} \
                     tail:\n{}",
                    self.log_path().display(),
                    self.log_tail()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// The process id of dockerd.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `-H` value for a docker client: `unix://SOCK`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// Path of dockerd's log (its stdout and stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("dockerd.log")
    }

    /// The last lines of dockerd's log.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_else(|e| format!("(no log: {e})"));
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
    }

    /// Runs Debian's `docker -H unix://SOCK ARGS...`; panics with its output and dockerd's log
    /// tail unless it succeeds.
    pub fn docker(&self, args: &[&str]) -> Output {
        let output = self.try_docker(args);
        if !output.status.success() {
            panic!(
                "docker {} failed ({})\n{}\ndockerd log tail:\n{}",
                args.join(" "),
                output.status,
                describe_output(&output),
                self.log_tail()
            );
        }
        output
    }

    /// Like [`Dockerd::docker`], returning stdout as text.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.docker(args).stdout).into_owned()
    }

    /// Runs `docker -H unix://SOCK ARGS...` and returns its output whatever the exit status.
    /// Still panics if docker cannot start or hangs.
    pub fn try_docker(&self, args: &[&str]) -> Output {
        let mut cmd = self.docker_command(args);
        run_bounded(&mut cmd, &format!("docker {}", args.join(" ")), COMMAND)
    }

    /// The client with this daemon's socket and a private client config: nothing from the
    /// environment or `~/.docker` picks another daemon or context.
    fn docker_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.env("DOCKER_CONFIG", self.dir.path().join("client"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .arg("-H")
            .arg(self.host())
            .args(args);
        cmd
    }

    /// Whether dockerd has exited, without reaping it: while it is a zombie its pid, and so
    /// its process group id, cannot be reused, and the drop may still signal the group.
    fn has_exited(&self) -> bool {
        if self.reaped.is_some() {
            return true;
        }
        let pid = libc::id_t::from(self.child.id());
        // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only into `info`; WNOWAIT leaves the child unreaped.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        assert_eq!(
            rc,
            0,
            "cannot poll dockerd: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: waitid succeeded, so `info` is initialised; si_pid is 0 if nothing exited.
        unsafe { info.si_pid() != 0 }
    }

    /// Waits (bounded) for dockerd to exit, without reaping it.
    fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.has_exited() {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(POLL);
        }
        true
    }

    /// SIGTERM, SIGKILL to the whole process group if dockerd has not exited in time, and
    /// SIGKILL to whatever is left in its group; then reaps it.
    fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.reaped {
            return Some(status);
        }
        let pgid = libc::pid_t::try_from(self.child.id()).expect("pid out of range");
        if !self.has_exited() {
            // SAFETY: kill has no memory-safety preconditions; dockerd is our unreaped child.
            unsafe { libc::kill(pgid, libc::SIGTERM) };
            if !self.wait_exit(DOCKERD_STOP) {
                eprintln!("dockerd ignored SIGTERM for {DOCKERD_STOP:?}; killing it");
            }
        }
        // SAFETY: as above; the group's id is dockerd's pid, held while dockerd is unreaped.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let status = self.child.wait().ok();
        self.reaped = status;
        status
    }

    /// Unmounts everything mounted under the temp dir, deepest first (what a killed dockerd
    /// leaves: its data root's bind mount, overlay mounts of running containers).
    fn unmount_all(&self) {
        unmount_under(self.dir.path());
    }
}

/// Unmounts everything mounted under `dir`, deepest first.
pub(super) fn unmount_under(dir: &std::path::Path) {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let c = CString::new(point.as_os_str().as_bytes()).expect("no NUL in a mount point");
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            eprintln!(
                "cannot unmount {}: {}",
                point.display(),
                std::io::Error::last_os_error()
            );
        }
    }
}

impl Drop for Dockerd {
    /// Stops dockerd and unmounts its leftovers; the temp dir goes after (fields drop last).
    /// When the test is failing, the log's tail is printed for the post-mortem.
    fn drop(&mut self) {
        let status = self.stop();
        self.unmount_all();
        if thread::panicking() {
            eprintln!(
                "dockerd ({}) exit: {status:?}; log {} tail:\n{}",
                self.sock.display(),
                self.log_path().display(),
                self.log_tail()
            );
        }
    }
}

/// Whether a failed start's log blames the storage driver.
fn mentions_storage(log: &str) -> bool {
    log.contains("graphdriver") || log.contains("storage-driver") || log.contains("storage driver")
}

/// Mount points in mountinfo escape space, tab, newline and backslash as `\ooo` (proc(5)).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
