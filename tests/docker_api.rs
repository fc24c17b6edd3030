//! The Docker Engine API on dockerd's unix socket, decoded as calls: a
//! private dockerd (Debian's 20.10) on a private containerd, driven by the
//! docker CLI and by curl, recorded; every request the clients made is a
//! call with its operation and status (tshark's HTTP dissector on the same
//! file is the oracle, with nothing malformed), streams and hijacked
//! sessions show their bytes, and a registry password sent in
//! `X-Registry-Auth`, in a `/auth` body and in a query appears nowhere in
//! the table, the JSON or the redacted capture.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;

use common::http::{
    calls_as_tshark_shows, holds, objects, redacted, tshark_http, wireshark_problems,
};
use common::{
    busybox_docker_archive, decode_ok, require_root, run_bounded, short_tempdir, tshark,
    Containerd, Dockerd, Recorder, DOCKER_IMAGE,
};

/// The registry password the test sends; it must show up nowhere.
const PASSWORD: &str = "hunter2-Zq7";

/// `curl --unix-socket SOCK ARGS...`, whatever it answers.
fn curl(sock: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30", "--unix-socket"])
        .arg(sock)
        .args(args);
    let out = run_bounded(&mut cmd, "curl", Duration::from_secs(40));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn docker_cli_calls_are_decoded_with_their_operations() {
    require_root();
    let cd = Containerd::start();
    let dk = Dockerd::start(&cd);
    let dir = short_tempdir("cs-docker");
    let at = |n: &str| dir.path().join(n);
    let pcap = at("docker.pcapng");
    let sock = dk.sock.to_str().unwrap().to_string();
    let archive = busybox_docker_archive(dir.path());

    let rec = Recorder::start(&pcap, &["--socket", &sock]);
    let trace = Recorder::start_command(&at("trace"), &["trace", "--json", "--socket", &sock]);
    let t0 = now_s();
    dk.docker_ok(&["version"]);
    dk.docker_ok(&["info"]);
    dk.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    dk.docker_ok(&["images"]);
    let hi = dk.docker_ok(&["run", "--rm", DOCKER_IMAGE, "echo", "hello-from-run"]);
    assert_eq!(hi.trim(), "hello-from-run");
    let id = dk.docker_ok(&[
        "run",
        "-d",
        DOCKER_IMAGE,
        "sh",
        "-c",
        "echo log-one; sleep 2; echo log-two; sleep 3",
    ]);
    let id = id.trim();
    let exec = dk.docker_ok(&["exec", id, "echo", "exec-out"]);
    assert_eq!(exec.trim(), "exec-out");
    let logs = dk.docker_ok(&["logs", "-f", id]);
    assert!(
        logs.contains("log-one") && logs.contains("log-two"),
        "{logs}"
    );
    let id2 = dk.docker_ok(&[
        "run",
        "-d",
        DOCKER_IMAGE,
        "sh",
        "-c",
        "sleep 1; echo attached-out; sleep 1",
    ]);
    let id2 = id2.trim();
    let attached = dk.docker_ok(&["attach", "--no-stdin", id2]);
    assert!(attached.contains("attached-out"), "{attached}");
    dk.docker_ok(&["rm", id, id2]);
    let until = now_s() + 1;
    dk.docker_ok(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        &until.to_string(),
    ]);
    let missing = dk.try_docker(&["inspect", "no-such-container-x"]);
    assert!(!missing.status.success());
    // A pull with registry credentials (there is no network: it fails),
    // a login, and a query carrying a password.
    let auth = serde_json::json!({"username": "snoop", "password": PASSWORD, "serveraddress": "registry.invalid"});
    let header = base64::engine::general_purpose::URL_SAFE.encode(auth.to_string());
    curl(
        &dk.sock,
        &[
            "-X",
            "POST",
            "-H",
            &format!("X-Registry-Auth: {header}"),
            "http://docker/v1.41/images/create?fromImage=registry.invalid/x&tag=1",
        ],
    );
    curl(
        &dk.sock,
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data",
            &auth.to_string(),
            "http://docker/v1.41/auth",
        ],
    );
    curl(
        &dk.sock,
        &[&format!(
            "http://docker/v1.41/containers/json?password={PASSWORD}"
        )],
    );
    std::thread::sleep(Duration::from_millis(500));
    let (status, err) = rec.stop();
    assert!(status.success(), "record failed: {err}");
    let (status, err) = trace.stop();
    assert!(status.success(), "trace failed: {err}");
    // Live, the same calls: trace names them as decode does.
    let live = objects(&std::fs::read_to_string(at("trace.stdout")).unwrap());
    let live_calls: Vec<&Value> = live.iter().filter(|o| o["type"] == "call").collect();
    let live_methods: Vec<&str> = live_calls
        .iter()
        .filter_map(|c| c["method"].as_str())
        .collect();
    for op in [
        "/docker/ContainerCreate",
        "/docker/ExecStart",
        "/docker/SystemEvents",
    ] {
        assert!(
            live_methods.contains(&op),
            "trace shows {op}: {live_methods:?}"
        );
    }
    assert!(!std::fs::read_to_string(at("trace.stdout"))
        .unwrap()
        .contains(PASSWORD));

    // Ours: the calls Wireshark shows (nothing malformed), with their operations.
    let json = decode_ok(&pcap, &["--json", "--show-secrets"]);
    let objs = objects(&json);
    let (calls, requests) = calls_as_tshark_shows(&pcap, &objs);
    assert!(requests >= 20, "{requests} requests");
    let mut ops: BTreeMap<String, u32> = BTreeMap::new();
    for c in &calls {
        *ops.entry(c["method"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for op in [
        "SystemVersion",
        "SystemInfo",
        "ImageLoad",
        "ImageList",
        "ContainerCreate",
        "ContainerAttach",
        "ContainerStart",
        "ContainerWait",
        "ContainerLogs",
        "ContainerExec",
        "ExecStart",
        "ContainerDelete",
        "SystemEvents",
        "ContainerInspect",
        "ImageCreate",
        "SystemAuth",
        "ContainerList",
    ] {
        assert!(
            ops.contains_key(&format!("/docker/{op}")),
            "{op} in {ops:#?}"
        );
    }
    // The missing container: an ERR row with the API's message.
    let miss = calls
        .iter()
        .find(|c| c["http"]["status"] == 404 && c["method"] == "/docker/ContainerInspect")
        .expect("a 404 inspect");
    assert!(
        miss["grpc_message"].as_str().unwrap().contains("No such"),
        "{miss}"
    );
    let table = decode_ok(&pcap, &[]);
    assert!(
        table
            .lines()
            .any(|l| l.contains(" ERR ") && l.contains("HTTP 404") && l.contains("No such")),
        "{table}"
    );
    // Streams: what run, logs, exec and attach printed is in the messages.
    for text in [
        "hello-from-run",
        "log-one",
        "log-two",
        "exec-out",
        "attached-out",
    ] {
        assert!(
            objs.iter().any(|o| o["message"]["preview"]
                .as_str()
                .is_some_and(|p| p.contains(text))
                || o["message"].as_str().is_some_and(|p| p.contains(text))),
            "{text} in the stream messages"
        );
    }
    // The containers were created without a TTY: their attach and exec
    // streams are cut into stdout frames (Tty from the create and exec
    // start bodies).
    for (op, text) in [
        ("/docker/ContainerAttach", "hello-from-run"),
        ("/docker/ExecStart", "exec-out"),
        ("/docker/ContainerAttach", "attached-out"),
    ] {
        assert!(
            objs.iter().any(|o| o["method"] == op
                && o["body"]["kind"] == "stdout"
                && o["message"]["preview"] == format!("{text}\n")),
            "{op} shows {text} as stdout"
        );
    }
    assert!(
        table
            .lines()
            .any(|l| l.contains(" STDOUT ") && l.contains("hello-from-run")),
        "{table}"
    );
    // Events: one message per JSON object, on the events call.
    let events = objs
        .iter()
        .filter(|o| {
            o["type"] == "message"
                && o["method"] == "/docker/SystemEvents"
                && o["direction"] == "response"
        })
        .filter(|o| o["message"]["Type"].is_string())
        .count();
    assert!(events >= 5, "events as JSON objects: {events}");
    // The image load body is summarised.
    assert!(objs.iter().any(|o| o["method"] == "/docker/ImageLoad"
        && o["body"]["summarised"] == true
        && o["body"]["bytes"].as_u64().unwrap() > 100_000));

    // The password: nowhere in the table, the JSON, or the redacted capture.
    let redacted_json = decode_ok(&pcap, &["--json"]);
    assert!(!redacted_json.contains(PASSWORD), "JSON shows the password");
    assert!(!table.contains(PASSWORD), "the table shows the password");
    assert!(json.contains(PASSWORD), "--show-secrets shows it");
    let clean = at("clean.pcapng");
    let bytes = redacted(&pcap, &clean);
    assert!(holds(&std::fs::read(&pcap).unwrap(), PASSWORD));
    assert!(
        !holds(&bytes, PASSWORD),
        "the redacted capture holds the password"
    );
    // X-Registry-Auth: base64 of the same length, of JSON without the password.
    let auth_json = |pcap: &Path| -> String {
        let lines = tshark([
            "-r",
            pcap.to_str().unwrap(),
            "-Y",
            "http.request",
            "-T",
            "fields",
            "-e",
            "http.request.line",
        ]);
        let value = lines
            .split([',', '\n'])
            .find_map(|l| l.strip_prefix("X-Registry-Auth: "))
            .expect("the X-Registry-Auth header")
            .trim_end_matches("\\r\\n")
            .trim();
        let json = base64::engine::general_purpose::URL_SAFE
            .decode(value)
            .expect("base64");
        String::from_utf8(json).expect("UTF-8")
    };
    assert!(auth_json(&pcap).contains(PASSWORD));
    let after = auth_json(&clean);
    assert!(
        after.contains(r#""username":"snoop""#) && !after.contains(PASSWORD),
        "{after}"
    );
    assert_eq!(
        wireshark_problems(&clean),
        "",
        "Wireshark finds problems in the redacted capture"
    );
    let (requests_after, _) = tshark_http(&clean);
    assert_eq!(requests_after.len(), requests);
}

/// Re-records `tests/fixtures/docker-session.pcapng` (dummy credentials only):
/// `UPDATE_FIXTURE=1 cargo test --test docker_api write_docker_fixture -- --ignored`.
#[test]
#[ignore = "needs root; writes the fixture only with UPDATE_FIXTURE set"]
fn write_docker_fixture() {
    if std::env::var_os("UPDATE_FIXTURE").is_none() {
        return;
    }
    require_root();
    let cd = Containerd::start();
    let dk = Dockerd::start(&cd);
    let dir = short_tempdir("cs-dfix");
    let archive = busybox_docker_archive(dir.path());
    dk.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    let pcap = dir.path().join("docker-session.pcapng");
    let sock = dk.sock.to_str().unwrap().to_string();
    let rec = Recorder::start(&pcap, &["--socket", &sock]);
    dk.docker_ok(&["version"]);
    dk.docker_ok(&["run", "--rm", DOCKER_IMAGE, "echo", "hello-fixture"]);
    assert!(!dk
        .try_docker(&["inspect", "no-such-container"])
        .status
        .success());
    let auth = serde_json::json!({"username": "dummy", "password": "dummy-password", "serveraddress": "registry.invalid"});
    let header = base64::engine::general_purpose::URL_SAFE.encode(auth.to_string());
    curl(
        &dk.sock,
        &[
            "-X",
            "POST",
            "-H",
            &format!("X-Registry-Auth: {header}"),
            "http://docker/v1.41/images/create?fromImage=registry.invalid/x&tag=1",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let (status, err) = rec.stop();
    assert!(status.success(), "{err}");
    let to = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docker-session.pcapng");
    std::fs::copy(&pcap, &to).unwrap();
}
