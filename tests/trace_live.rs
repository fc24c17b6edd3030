//! `trace` against a real containerd (as root): decoded requests with their
//! fields, client streaming, and a capture that starts mid-connection.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{busybox_oci, require_root, short_tempdir, Containerd, Recorder};

fn objects(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn method(o: &Value) -> Option<&str> {
    o["method"].as_str()
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn trace_decodes_ctr_requests_and_streams() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-trace");
    let image = busybox_oci(dir.path());
    let sock = cd.sock.display().to_string();
    let base = dir.path().join("trace");
    let tr = Recorder::start_command(&base, &["trace", "--json", "--socket", &sock]);
    cd.ctr_ok(&["namespaces", "create", "snoop-ns-7"]);
    cd.ctr_ok(&[
        "-n",
        "snoopimg",
        "images",
        "import",
        image.to_str().unwrap(),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr) = tr.stop();
    assert!(status.success(), "trace failed: {stderr}");
    let all = objects(&std::fs::read_to_string(base.with_file_name("trace.stdout")).unwrap());

    let create = all
        .iter()
        .find(|o| {
            o["type"] == "message"
                && method(o) == Some("/containerd.services.namespaces.v1.Namespaces/Create")
                && o["direction"] == "request"
        })
        .expect("the Namespaces/Create request");
    assert_eq!(
        create["message"]["namespace"]["name"], "snoop-ns-7",
        "{create}"
    );
    assert_eq!(create["writer"]["comm"], "ctr");
    assert_eq!(create["peer"]["comm"], "containerd");
    assert_eq!(create["schema"], "typed");

    let writes: Vec<&Value> = all
        .iter()
        .filter(|o| {
            o["type"] == "message"
                && method(o) == Some("/containerd.services.content.v1.Content/Write")
        })
        .collect();
    let requests = writes
        .iter()
        .filter(|o| o["direction"] == "request")
        .count();
    let responses = writes
        .iter()
        .filter(|o| o["direction"] == "response")
        .count();
    assert!(
        requests >= 2 && responses >= 2,
        "Content/Write stream: {requests} requests, {responses} responses"
    );
    let ends: Vec<&Value> = all
        .iter()
        .filter(|o| {
            o["type"] == "call"
                && method(o) == Some("/containerd.services.content.v1.Content/Write")
        })
        .collect();
    assert!(
        !ends.is_empty()
            && ends
                .iter()
                .all(|o| o["status"] == 0 && o["latency_us"].as_f64().is_some()),
        "{ends:?}"
    );
    assert!(
        all.iter().all(|o| o["type"] != "gap"),
        "no bytes may be lost here"
    );
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn capture_started_mid_connection_never_misattributes() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-mid");
    let image = busybox_oci(dir.path());
    cd.ctr_ok(&[
        "-n",
        "snoopmid",
        "images",
        "import",
        image.to_str().unwrap(),
    ]);
    // One ctr process, one connection: calls before the capture starts
    // (create, start, wait) and after (delete, cleanup).
    let mut ctr = Command::new("ctr")
        .args([
            "-a",
            cd.sock.to_str().unwrap(),
            "-n",
            "snoopmid",
            "run",
            "--rm",
        ])
        .args([
            "docker.io/library/busybox:snoop",
            "mid1",
            "sh",
            "-c",
            "sleep 2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let base = dir.path().join("mid");
    let sock = cd.sock.display().to_string();
    let tr = Recorder::start_command(&base, &["trace", "--json", "--socket", &sock]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while ctr.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "ctr run did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ctr.wait().unwrap().success(), "ctr run failed");
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr) = tr.stop();
    assert!(status.success(), "trace failed: {stderr}");
    let all = objects(&std::fs::read_to_string(base.with_file_name("mid.stdout")).unwrap());
    let messages: Vec<&Value> = all.iter().filter(|o| o["type"] == "message").collect();
    assert!(
        !messages.is_empty(),
        "nothing decoded after the start: {all:?}"
    );
    let known: Vec<&Value> = messages
        .iter()
        .copied()
        .filter(|o| method(o).is_some())
        .collect();
    assert!(
        known
            .iter()
            .any(|o| method(o) == Some("/containerd.services.tasks.v1.Tasks/Delete")),
        "Tasks/Delete, first used after the capture began, must decode with its path: {all:?}"
    );
    // A message attributed to a method decodes as that method's type: a
    // wrong path would make the typed decode fail or pick the wrong type.
    for o in &known {
        assert_eq!(o["schema"], "typed", "{o}");
        let t = o["message_type"].as_str().unwrap();
        let m = method(o).unwrap().rsplit('/').next().unwrap();
        assert!(
            t.contains(m) || t.starts_with("google.protobuf."),
            "{t} for {m}: {o}"
        );
    }
}
