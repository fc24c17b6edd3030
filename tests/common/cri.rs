//! A CRI client on gRPC's C core: `tests/peers/cri_client.py` run by Debian's python3 with
//! python3-grpcio, a peer whose HTTP/2 comes from neither Go nor Rust.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::{drain, wait_deadline};

/// Debian's interpreter, by path: the python3 first on PATH may be another (pyenv) without
/// python3-grpcio's module.
const PYTHON: &str = "/usr/bin/python3";
/// Importing grpc and the first call take about 0.2 s here.
const CRI_READY: Duration = Duration::from_secs(30);
/// The six calls after the go line, and the exit.
const CRI_RUN: Duration = Duration::from_secs(60);

/// One call's outcome, as the client printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriResult {
    /// The gRPC method path, e.g. `/runtime.v1.RuntimeService/Version`.
    pub method: String,
    /// The gRPC status code: 0 OK, 5 NotFound, ...
    pub code: u32,
    /// The status message (empty when OK).
    pub details: String,
    /// The response message's bytes (empty unless OK).
    pub response: Vec<u8>,
}

/// The JSON line `cri_client.py` prints per call.
#[derive(serde::Deserialize)]
struct Line {
    method: String,
    code: u32,
    details: String,
    response: String,
}

/// A running `cri_client.py`, connected to its socket and holding the connection open until
/// [`CriClient::run`].
pub struct CriClient {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<Receiver<Vec<u8>>>,
}

impl CriClient {
    /// Starts the client on the unix socket `socket` (containerd's gRPC socket, with CRI: see
    /// [`super::Containerd::start_with_cri`]) and waits until it has made its first call
    /// (Version) and said `ready`.
    pub fn start(socket: &Path) -> CriClient {
        let mut child = Command::new(PYTHON)
            // Isolated: no PYTHON* variables, no user site-packages.
            .arg("-I")
            .arg(script())
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {PYTHON} (apt-get install python3): {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut client = CriClient {
            stdin: child.stdin.take(),
            stderr: Some(drain(child.stderr.take().expect("stderr is piped"))),
            child: Some(child),
            lines,
        };
        let deadline = Instant::now() + CRI_READY;
        match client.next_line(deadline) {
            Ok(line) if line == "ready" => client,
            Ok(line) => client.fail(&format!("expected \"ready\", got {line:?}")),
            Err(why) => client.fail(&format!("no \"ready\": {why}")),
        }
    }

    /// The process id of the client (the python interpreter).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("client already finished").id()
    }

    /// Sends the go line and returns the results of the client's calls, in order: Version,
    /// ListImages, ListPodSandbox, ListContainers, Status (runtime.v1) and ContainerStatus of a
    /// container that does not exist. Panics with the client's stderr if it fails or hangs.
    pub fn run(mut self) -> Vec<CriResult> {
        let deadline = Instant::now() + CRI_RUN;
        let mut stdin = self.stdin.take().expect("stdin is piped");
        if let Err(e) = stdin.write_all(b"go\n").and_then(|()| stdin.flush()) {
            self.fail(&format!("cannot write the go line: {e}"));
        }
        drop(stdin);
        let mut results = Vec::new();
        loop {
            let line = match self.next_line(deadline) {
                Ok(line) => line,
                Err(why) => self.fail(&format!("no \"done\": {why}")),
            };
            if line == "done" {
                break;
            }
            match parse(&line) {
                Some(result) => results.push(result),
                None => self.fail(&format!("not a result line: {line:?}")),
            }
        }
        let mut child = self.child.take().expect("client already finished");
        let left = deadline.saturating_duration_since(Instant::now());
        match wait_deadline(&mut child, left) {
            Some(status) if status.success() => results,
            status => {
                self.child = Some(child);
                self.fail(&format!("exit after \"done\": {status:?}"))
            }
        }
    }

    /// The next stdout line, waiting at most until `deadline`.
    fn next_line(&self, deadline: Instant) -> Result<String, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => Err("timed out".into()),
            Err(RecvTimeoutError::Disconnected) => Err("stdout closed".into()),
        }
    }

    /// Kills the client and panics with `why` and what it wrote to stderr.
    fn fail(&mut self, why: &str) -> ! {
        let status = self.child.take().map(|mut child| {
            let _ = child.kill();
            child.wait()
        });
        let stderr = self
            .stderr
            .take()
            .and_then(|rx| rx.recv_timeout(Duration::from_secs(5)).ok())
            .unwrap_or_default();
        panic!(
            "cri_client.py: {why} (exit {status:?}); stderr:\n{}",
            String::from_utf8_lossy(&stderr)
        );
    }
}

impl Drop for CriClient {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `tests/peers/cri_client.py` in this checkout.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cri_client.py")
}

/// One JSON result line, its hex response decoded.
fn parse(line: &str) -> Option<CriResult> {
    let l: Line = serde_json::from_str(line).ok()?;
    if l.response.len() % 2 != 0 {
        return None;
    }
    let response = (0..l.response.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(l.response.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(CriResult {
        method: l.method,
        code: l.code,
        details: l.details,
        response,
    })
}
