//! Debian's Chromium, headless, with a fresh profile, driven through the
//! DevTools protocol on a pipe (`--remote-debugging-pipe`: fd 3 to it, fd
//! 4 from it, each message JSON ended by a NUL): what `--dump-dom` and
//! `--screenshot` cannot do, such as loading a page with script disabled
//! (`--dump-dom` prints nothing then).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// How every test starts it: headless, as root, with no GPU and no first-run pages.
pub const HEADLESS: [&str; 4] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
];
/// Any one answer of the browser.
const ANSWER: Duration = Duration::from_secs(60);

/// A browser and one page in it.
pub struct Browser {
    child: Child,
    to: File,
    from: mpsc::Receiver<Value>,
    next: u64,
    session: String,
    _profile: tempfile::TempDir,
}

fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: two ints for pipe2 to fill.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (fds[0], fds[1])
}

impl Browser {
    /// Chromium started headless with `args` (and a fresh profile), a
    /// blank page open.
    pub fn start(args: &[&str]) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (to_r, to_w) = pipe();
        let (from_r, from_w) = pipe();
        let mut cmd = Command::new(CHROMIUM);
        cmd.args(HEADLESS)
            .arg("--remote-debugging-pipe")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Out of the way first, in case either already is 3 or 4.
                let r = libc::fcntl(to_r, libc::F_DUPFD_CLOEXEC, 10);
                let w = libc::fcntl(from_w, libc::F_DUPFD_CLOEXEC, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("start chromium (apt-get install chromium)");
        // SAFETY: each fd is ours, from pipe2, and closed once here.
        let (to, from) = unsafe {
            libc::close(to_r);
            libc::close(from_w);
            (File::from_raw_fd(to_w), File::from_raw_fd(from_r))
        };
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut r = BufReader::new(from);
            loop {
                let mut msg = Vec::new();
                match r.read_until(0, &mut msg) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                msg.pop();
                let Ok(v) = serde_json::from_slice::<Value>(&msg) else {
                    continue;
                };
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let mut b = Browser {
            child,
            to,
            from: rx,
            next: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = b.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let id = target["targetId"].as_str().unwrap().to_string();
        let attached = b.browser_call(
            "Target.attachToTarget",
            json!({"targetId": id, "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.call("Page.enable", json!({}));
        b
    }

    fn send(&mut self, method: &str, params: Value, session: bool) -> u64 {
        self.next += 1;
        let mut msg = json!({"id": self.next, "method": method, "params": params});
        if session {
            msg["sessionId"] = json!(self.session);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        self.next
    }

    /// The next message `pick` takes, the others dropped.
    fn wait(&mut self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self
                .from
                .recv_timeout(ANSWER)
                .unwrap_or_else(|e| panic!("chromium gave no {what} ({e})"));
            if pick(&v) {
                return v;
            }
        }
    }

    fn answer(&mut self, id: u64, method: &str) -> Value {
        let v = self.wait(method, |v| v["id"] == id);
        assert!(v.get("error").is_none(), "{method}: {v}");
        v["result"].clone()
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params, false);
        self.answer(id, method)
    }

    /// A command to the page; its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params, true);
        self.answer(id, method)
    }

    /// Opens `page` (script disabled unless `script`), `width` x `height`
    /// CSS pixels, and waits for its load event.
    pub fn open(&mut self, page: &Path, script: bool, width: u32, height: u32) {
        let url = format!("file://{}", page.display());
        self.call(
            "Emulation.setScriptExecutionDisabled",
            json!({"value": !script}),
        );
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        self.call("Page.navigate", json!({ "url": url }));
        self.wait("Page.loadEventFired", |v| {
            v["method"] == "Page.loadEventFired"
        });
    }

    /// The page's DOM, serialized.
    pub fn dom(&mut self) -> String {
        let doc = self.call("DOM.getDocument", json!({"depth": 0}));
        let root = doc["root"]["nodeId"].clone();
        let html = self.call("DOM.getOuterHTML", json!({ "nodeId": root }));
        html["outerHTML"].as_str().unwrap().to_string()
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine as _;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
