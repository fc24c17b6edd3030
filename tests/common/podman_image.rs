//! The agent's image (scripts/build-image.sh) and containers run from it with Debian's podman,
//! everything in a private container storage (vfs: no mounts left behind) under a test
//! directory. The host's podman storage is not touched.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::{describe_output, run_bounded, wait_deadline, COMMAND};

/// Podman's own default seccomp profile (package golang-github-containers-common), what a
/// container gets for `seccompProfile: RuntimeDefault`.
pub const RUNTIME_DEFAULT_SECCOMP: &str = "/usr/share/containers/seccomp.json";
/// From SIGTERM to exit: the agent's flush bound (3 s) and a margin, as the DaemonSet's
/// terminationGracePeriodSeconds allows.
const CONTAINER_STOP: Duration = Duration::from_secs(15);

/// A private container storage, and the image built into it.
pub struct Images {
    conf: PathBuf,
    /// The image's name (`localhost/containerdsnoop:VERSION`).
    pub tag: String,
}

impl Images {
    /// Builds the image from `binary` with scripts/build-image.sh into a storage under `dir`.
    pub fn build(dir: &Path, binary: &Path) -> Images {
        let conf = dir.join("storage.conf");
        fs::write(
            &conf,
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                dir.join("graph").display(),
                dir.join("run").display()
            ),
        )
        .expect("cannot write storage.conf");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-image.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(&script)
            .arg("-b")
            .arg(binary)
            .env("CONTAINERS_STORAGE_CONF", &conf);
        let out = run_bounded(&mut cmd, "build-image.sh", COMMAND);
        assert!(
            out.status.success(),
            "build-image.sh failed ({})\n{}",
            out.status,
            describe_output(&out)
        );
        let tag = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Images { conf, tag }
    }

    /// `podman ARGS...` on this storage.
    pub fn podman(&self) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_STORAGE_CONF", &self.conf);
        cmd
    }

    /// `podman ARGS...`, bounded; panics with its output unless it succeeds.
    pub fn podman_ok(&self, args: &[&str]) -> String {
        let out = run_bounded(self.podman().args(args), "podman", COMMAND);
        assert!(
            out.status.success(),
            "podman {} failed ({})\n{}",
            args.join(" "),
            out.status,
            describe_output(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The files of the image (paths without the leading `/`, directories left out), from
    /// `podman export` of a container created from it.
    pub fn files(&self) -> Vec<String> {
        let id = self.podman_ok(&["create", &self.tag]).trim().to_owned();
        let tar = self.conf.with_file_name("export.tar");
        self.podman_ok(&["export", "-o", tar.to_str().expect("UTF-8 path"), &id]);
        self.podman_ok(&["rm", &id]);
        let mut archive = tar::Archive::new(File::open(&tar).expect("the exported tar"));
        let mut files: Vec<String> = archive
            .entries()
            .expect("a tar")
            .map(|e| e.expect("a tar entry"))
            .filter(|e| !e.header().entry_type().is_dir())
            .map(|e| e.path().expect("a path").display().to_string())
            .collect();
        files.sort();
        files
    }

    /// The image as an OCI archive in `dir` (for `ctr images import`).
    pub fn save(&self, dir: &Path) -> PathBuf {
        let out = dir.join("containerdsnoop-oci.tar");
        let path = out.to_str().expect("UTF-8 path");
        self.podman_ok(&["save", "--format", "oci-archive", "-o", path, &self.tag]);
        out
    }

    /// `podman run --rm IMAGE ARGS...` to its end; its stdout, or a panic with its output
    /// unless it succeeds.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let mut run = vec!["run".to_string(), "--rm".into()];
        run.extend(limits());
        run.push(self.tag.clone());
        run.extend(args.iter().map(|&a| a.to_owned()));
        let run: Vec<&str> = run.iter().map(String::as_str).collect();
        self.podman_ok(&run)
    }

    /// Starts `podman run FLAGS... IMAGE ARGS...` as container `name`, its stdout and stderr in
    /// files under `dir`.
    pub fn run(&self, dir: &Path, name: &str, flags: &[String], args: &[String]) -> Container<'_> {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("cannot create the container's log");
        let mut cmd = self.podman();
        cmd.args(["run", "--rm", "--name", name])
            // As Kubernetes does: no tmpfs on /tmp and /run of a read-only root.
            .arg("--read-only-tmpfs=false")
            .args(limits())
            .args(flags)
            .arg(&self.tag)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("duplicate the log"))
            .stderr(out);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run podman (apt-get install podman): {e}"));
        Container {
            images: self,
            name: name.into(),
            child: Some(child),
            log,
        }
    }
}

/// `--ulimit` flags: podman's defaults as root (nofile 1048576, nproc 4194304) are above the
/// limits podman itself runs with here, and the container's init cannot raise them without
/// CAP_SYS_RESOURCE, which it does not have. The agent needs a few dozen descriptors (maps,
/// programs, links, sockets) and a few threads.
fn limits() -> Vec<String> {
    [
        "--ulimit",
        "nofile=4096:4096",
        "--ulimit",
        "nproc=4096:4096",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Where [`Container::exec`] puts the stderr of a command whose stdout goes to `out`.
pub fn stderr_of(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".stderr");
    PathBuf::from(name)
}

/// A container running (`podman run` in the foreground); dropping it removes it.
pub struct Container<'a> {
    images: &'a Images,
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Container<'_> {
    /// Its output (stdout and stderr) so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts `podman exec` of `args` in it, stdout into `out`, stderr into `out` + `.stderr`.
    pub fn exec(&self, args: &[&str], out: &Path) -> Child {
        let stdout = File::create(out).expect("cannot create the exec's output");
        let stderr = File::create(stderr_of(out)).expect("cannot create the exec's stderr");
        self.images
            .podman()
            .args(["exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run podman exec: {e}"))
    }

    /// The file its output goes to.
    pub fn log_file(&self) -> PathBuf {
        self.log.clone()
    }

    /// Whether it exited already, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGTERM, as the kubelet stops a pod; waits for the exit (bounded) and returns its status
    /// and output.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("stopped twice");
        if child.try_wait().ok().flatten().is_none() {
            let _ = run_bounded(
                self.images
                    .podman()
                    .args(["kill", "--signal", "TERM", &self.name]),
                "podman kill",
                COMMAND,
            );
        }
        let status = wait_deadline(&mut child, CONTAINER_STOP).unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "container {} did not exit within {CONTAINER_STOP:?} of SIGTERM; log:\n{}",
                self.name,
                self.log()
            )
        });
        (status, self.log())
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = run_bounded(
                self.images
                    .podman()
                    .args(["rm", "--force", "--time", "0", &self.name]),
                "podman rm",
                COMMAND,
            );
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!("container {} log:\n{}", self.name, self.log());
            }
        }
    }
}
