//! Podman's API on its unix socket, decoded as calls: a private `podman system service`
//! (Debian's podman 4.3, its own root and run root) driven by `podman --remote`, recorded;
//! every request is a call with its libpod operation and status (tshark's HTTP dissector on
//! the same file is the oracle, with nothing malformed), and the password a pull sends in
//! its query appears nowhere in the table, the JSON or the redacted capture.

mod common;

use serde_json::Value;

use common::http::{
    calls_as_tshark_shows, holds, objects, redacted, tshark_http, wireshark_problems,
};
use common::{busybox_docker_archive, decode_ok, require_root, short_tempdir, Podman, Recorder};

/// The registry password the pull sends; it must show up nowhere.
const PASSWORD: &str = "hunter2-Pm4";

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn podman_remote_calls_are_decoded_with_their_operations() {
    require_root();
    let pm = Podman::start();
    let dir = short_tempdir("cs-podman");
    let pcap = dir.path().join("podman.pcapng");
    let archive = busybox_docker_archive(dir.path());
    let sock = pm.sock.to_str().unwrap().to_string();

    let rec = Recorder::start(&pcap, &["--socket", &sock]);
    pm.podman_ok(&["version"]);
    pm.podman_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(pm.podman_ok(&["images"]).contains("busybox"));
    let id = pm.podman_ok(&[
        "create",
        "--name",
        "snoop-c",
        "--network",
        "none",
        "busybox:snoop",
        "echo",
        "hello-podman",
    ]);
    let id = id.trim().to_string();
    pm.podman_ok(&["start", &id]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(pm.podman_ok(&["logs", &id]).contains("hello-podman"));
    pm.podman_ok(&["rm", &id]);
    // No network: the pull fails, its call and error are what count.
    let creds = format!("snoop:{PASSWORD}");
    let pull = pm.try_podman(&["pull", "--creds", &creds, "registry.invalid/x:1"]);
    assert!(!pull.status.success());
    let (status, err) = rec.stop();
    assert!(status.success(), "record failed: {err}");

    let json = decode_ok(&pcap, &["--json", "--show-secrets"]);
    let objs = objects(&json);
    let (calls, requests) = calls_as_tshark_shows(&pcap, &objs);
    let methods: Vec<&str> = calls
        .iter()
        .map(|c| c["method"].as_str().unwrap())
        .collect();
    for op in [
        "SystemVersionLibpod",
        "ImageLoadLibpod",
        "ImageListLibpod",
        "ContainerCreateLibpod",
        "ContainerStartLibpod",
        "ContainerLogsLibpod",
        "ContainerDeleteLibpod",
        "ImagePullLibpod",
    ] {
        let want = format!("/podman/{op}");
        assert!(methods.contains(&want.as_str()), "{op} in {methods:?}");
    }
    // The pull: its password is in the query, and the call says why it failed.
    // (`podman load` pulls too, with policy=missing and no credentials.)
    let target = |o: &Value| o["http"]["target"].as_str().unwrap_or_default().to_string();
    let pull = calls
        .iter()
        .find(|c| {
            c["method"] == "/podman/ImagePullLibpod" && target(c).contains("registry.invalid")
        })
        .expect("the pull");
    assert!(target(pull).contains(&format!("password={PASSWORD}")));
    let pull_rows = objs
        .iter()
        .filter(|o| o["direction"] == "response" && target(o) == target(pull))
        .map(|o| o["message"].to_string())
        .collect::<String>();
    assert!(pull_rows.contains("registry.invalid"), "{pull_rows}");
    // The logs: stdcopy frames (the create body said no terminal).
    assert!(
        objs.iter()
            .any(|o| o["method"] == "/podman/ContainerLogsLibpod"
                && o["body"]["kind"] == "stdout"
                && o["message"]["preview"] == "hello-podman\n"),
        "the logs as stdout"
    );
    // --method matches Docker's and Podman's names of an operation alike.
    let created = decode_ok(&pcap, &["--json", "--method", "*ContainerCreate*"]);
    let created = objects(&created);
    assert!(!created.is_empty());
    assert!(created
        .iter()
        .all(|o| o["method"] == "/podman/ContainerCreateLibpod"));

    // The password: nowhere in the table, the JSON, or the redacted capture.
    let table = decode_ok(&pcap, &[]);
    assert!(table.contains("podman/ContainerCreateLibpod"), "{table}");
    assert!(!table.contains(PASSWORD), "the table shows the password");
    let json_redacted = decode_ok(&pcap, &["--json"]);
    assert!(
        !json_redacted.contains(PASSWORD),
        "the JSON shows the password"
    );
    assert!(json_redacted.contains("password=<redacted 11 bytes>"));
    let clean = dir.path().join("clean.pcapng");
    let bytes = redacted(&pcap, &clean);
    assert!(holds(&std::fs::read(&pcap).unwrap(), PASSWORD));
    assert!(
        !holds(&bytes, PASSWORD),
        "the redacted capture holds the password"
    );
    assert_eq!(wireshark_problems(&clean), "");
    assert_eq!(tshark_http(&clean).0.len(), requests);
}
