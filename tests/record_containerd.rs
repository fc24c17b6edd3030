//! Recording a real containerd (as root): every ctr call shows up in tshark
//! as gRPC with request and response, and Wireshark finds nothing malformed.

mod common;

use std::collections::HashSet;

use common::{busybox_oci, http2_calls, require_root, short_tempdir, tshark, Containerd, Recorder};

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn ctr_calls_are_dissected_by_wireshark() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-ctr");
    let image = busybox_oci(dir.path());
    let pcap = dir.path().join("ctr.pcapng");
    let sock = cd.sock.display().to_string();
    let rec = Recorder::start(&pcap, &["--socket", &sock]);
    cd.ctr_ok(&["version"]);
    cd.ctr_ok(&["namespaces", "create", "snooptest"]);
    assert!(cd.ctr_ok(&["namespaces", "ls"]).contains("snooptest"));
    cd.ctr_ok(&["namespaces", "remove", "snooptest"]);
    cd.ctr_ok(&[
        "-n",
        "snoopimg",
        "images",
        "import",
        image.to_str().unwrap(),
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    assert!(stderr.contains("no drops"), "{stderr}");

    let pcap_arg = pcap.display().to_string();
    // Every request path, and which calls got a response, frame by frame:
    // a trailers-only response (an error such as NotFound) is plain HTTP/2.
    let calls = http2_calls(&pcap_arg);
    let paths = &calls.paths;
    let answered = &calls.answered;
    let expected = [
        "/containerd.services.version.v1.Version/Version",
        "/containerd.services.namespaces.v1.Namespaces/Create",
        "/containerd.services.namespaces.v1.Namespaces/List",
        "/containerd.services.namespaces.v1.Namespaces/Delete",
        "/containerd.services.content.v1.Content/Write",
        "/containerd.services.images.v1.Images/Create",
        "/containerd.services.leases.v1.Leases/Create",
    ];
    let found: HashSet<&str> = paths.values().map(String::as_str).collect();
    for want in expected {
        assert!(
            found.contains(want),
            "{want} not dissected; found {found:?}"
        );
    }
    for (key, path) in paths {
        assert!(
            answered.contains(key),
            "{path} on {key:?} has no response in the capture"
        );
    }
    // Every connection was captured from its start, so every message has
    // its method: a response written into the capture before its request
    // would have none (and trips Wireshark's gRPC dissector).
    let decoded = std::process::Command::new(common::bin())
        .args(["decode", &pcap_arg, "--json"])
        .output()
        .expect("containerdsnoop decode runs");
    assert!(decoded.status.success());
    for line in String::from_utf8_lossy(&decoded.stdout).lines() {
        let o: serde_json::Value = serde_json::from_str(line).expect("NDJSON");
        if o["type"] == "message" {
            assert!(o["method"].is_string(), "message without its method: {o}");
        }
    }
    let problems = tshark([
        "-r",
        &pcap_arg,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
    ]);
    assert!(
        problems.trim().is_empty(),
        "Wireshark flags problems:\n{problems}"
    );
}
