//! ttrpc between a real containerd and its shims (as root): a throwaway
//! containerd's gRPC socket, its ttrpc socket and the shim sockets
//! (`/run/containerd/s/*`, where containerd 1.6 binds them) are recorded
//! while `ctr` runs containers; `decode --json` must show the Task calls
//! and forwarded events paired and typed, and the Lua dissector must count
//! the same requests and responses per method, with nothing malformed.
//!
//! Other containerd instances on the machine may have shims too: every
//! check is on our namespace's containers, and the tshark comparison is of
//! the whole capture against itself.
//!
//! Like the other root tests here they are not `#[ignore]`d: `require_root`
//! skips them for other users and fails them under `CI=true`.
//! `UPDATE_FIXTURE=1 cargo test --release --test ttrpc_containerd
//! write_shim_fixture -- --ignored` re-records `tests/fixtures/shim-run.pcapng`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{busybox_oci, require_root, short_tempdir, Containerd, Recorder};
use containerdsnoop::pcapng::comment;
use containerdsnoop::pcapng::packet::TTRPC_PORT;
use serde_json::Value;

const IMAGE: &str = "docker.io/library/busybox:snoop";
const TASK: &str = "/containerd.task.v2.Task/";
const FORWARD: &str = "/containerd.services.events.ttrpc.v1.Events/Forward";

