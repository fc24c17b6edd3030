//! COMM is the writing process's name, whichever of its threads wrote
//! (as root): a client whose writing thread has a name of its own
//! (`tests/peers/named_thread_client.py`, as grpcio's `event_engine`)
//! against a real containerd, seen live by `trace --json` and offline by
//! `record` then `decode`, which must agree; `--comm` matches the process's
//! name, not the thread's.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::{decode_ok, require_file, require_root, short_tempdir, tshark, Containerd, Recorder};

/// The writing thread's name: a space and `=` too, which the capture's
/// comments escape.
const THREAD: &str = "snoop writer=1";
const PYTHON: &str = "/usr/bin/python3";
const METHOD: &str = "/containerd.services.version.v1.Version/Version";

fn objects(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// What live and offline output must agree on: everything but the times
/// (a call's latency among them) and where schemas came from (`trace`
/// reads containerd's binary).
fn essentials(objects: &[Value]) -> Vec<Value> {
    objects
        .iter()
        .map(|o| {
            let mut o = o.clone();
            let m = o.as_object_mut().unwrap();
            for k in ["time", "ts_ns", "schema_source", "latency_us"] {
                m.remove(k);
            }
            o
        })
        .collect()
}

/// Runs the client once; its pid and the writing thread's id.
fn run_client(sock: &Path) -> (u64, u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/named_thread_client.py");
    let out = Command::new(PYTHON)
        .arg(&script)
        .arg(sock)
        .arg(THREAD)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<u64> = stdout
        .trim()
        .strip_prefix("done ")
        .unwrap_or_else(|| panic!("client said {stdout:?}"))
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1], "the call ran on a thread of its own");
    (ids[0], ids[1])
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn a_renamed_thread_is_shown_apart_from_its_process() {
    require_root();
    require_file(PYTHON, "python3");
    let cd = Containerd::start();
    let dir = short_tempdir("cs-comm");
    let sock = cd.sock.display().to_string();
    let at = |name: &str| dir.path().join(name);
    let pcap = at("rec.pcapng");
    let trace = Recorder::start_command(&at("trace"), &["trace", "--json", "--socket", &sock]);
    let record = Recorder::start(&pcap, &["--socket", &sock]);
    let by_process = Recorder::start_command(
        &at("by-process"),
        &["trace", "--json", "--socket", &sock, "--comm", "python3"],
    );
    let by_thread = Recorder::start_command(
        &at("by-thread"),
        &["trace", "--json", "--socket", &sock, "--comm", THREAD],
    );
    let (pid, tid) = run_client(&cd.sock);
    std::thread::sleep(Duration::from_millis(300));
    for r in [trace, record, by_process, by_thread] {
        let (status, stderr) = r.stop();
        assert!(status.success(), "a tracer failed: {stderr}");
    }
    let stdout = |name: &str| std::fs::read_to_string(at(&format!("{name}.stdout"))).unwrap();
    let live = objects(&stdout("trace"));

    // The request: COMM is the process, the thread's name is apart.
    let request = live
        .iter()
        .find(|o| o["type"] == "message" && o["direction"] == "request")
        .unwrap_or_else(|| panic!("no request in {live:?}"));
    assert_eq!(request["method"], METHOD, "{request}");
    assert_eq!(request["writer"]["pid"], pid, "{request}");
    assert_eq!(request["writer"]["tid"], tid, "{request}");
    assert_eq!(request["writer"]["comm"], "python3", "{request}");
    assert_eq!(request["writer"]["thread_comm"], THREAD, "{request}");
    assert_eq!(request["peer"]["comm"], "containerd", "{request}");
    // A peer is a process: no thread, but the member is there.
    assert_eq!(request["peer"].get("thread_comm"), Some(&Value::Null));
    // The response: containerd's Go threads keep its name; its peer is the
    // client's process.
    let response = live
        .iter()
        .find(|o| o["type"] == "message" && o["direction"] == "response")
        .unwrap_or_else(|| panic!("no response in {live:?}"));
    assert_eq!(response["writer"]["comm"], "containerd", "{response}");
    assert_eq!(
        response["writer"]["thread_comm"], "containerd",
        "{response}"
    );
    assert_eq!(response["peer"]["comm"], "python3", "{response}");
    assert_eq!(response["peer"]["pid"], pid, "{response}");
    assert_eq!(response["peer"]["thread_comm"], Value::Null, "{response}");

    // Offline, from the file, the same.
    let p = pcap.to_str().unwrap();
    let offline = objects(&decode_ok(Path::new(p), &["--json"]));
    assert_eq!(essentials(&offline), essentials(&live));

    // Both names are in the packet comments, escaped, for Wireshark too.
    let comments = tshark([
        "-r",
        p,
        "-Y",
        "frame.comment",
        "-T",
        "fields",
        "-e",
        "frame.comment",
    ]);
    // The client runs on the host (`container=-`).
    let want =
        format!("pid={pid} tid={tid} comm=python3 thread_comm=snoop\\x20writer\\x3d1 container=-");
    assert!(
        comments.lines().any(|l| l == want),
        "{want} not in:\n{comments}"
    );
    assert!(
        comments.lines().any(|l| l.starts_with("connection 0 on ")
            && l.contains(&format!(
                ": client pid={pid} comm=python3 container=- inode="
            ))),
        "{comments}"
    );

    // The table: COMM is the process; --full adds the thread's name.
    let row = |table: &str| {
        table
            .lines()
            .find(|l| l.contains(" REQ "))
            .unwrap_or_else(|| panic!("no request row:\n{table}"))
            .to_string()
    };
    let short = row(&decode_ok(Path::new(p), &[]));
    assert!(
        short.contains(" python3 ") && !short.contains("snoop"),
        "{short}"
    );
    let full = row(&decode_ok(Path::new(p), &["--full"]));
    assert!(full.contains(&format!(" python3/{THREAD} ")), "{full}");

    // --comm matches the process's name: the connection, both ways; the
    // thread's own name matches nothing.
    let by_process = objects(&stdout("by-process"));
    let directions: Vec<&str> = by_process
        .iter()
        .filter(|o| o["type"] == "message")
        .map(|o| o["direction"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(directions, ["request", "response"], "{by_process:?}");
    let by_thread = stdout("by-thread");
    assert_eq!(by_thread, "", "--comm {THREAD:?} matched a thread's name");
}
