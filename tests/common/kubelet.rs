//! A pod run as kubelet runs a DaemonSet's pod: `tests/peers/cri_daemonset.py` (Debian's python3
//! with python3-grpcio) sends containerd's CRI plugin the requests kubelet would send for the
//! pod spec, so containerd itself applies the namespaces, capabilities, its own RuntimeDefault
//! seccomp profile, masked paths and mounts.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use super::daemonset::{Grants, Seccomp};
use super::{drain, run_bounded, wait_deadline, COMMAND};

/// Debian's interpreter, which has python3-grpcio.
const PYTHON: &str = "/usr/bin/python3";
/// Creating and starting the pod.
const POD_START: Duration = Duration::from_secs(60);
/// Stopping (the grace period of 15 s), removing.
const POD_STOP: Duration = Duration::from_secs(60);

/// The pod description `cri_daemonset.py` reads: `grants` with the test's environment, extra
/// mounts and arguments.
pub fn pod_json(
    grants: &Grants,
    image: &str,
    log_dir: &Path,
    envs: &[(String, String)],
    extra_mounts: &[&Path],
    args: &[String],
) -> Value {
    let (seccomp, localhost) = match &grants.seccomp {
        None | Some(Seccomp::RuntimeDefault) => ("RuntimeDefault", String::new()),
        Some(Seccomp::Unconfined) => ("Unconfined", String::new()),
        Some(Seccomp::Localhost(p)) => ("Localhost", p.clone()),
    };
    let mut mounts: Vec<Value> = grants
        .mounts
        .iter()
        .map(|m| json!({"host": m.host, "container": m.container, "readonly": m.read_only}))
        .collect();
    for p in extra_mounts {
        mounts.push(json!({"host": p, "container": p, "readonly": true}));
    }
    json!({
        "name": "containerdsnoop-agent",
        "image": image,
        "log_dir": log_dir,
        "host_pid": grants.host_pid,
        "host_network": grants.host_network,
        "privileged": grants.privileged,
        "readonly_rootfs": grants.read_only_root,
        "run_as_user": grants.run_as_user,
        "caps_add": grants.caps,
        "caps_drop": if grants.drop_all { vec!["ALL"] } else { vec![] },
        "seccomp": seccomp,
        "localhost_profile": localhost,
        "envs": envs,
        "mounts": mounts,
        "args": args,
    })
}

/// The pod, started; [`KubeletPod::stop`] asks about it on the same connection and removes it.
pub struct KubeletPod {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<Receiver<Vec<u8>>>,
    /// containerd's socket, to kill what a failed test leaves running.
    socket: std::path::PathBuf,
    /// `{"sandbox_id", "container_id"}`.
    pub ids: Value,
}

impl KubeletPod {
    /// Runs the pod described by `pod` (see [`pod_json`]) on containerd's `socket`; panics with
    /// the script's output unless it starts.
    pub fn start(socket: &Path, pod: &Value, dir: &Path) -> KubeletPod {
        let file = dir.join("pod.json");
        std::fs::write(&file, pod.to_string()).expect("cannot write pod.json");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cri_daemonset.py");
        let mut child = Command::new(PYTHON)
            .arg("-I")
            .arg(script)
            .arg(format!("unix://{}", socket.display()))
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {PYTHON}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut pod = KubeletPod {
            stdin: child.stdin.take(),
            stderr: Some(drain(child.stderr.take().expect("stderr is piped"))),
            child: Some(child),
            lines,
            socket: socket.to_path_buf(),
            ids: Value::Null,
        };
        let first = pod.line(POD_START);
        pod.ids = serde_json::from_str(&first).unwrap_or(Value::Null);
        if pod.ids["container_id"].as_str().is_none() {
            pod.fail(&format!("the pod did not start: {first}"));
        }
        pod
    }

    fn line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(l) => l,
            Err(e) => self.fail(&format!("no line from cri_daemonset.py ({e})")),
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|r| r.recv_timeout(Duration::from_secs(5)).ok())
            .unwrap_or_default();
        panic!("{why}; stderr:\n{}", String::from_utf8_lossy(&stderr));
    }

    /// Asks ContainerStatus and ListContainers on the connection opened before the container
    /// started, then stops the container as kubelet does (SIGTERM, 15 s of grace) and removes
    /// the pod; returns the container's exit code.
    pub fn stop(mut self) -> i64 {
        let mut stdin = self.stdin.take().expect("stdin is piped");
        if let Err(e) = stdin.write_all(b"go\n").and_then(|()| stdin.flush()) {
            self.fail(&format!("cannot write the go line: {e}"));
        }
        let asked = self.line(POD_STOP);
        if asked != "asked" {
            self.fail(&format!("expected \"asked\", got {asked:?}"));
        }
        let exit = self.line(POD_STOP);
        let code = serde_json::from_str::<Value>(&exit)
            .ok()
            .and_then(|v| v["exit_code"].as_i64())
            .unwrap_or_else(|| self.fail(&format!("no exit code: {exit}")));
        let done = self.line(POD_STOP);
        if done != "done" {
            self.fail(&format!("expected \"done\", got {done:?}"));
        }
        let mut child = self.child.take().expect("the script");
        match wait_deadline(&mut child, POD_STOP) {
            Some(s) if s.success() => code,
            s => {
                self.child = Some(child);
                self.fail(&format!("cri_daemonset.py exited {s:?}"))
            }
        }
    }
}

impl Drop for KubeletPod {
    /// A pod not stopped (a failed test): its tasks are killed, or the shims would keep them
    /// running after containerd stops.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for id in ["container_id", "sandbox_id"] {
            if let Some(id) = self.ids[id].as_str() {
                let mut ctr = Command::new("ctr");
                ctr.arg("-a").arg(&self.socket);
                ctr.args(["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id]);
                let _ = run_bounded(&mut ctr, "ctr tasks kill", COMMAND);
            }
        }
    }
}