fn decode_json(pcap: &Path) -> Vec<Value> {
    let out = Command::new(common::bin())
        .arg("decode")
        .arg(pcap)
        .arg("--json")
        .output()
        .expect("containerdsnoop decode runs");
    assert!(
        out.status.success(),
        "decode failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect()
}

/// The sockets of `cd` plus the shim sockets.
fn record_shims(cd: &Containerd, pcap: &Path) -> Recorder {
    let sock = cd.sock.display().to_string();
    let ttrpc = cd.ttrpc_sock.display().to_string();
    Recorder::start(
        pcap,
        &[
            "--socket",
            &sock,
            "--socket",
            &ttrpc,
            "--socket",
            "/run/containerd/s/*",
        ],
    )
}

/// Waits until `ctr task ls` shows `id` stopped.
fn wait_stopped(cd: &Containerd, ns: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ls = cd.ctr_ok(&["-n", ns, "task", "ls"]);
        if ls
            .lines()
            .any(|l| l.starts_with(id) && l.contains("STOPPED"))
        {
            return;
        }
        assert!(Instant::now() < deadline, "task {id} did not stop: {ls}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the recorder: nothing may be lost by the tracer, and with
/// `from_start` no byte may be missing at all (a capture begun on an open
/// connection may start inside a write: a gap of known size there is
/// honest, and counted).
fn stop(rec: Recorder, from_start: bool) {
    // The last frames of the shims' connections are flushed within the
    // recorder's reorder window.
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    let clean =
        stderr.contains("no drops") || (!from_start && stderr.contains("DROPPED 0 B in 0 records"));
    assert!(clean, "{stderr}");
    assert!(
        stderr.contains(" ttrpc"),
        "summary names no ttrpc: {stderr}"
    );
}

/// The SYN of every shim connection names the shim that serves it (the
/// pid whose writes the server side carries, not the `start` process that
/// bound the socket and exited, which SO_PEERCRED names) and the inode of
/// its socket.
fn shim_syns_name_the_serving_shim(pcap: &str) {
    let out = common::tshark([
        "-r",
        pcap,
        "-Y",
        "frame.comment",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.srcport",
        "-e",
        "frame.comment",
    ]);
    let mut syns = BTreeMap::new();
    let mut server_writers: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for line in out.lines() {
        let mut fields = line.splitn(3, '|');
        let (Some(stream), Some(port), Some(comment)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if comment.starts_with("connection ") && comment.contains(" on /run/containerd/s/") {
            syns.insert(stream.to_string(), comment.to_string());
        } else if port == TTRPC_PORT.to_string() {
            if let Some(pid) = comment::parse_writer(comment).and_then(|w| w.pid) {
                server_writers
                    .entry(stream.to_string())
                    .or_default()
                    .insert(pid);
            }
        }
    }
    assert!(!syns.is_empty(), "no shim connection recorded:\n{out}");
    for (stream, syn) in &syns {
        let server = comment::parse_opening(syn)
            .unwrap_or_else(|| panic!("not a connection's comment: {syn}"))
            .server;
        assert!(!server.from_creds, "not named by its writes: {syn}");
        let pid = server.owner.pid.expect("the server's pid");
        assert_ne!(server.ino, 0, "{syn}");
        let writers = server_writers.get(stream);
        assert!(
            writers.is_some_and(|w| w.len() == 1 && w.contains(&pid)),
            "{syn}: the server side was written by {writers:?}"
        );
    }
}

fn is_ttrpc_message(o: &Value) -> bool {
    o["type"] == "message" && o["protocol"] == "ttrpc"
}

/// Our ttrpc census in the Lua dissector's terms: (method, 1) per request
/// message, (method, 2) per response frame, i.e. per call that ended with a
/// response (ERR calls included), (method, 3) per data message.
fn our_census(objs: &[Value]) -> BTreeMap<(String, u8), u32> {
    let mut c = BTreeMap::new();
    for o in objs.iter().filter(|o| o["protocol"] == "ttrpc") {
        let method = o["method"].as_str().unwrap_or("").to_string();
        let kind = match (o["type"].as_str(), o["direction"].as_str()) {
            (Some("message"), Some("request")) => 1,
            (Some("call"), _) if o["unfinished"] == false && o["status"].is_u64() => 2,
            _ => continue,
        };
        *c.entry((method, kind)).or_default() += 1;
    }
    c
}

#[test]
fn shim_calls_decode_typed_and_match_the_lua_dissector() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-tt");
    let image = busybox_oci(dir.path());
    let ns = format!("ttrpc-{}", std::process::id());
    let (run_id, bg_id) = (
        format!("tt-run-{}", std::process::id()),
        format!("tt-bg-{}", std::process::id()),
    );
    cd.ctr_ok(&["-n", &ns, "images", "import", image.to_str().unwrap()]);
    let pcap = dir.path().join("shims.pcapng");
    let rec = record_shims(&cd, &pcap);
    let said = cd.ctr_ok(&[
        "-n", &ns, "run", "--rm", IMAGE, &run_id, "/bin/sh", "-c", "echo hi",
    ]);
    assert_eq!(said.trim(), "hi");
    cd.ctr_ok(&[
        "-n", &ns, "run", "-d", IMAGE, &bg_id, "/bin/sh", "-c", "sleep 60",
    ]);
    let said = cd.ctr_ok(&[
        "-n",
        &ns,
        "task",
        "exec",
        "--exec-id",
        "ex1",
        &bg_id,
        "/bin/echo",
        "ex",
    ]);
    assert_eq!(said.trim(), "ex");
    // PID 1 ignores SIGTERM without a handler: KILL it.
    cd.ctr_ok(&["-n", &ns, "task", "kill", "-s", "KILL", &bg_id]);
    wait_stopped(&cd, &ns, &bg_id);
    cd.ctr_ok(&["-n", &ns, "task", "delete", &bg_id]);
    cd.ctr_ok(&["-n", &ns, "containers", "rm", &bg_id]);
    stop(rec, true);
    shim_syns_name_the_serving_shim(pcap.to_str().unwrap());

    let objs = decode_json(&pcap);
    let ours = |o: &&Value| {
        let m = o["message"].to_string();
        m.contains(&run_id) || m.contains(&bg_id)
    };
    // Requests of our containers, and the connections they went on.
    let mut conns = BTreeSet::new();
    let mut methods = BTreeSet::new();
    for o in objs.iter().filter(|o| is_ttrpc_message(o)).filter(ours) {
        let method = o["method"].as_str().expect("every message has its method");
        if o["direction"] == "request" && method.starts_with(TASK) {
            conns.insert(o["connection"].as_u64().unwrap());
            methods.insert(method.trim_start_matches(TASK).to_string());
        }
    }
    for want in ["Create", "Start", "Wait", "Exec", "Kill", "Delete"] {
        assert!(
            methods.contains(want),
            "no Task/{want} request: {methods:?}"
        );
    }
    // On those connections every call is paired: one request message, one
    // call end with a status, typed messages both ways.
    let on_ours: Vec<&Value> = objs
        .iter()
        .filter(|o| {
            o["protocol"] == "ttrpc"
                && conns.contains(&o["connection"].as_u64().unwrap_or(u64::MAX))
        })
        .collect();
    let mut by_stream: BTreeMap<(u64, u64), Vec<&Value>> = BTreeMap::new();
    for o in &on_ours {
        if o["type"] == "message" || o["type"] == "call" {
            let key = (
                o["connection"].as_u64().unwrap(),
                o["stream"].as_u64().unwrap(),
            );
            by_stream.entry(key).or_default().push(o);
        }
    }
    for (key, objs) in &by_stream {
        let kinds: Vec<String> = objs
            .iter()
            .map(|o| format!("{}:{}", o["type"], o["direction"]))
            .collect();
        let method = objs[0]["method"].as_str().unwrap_or("");
        assert!(method.starts_with(TASK), "{key:?}: {method}");
        let call = objs.last().unwrap();
        assert_eq!(
            call["type"], "call",
            "{key:?} {method} not ended: {kinds:?}"
        );
        let requests = objs.iter().filter(|o| o["direction"] == "request").count();
        assert_eq!(requests, 1, "{key:?} {method}: {kinds:?}");
        let responses = objs.iter().filter(|o| o["direction"] == "response").count();
        if call["unfinished"] == true {
            // A shim may exit before it answers Shutdown (containerd takes
            // ttrpc's "closed" error from Shutdown as success): its
            // connection then ends with the call open. Any other call ends.
            assert!(method.ends_with("/Shutdown"), "{key:?} {method} unfinished");
            assert_eq!(responses, 0, "{key:?} {method}: {kinds:?}");
            continue;
        }
        let ok = call["status"] == 0;
        assert_eq!(responses, usize::from(ok), "{key:?} {method}: {kinds:?}");
        for m in objs.iter().filter(|o| o["type"] == "message") {
            assert_eq!(m["schema"], "typed", "{m}");
            let t = m["message_type"].as_str().unwrap();
            assert_eq!(
                Some(t),
                task_type(method, m["direction"] == "request").as_deref(),
                "{m}"
            );
            assert!(
                objs.iter().all(|o| o["method"] == method),
                "{key:?}: methods differ"
            );
        }
    }
    // The shims forwarded their task's events, with the event unpacked.
    let mut topics = BTreeMap::new();
    for o in objs
        .iter()
        .filter(|o| is_ttrpc_message(o) && o["method"] == FORWARD && o["direction"] == "request")
    {
        assert_eq!(o["schema"], "typed", "{o}");
        let env = &o["message"]["envelope"];
        if env["namespace"] != ns.as_str() {
            continue;
        }
        assert_eq!(o["namespace"], ns.as_str(), "ttrpc metadata namespace: {o}");
        assert!(o["timeout_ms"].as_f64().is_some_and(|t| t > 0.0), "{o}");
        let t = env["event"]["@type"].as_str().unwrap_or("").to_string();
        assert!(
            env["event"]["containerId"].is_string(),
            "event not unpacked: {o}"
        );
        *topics.entry(t).or_insert(0) += 1;
    }
    for want in [
        "TaskCreate",
        "TaskStart",
        "TaskExit",
        "TaskExecAdded",
        "TaskDelete",
    ] {
        assert!(
            topics.contains_key(&format!("containerd.events.{want}")),
            "no {want} event forwarded: {topics:?}"
        );
    }

    // The Lua dissector counts the same requests and responses per method.
    let p = pcap.to_str().unwrap();
    let theirs = common::ttrpc_lua_census(p);
    let mine = our_census(&objs);
    eprintln!("per method, (ours, tshark+Lua):");
    let keys: BTreeSet<&(String, u8)> = mine.keys().chain(theirs.keys()).collect();
    for k in keys {
        eprintln!(
            "  {:>60} {} {:?} {:?}",
            k.0,
            k.1,
            mine.get(k),
            theirs.get(k)
        );
    }
    assert_eq!(mine, theirs, "(method, frame type) -> count");
    let problems = common::ttrpc_lua_problems(p);
    assert!(
        problems.trim().is_empty(),
        "Wireshark flags problems:\n{problems}"
    );
    // And a Wireshark without the Lua dissector, with no preferences, flags
    // nothing either: no heuristic dissector claims the ttrpc segments.
    let plain = common::tshark([
        "-r",
        p,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
    ]);
    assert!(plain.is_empty(), "Wireshark without ttrpc.lua:\n{plain}");
    let ttrpc_port = format!("tcp.port == {TTRPC_PORT} && tcp.len > 0");
    let shown = common::tshark([
        "-r",
        p,
        "-Y",
        &ttrpc_port,
        "-T",
        "fields",
        "-e",
        "frame.protocols",
    ]);
    assert!(
        shown.lines().count() > 20 && shown.lines().all(|l| l.ends_with(":tcp:echo")),
        "ttrpc segments without ttrpc.lua:\n{shown}"
    );
}

#[test]
fn a_capture_begun_on_an_open_shim_connection_names_only_right_methods() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-tm");
    let image = busybox_oci(dir.path());
    let ns = format!("ttmid-{}", std::process::id());
    let id = format!("tt-mid-{}", std::process::id());
    cd.ctr_ok(&["-n", &ns, "images", "import", image.to_str().unwrap()]);
    // containerd keeps its connection to the shim open for the task's life.
    cd.ctr_ok(&[
        "-n", &ns, "run", "-d", IMAGE, &id, "/bin/sh", "-c", "sleep 60",
    ]);
    let pcap = dir.path().join("mid.pcapng");
    let rec = record_shims(&cd, &pcap);
    assert_eq!(
        cd.ctr_ok(&[
            "-n",
            &ns,
            "task",
            "exec",
            "--exec-id",
            "ex1",
            &id,
            "/bin/echo",
            "mid"
        ])
        .trim(),
        "mid"
    );
    cd.ctr_ok(&["-n", &ns, "task", "kill", "-s", "KILL", &id]);
    wait_stopped(&cd, &ns, &id);
    cd.ctr_ok(&["-n", &ns, "task", "delete", &id]);
    cd.ctr_ok(&["-n", &ns, "containers", "rm", &id]);
    stop(rec, false);

    let objs = decode_json(&pcap);
    let mut seen = BTreeSet::new();
    for o in objs.iter().filter(|o| is_ttrpc_message(o)) {
        let Some(method) = o["method"].as_str() else {
            continue;
        };
        // A method is only ever named from its request, and the message
        // decodes as that method's type.
        assert_eq!(o["schema"], "typed", "{o}");
        let request = o["direction"] == "request";
        if method.starts_with(TASK) {
            assert_eq!(
                o["message_type"].as_str(),
                task_type(method, request).as_deref(),
                "{o}"
            );
        }
        let name = method.rsplit('/').next().unwrap();
        if o["message"].to_string().contains(&id) && o["direction"] == "request" {
            seen.insert(name.to_string());
        }
    }
    for want in ["Exec", "Kill", "Delete"] {
        assert!(
            seen.contains(want),
            "no Task/{want} after the capture began: {seen:?}"
        );
    }
}

/// The message type of a Task method's request or response
/// (containerd/runtime/v2/task/shim.proto).
fn task_type(method: &str, request: bool) -> Option<String> {
    let (req, resp) = match method.strip_prefix(TASK)? {
        "State" => ("StateRequest", "StateResponse"),
        "Create" => ("CreateTaskRequest", "CreateTaskResponse"),
        "Start" => ("StartRequest", "StartResponse"),
        "Delete" => ("DeleteRequest", "DeleteResponse"),
        "Pids" => ("PidsRequest", "PidsResponse"),
        "Kill" => ("KillRequest", ""),
        "Exec" => ("ExecProcessRequest", ""),
        "CloseIO" => ("CloseIORequest", ""),
        "Wait" => ("WaitRequest", "WaitResponse"),
        "Connect" => ("ConnectRequest", "ConnectResponse"),
        "Shutdown" => ("ShutdownRequest", ""),
        _ => return None,
    };
    let name = if request { req } else { resp };
    Some(match name {
        "" => "google.protobuf.Empty".to_string(),
        n => format!("containerd.task.v2.{n}"),
    })
}

#[test]
#[ignore = "needs root; only with UPDATE_FIXTURE=1: re-records tests/fixtures/shim-run.pcapng"]
fn write_shim_fixture() {
    if std::env::var_os("UPDATE_FIXTURE").is_none() {
        return;
    }
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-tf");
    let image = busybox_oci(dir.path());
    cd.ctr_ok(&["-n", "fixture", "images", "import", image.to_str().unwrap()]);
    let pcap = dir.path().join("shim-run.pcapng");
    // Shim traffic only: containerd's ttrpc socket and the shims'.
    let ttrpc = cd.ttrpc_sock.display().to_string();
    let rec = Recorder::start(
        &pcap,
        &["--socket", &ttrpc, "--socket", "/run/containerd/s/*"],
    );
    cd.ctr_ok(&[
        "-n",
        "fixture",
        "run",
        "--rm",
        IMAGE,
        "shim-fixture",
        "/bin/sh",
        "-c",
        "echo hi",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "{stderr}");
    let to = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shim-run.pcapng");
    std::fs::copy(&pcap, &to).expect("copy the fixture");
    eprintln!("wrote {}", to.display());
}
