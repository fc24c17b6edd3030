//! Recording a real containerd (as root): every ctr call shows up in tshark
//! as gRPC with request and response, and Wireshark finds nothing malformed.

mod common;

use std::collections::{HashMap, HashSet};

use common::{busybox_oci, require_root, short_tempdir, tshark, Containerd, Recorder};

#[test]
fn ctr_calls_are_dissected_by_wireshark() {
    if !require_root() {
        return;
    }
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
    // Every packet with HTTP/2 headers: requests are gRPC, and a
    // trailers-only response (an error such as NotFound) is plain HTTP/2.
    let rows = tshark([
        "-r",
        &pcap_arg,
        "-Y",
        "grpc || http2.headers.status",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "tcp.stream",
        "-e",
        "http2.streamid",
        "-e",
        "http2.headers.path",
        "-e",
        "http2.headers.status",
        "-e",
        "grpc.message_length",
    ]);
    // (tcp stream, http2 stream) -> path, and which of them got a response.
    let mut paths: HashMap<(String, String), String> = HashMap::new();
    let mut answered: HashSet<(String, String)> = HashSet::new();
    for line in rows.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let (tcp, streams, path, status) = (f[0], f[1], f[2], f[3]);
        // A packet can hold frames of several streams; the last is the gRPC one.
        let stream = streams.rsplit(',').next().unwrap_or("").to_string();
        if !path.is_empty() {
            paths.insert((tcp.to_string(), stream.clone()), path.to_string());
        }
        if status.split(',').any(|s| s == "200") {
            answered.insert((tcp.to_string(), stream));
        }
    }
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
    for (key, path) in &paths {
        assert!(
            answered.contains(key),
            "{path} on {key:?} has no response in the capture"
        );
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
