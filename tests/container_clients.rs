//! A client inside a container that reaches the runtime socket (as root):
//! `ctr version` run by `ctr run` in a busybox container with the host's
//! /usr (and /lib, /lib64) and the test containerd's directory mounted,
//! against that containerd. Its connection is marked as coming from a
//! container, with the container's id, in the table, the JSON, the
//! capture's comments and the summary, live and offline; the host's
//! clients (`ctr version` on the host, `ctr run` itself) are not.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::{bin, busybox_oci, require_root, short_tempdir, tshark, Containerd, Recorder};

const IMAGE: &str = "docker.io/library/busybox:snoop";
const VERSION: &str = "/containerd.services.version.v1.Version/Version";

fn objects(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The Version requests, by the container id of their writer (None: the
/// host); each also says whether its object carries `from_container`.
fn version_requests(objects: &[Value]) -> Vec<(Option<String>, bool)> {
    let mut v: Vec<(Option<String>, bool)> = objects
        .iter()
        .filter(|o| o["type"] == "message" && o["direction"] == "request")
        .filter(|o| o["method"] == VERSION)
        .map(|o| {
            let c = &o["writer"]["container"];
            assert!(
                o["writer"].get("container").is_some(),
                "a live or recorded writer's place is known: {o}"
            );
            (
                c["id"].as_str().map(str::to_string),
                o.get("from_container") == Some(&Value::Bool(true)),
            )
        })
        .collect();
    v.sort();
    v
}

/// Runs `ctr version` in container `id`, in the cgroup `cgroup` when given
/// (`ctr run --cgroup`, as kubelet lays pods out), else containerd's
/// `/default/<id>`.
fn run_in_container(cd: &Containerd, id: &str, cgroup: Option<&str>) {
    let dir = cd.dir.path().display().to_string();
    let sock = cd.sock.display().to_string();
    let bind = |src: &str| format!("type=bind,src={src},dst={src},options=rbind:ro");
    let mut args = vec!["run", "--rm"];
    if let Some(path) = cgroup {
        args.extend(["--cgroup", path]);
    }
    let mounts: Vec<String> = ["/usr", "/lib", "/lib64", dir.as_str()]
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| bind(p))
        .collect();
    for m in &mounts {
        args.extend(["--mount", m.as_str()]);
    }
    args.extend([IMAGE, id, "/usr/bin/ctr", "-a", &sock, "version"]);
    let out = cd.ctr_ok(&args);
    assert!(out.contains("Server:"), "ctr in the container: {out}");
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn a_client_in_a_container_is_marked_and_host_clients_are_not() {
    marked_on("sock", false);
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn the_syscall_hook_marks_it_too_and_a_kubelet_layout_names_the_pod() {
    marked_on("syscalls", true);
}

/// The pod uid of the kubelet-like cgroup (cgroupfs layout).
const POD_UID: &str = "2b3c4d5e-6f70-4a1b-9c2d-3e4f5a6b7c8d";

fn marked_on(hook: &str, kubelet: bool) {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-cg");
    let oci = busybox_oci(dir.path());
    cd.ctr_ok(&["images", "import", oci.to_str().unwrap()]);
    // Longer than 12 characters: the table shortens it.
    let id = format!("snoop-{hook}-{}", std::process::id());
    let short = &id[..12];
    let sock = cd.sock.display().to_string();
    let at = |name: &str| dir.path().join(name);
    let pcap = at("rec.pcapng");

    let json = Recorder::start_command(
        &at("json"),
        &["trace", "--json", "--hook", hook, "--socket", &sock],
    );
    let table =
        Recorder::start_command(&at("table"), &["trace", "--hook", hook, "--socket", &sock]);
    let only = Recorder::start_command(
        &at("only"),
        &[
            "trace",
            "--json",
            "--from-container",
            "--hook",
            hook,
            "--socket",
            &sock,
        ],
    );
    let record = Recorder::start(&pcap, &["--hook", hook, "--socket", &sock]);
    cd.ctr_ok(&["version"]);
    let cgroup = format!("/kubepods/besteffort/pod{POD_UID}/{id}");
    run_in_container(&cd, &id, kubelet.then_some(cgroup.as_str()));
    cd.ctr_ok(&["version"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut stderr = Vec::new();
    for r in [json, table, only, record] {
        let (status, err) = r.stop();
        assert!(status.success(), "a tracer failed: {err}");
        stderr.push(err);
    }
    let stdout = |name: &str| std::fs::read_to_string(at(&format!("{name}.stdout"))).unwrap();
    let summary = format!("1 connection to the runtime socket from a container: container {short}");

    // JSON: the container's client and the two host clients.
    let live = objects(&stdout("json"));
    let want = vec![(None, false), (None, false), (Some(id.clone()), true)];
    assert_eq!(version_requests(&live), want, "{live:#?}");
    let pod = live
        .iter()
        .find(|o| o["writer"]["container"]["id"] == id.as_str())
        .map(|o| o["writer"]["container"]["pod"].clone());
    let want_pod = match kubelet {
        true => serde_json::json!({"namespace": null, "name": null, "uid": POD_UID}),
        false => Value::Null,
    };
    assert_eq!(pod, Some(want_pod), "the pod uid when the cgroup names it");
    // The server answering the container's client names it as its peer.
    assert!(
        live.iter().any(|o| o["direction"] == "response"
            && o["peer"]["container"]["id"] == id.as_str()
            && o["writer"]["container"].is_null()),
        "containerd (host) answers the container's client"
    );
    for err in &stderr {
        assert!(err.contains(&summary), "the summary counts it: {err}");
    }

    // --from-container keeps that connection alone.
    let only = objects(&stdout("only"));
    assert!(!only.is_empty());
    assert!(
        only.iter().all(|o| o["from_container"] == true),
        "{only:#?}"
    );
    assert_eq!(version_requests(&only), vec![(Some(id.clone()), true)]);

    // The table marks its rows, with the id cut to 12 characters.
    let table = stdout("table");
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("Version/Version"))
        .collect();
    let marked = rows
        .iter()
        .filter(|l| l.contains(&format!("from_container={short}]")))
        .count();
    assert_eq!(rows.len(), 6, "three calls, request and response: {table}");
    assert_eq!(marked, 2, "the container's call alone: {table}");
    assert!(
        !table.contains(&format!("from_container={id}")),
        "shortened: {table}"
    );

    // The capture's comments: the writer's container and both sides' on the SYN.
    let comments = tshark([
        "-r",
        pcap.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "frame.comment",
    ]);
    let place = match kubelet {
        true => format!("container={id} pod_uid={POD_UID}"),
        false => format!("container={id}"),
    };
    let writer = format!("comm=ctr thread_comm=ctr {place}");
    assert!(
        comments.lines().any(|l| l.ends_with(&writer)),
        "{writer} in {comments}"
    );
    assert!(
        comments.lines().any(|l| l.starts_with("connection ")
            && l.contains(&format!("comm=ctr {place} inode="))
            && l.contains("comm=containerd container=- inode=")),
        "{comments}"
    );
    assert!(
        comments.contains("comm=ctr thread_comm=ctr container=-"),
        "host ctr: {comments}"
    );

    // decode reads them back: the same marks and summary.
    let out = Command::new(bin())
        .args(["decode", "--json"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    let offline = objects(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(version_requests(&offline), want);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&summary));
    let out = Command::new(bin())
        .args(["decode", "--from-container"])
        .arg(&pcap)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.contains(&format!("from_container={short}"))),
        "{text}"
    );
    assert!(text.contains("Version/Version"), "{text}");
}
