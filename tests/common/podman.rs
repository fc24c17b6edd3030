//! A private Podman API service (Debian's podman 4.3): `podman system service` with its
//! own root, run root, containers.conf and socket in a temp dir, driven by
//! `podman --remote --url unix://SOCK`.
//!
//! What it needs here: the cgroupfs manager and the file events backend (no systemd, no
//! journald); `podman run` fails with "error setting rlimit type 7: operation not permitted"
//! (RLIMIT_NOFILE) unless containers.conf sets `default_ulimits`, so the private
//! containers.conf does. No network: containers are created with `--network none`.

use std::fs;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::dockerd::unmount_under;
use super::{run_bounded, short_tempdir, COMMAND};

const PODMAN: &str = "/usr/bin/podman";
/// The service answers within a second here.
const START: Duration = Duration::from_secs(60);
const STOP: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

/// A running `podman system service`, stopped (its process group) and its mounts undone
/// on drop.
pub struct Podman {
    /// Root, run root, containers.conf, socket and log.
    pub dir: tempfile::TempDir,
    /// The API socket.
    pub sock: PathBuf,
    child: Child,
}

impl Podman {
    /// Starts the service and waits until `podman --remote version` answers.
    pub fn start() -> Podman {
        let dir = short_tempdir("pdm");
        let d = dir.path();
        let sock = d.join("podman.sock");
        let conf = d.join("containers.conf");
        fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
        )
        .expect("cannot write containers.conf");
        let log = fs::File::create(d.join("service.log")).expect("cannot create the log");
        let child = Command::new(PODMAN)
            .env("CONTAINERS_CONF", &conf)
            .args(Podman::globals(d))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", sock.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cannot duplicate the log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {PODMAN} (apt-get install podman): {e}"));
        let mut p = Podman { dir, sock, child };
        let deadline = Instant::now() + START;
        loop {
            if UnixStream::connect(&p.sock).is_ok() && p.try_podman(&["version"]).status.success() {
                return p;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("podman system service exited ({status}): {}", p.log());
            }
            assert!(
                Instant::now() < deadline,
                "podman did not answer: {}",
                p.log()
            );
            thread::sleep(POLL);
        }
    }

    fn globals(d: &std::path::Path) -> Vec<String> {
        vec![
            format!("--root={}", d.join("root").display()),
            format!("--runroot={}", d.join("run").display()),
            "--cgroup-manager=cgroupfs".into(),
            "--events-backend=file".into(),
        ]
    }

    /// The service's log.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("service.log")).unwrap_or_default()
    }

    /// `podman --remote --url unix://SOCK ARGS...`, whatever its exit status.
    pub fn try_podman(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(PODMAN);
        cmd.env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .arg("--remote")
            .arg("--url")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args);
        run_bounded(&mut cmd, &format!("podman {}", args.join(" ")), COMMAND)
    }

    /// Like [`Podman::try_podman`], stdout as text; panics unless it succeeds.
    pub fn podman_ok(&self, args: &[&str]) -> String {
        let out = self.try_podman(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}\n{}\nservice log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let pgid = libc::pid_t::try_from(self.child.id()).expect("pid out of range");
        // SAFETY: kill has no memory-safety preconditions; the service is our unreaped child.
        unsafe { libc::kill(pgid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(POLL);
        }
        // SAFETY: as above; the group's id is the service's pid, held until it is reaped.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        unmount_under(self.dir.path());
    }
}
