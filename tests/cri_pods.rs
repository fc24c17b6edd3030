//! Which pod and container each call is about, for real (as root): two pods
//! live side by side through containerd's CRI plugin, driven by a grpcio
//! client as kubelet drives them (tests/peers/cri_pods.py), while `trace
//! --json` and `record` watch the CRI socket, containerd's ttrpc socket and
//! the shims'. Every CRI call of each pod and its container's shim Task
//! calls carry that pod's namespace, name and uid (and the container's id
//! and name), never the other pod's; `decode` of the recording says the
//! same; the table names them instead of printing ids; `report` draws a
//! sequence diagram for each pod.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::report::report_ok;
use common::{
    busybox_oci, decode_ok, pause_oci, require_root, runtime_sockets, short_tempdir, Containerd,
    Recorder,
};

const IMAGE: &str = "docker.io/library/busybox:snoop";

/// The ids the client printed for one pod.
#[derive(Debug, Clone)]
struct Pod {
    name: String,
    sandbox: String,
    container: String,
}

fn objects(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn pods_of(stdout: &str) -> Vec<Pod> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert!(v.get("error").is_none(), "a CRI call failed: {l}");
            Pod {
                name: v["pod"].as_str().unwrap().to_owned(),
                sandbox: v["sandbox_id"].as_str().unwrap().to_owned(),
                container: v["container_id"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

/// The shim's Task requests about task `id` each pass `check`, and its
/// Create, Start, Kill and Delete are among them.
fn task_calls_name(live: &[Value], id: &str, check: impl Fn(&Value)) {
    let methods: Vec<&str> = live
        .iter()
        .filter(|o| {
            o["type"] == "message" && o["direction"] == "request" && o["message"]["id"] == id
        })
        .map(|o| {
            check(o);
            o["method"].as_str().unwrap()
        })
        .collect();
    for m in ["Create", "Start", "Kill", "Delete"] {
        let path = format!("/containerd.task.v2.Task/{m}");
        assert!(methods.contains(&path.as_str()), "{m} of {id}: {methods:?}");
    }
}

/// (connection, stream, method) -> (pod name, container name, sandbox id)
/// of every call object.
type Attribution = BTreeMap<(u64, u64, String), (Value, Value, Value)>;

fn attribution(objs: &[Value]) -> Attribution {
    objs.iter()
        .filter(|o| o["type"] == "call")
        .map(|o| {
            (
                (
                    o["connection"].as_u64().unwrap(),
                    o["stream"].as_u64().unwrap(),
                    o["method"].as_str().unwrap_or("").to_owned(),
                ),
                (
                    o["pod"]["name"].clone(),
                    o["container"]["name"].clone(),
                    o["sandbox_id"].clone(),
                ),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn every_call_of_a_pod_names_it_and_no_other() {
    require_root();
    let cd = Containerd::start_with_cri();
    let dir = short_tempdir("cs-pods");
    for image in [pause_oci(dir.path()), busybox_oci(dir.path())] {
        cd.ctr_ok(&["-n", "k8s.io", "images", "import", image.to_str().unwrap()]);
    }
    // A start-up race in the kernel side (src/bpf/sock_hook.bpf.h) can
    // leave a tracer's acks off, or the client's first bytes taken for a
    // connection older than the capture; either tracer then says so in its
    // summary. Attribution is asserted in full on a run where neither had
    // to, and never wrong on every run.
    let mut clean = false;
    for attempt in 1..=3 {
        let names = [format!("alpha{attempt}"), format!("beta{attempt}")];
        if run(&cd, dir.path(), attempt, &names) {
            clean = true;
            break;
        }
    }
    assert!(clean, "no run without a capture start-up race in 3");
}

/// One run with pods `names`; whether it was clean (all asserted).
fn run(cd: &Containerd, dir: &std::path::Path, attempt: u32, names: &[String; 2]) -> bool {
    let owned = runtime_sockets(cd);
    let sockets: Vec<&str> = owned.iter().map(String::as_str).collect();
    let out = dir.join(format!("pods{attempt}.pcapng"));
    let rec = Recorder::start(&out, &sockets);
    let mut args = vec!["trace", "--json", "--no-binary-schemas"];
    args.extend_from_slice(&sockets);
    let trace_base = dir.join(format!("trace{attempt}"));
    let tr = Recorder::start_command(&trace_base, &args);

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cri_pods.py");
    let client = Command::new("/usr/bin/python3")
        .arg("-I")
        .arg(&script)
        .arg(format!("unix://{}", cd.sock.display()))
        .args([IMAGE, names[0].as_str(), names[1].as_str()])
        .output()
        .expect("run the CRI client (apt-get install python3-grpcio)");
    let stdout = String::from_utf8_lossy(&client.stdout);
    assert!(
        client.status.success() && stdout.ends_with("done\n"),
        "CRI client failed: {stdout}\n{}\ncontainerd log:\n{}",
        String::from_utf8_lossy(&client.stderr),
        cd.log()
    );
    let pods = pods_of(&stdout);
    assert_eq!(pods.len(), 2);
    std::thread::sleep(Duration::from_millis(500));
    let (status, trace_err) = tr.stop();
    assert!(status.success(), "trace failed: {trace_err}");
    let (status, record_err) = rec.stop();
    assert!(status.success(), "record failed: {record_err}");

    let live =
        objects(&std::fs::read_to_string(dir.join(format!("trace{attempt}.stdout"))).unwrap());
    let unclean = [&trace_err, &record_err].iter().any(|e| {
        e.contains("ordered by time bound")
            || e.contains("stayed unnamed")
            || e.contains("recovered from the servers")
    });
    // Never wrong, on every run: an object whose message names one pod's
    // ids is that pod's or unknown.
    for pod in &pods {
        let other = pods.iter().find(|p| p.name != pod.name).unwrap();
        for o in &live {
            let text = o["message"].to_string();
            if text.contains(&pod.sandbox) || text.contains(&pod.container) {
                assert_ne!(o["pod"]["name"], other.name.as_str(), "{o}");
            }
        }
    }
    if unclean {
        eprintln!("run {attempt} had a capture start-up race:\n{trace_err}\n{record_err}");
        return false;
    }
    for pod in &pods {
        // Every CRI call of the pod names it, by namespace, name and uid.
        let cri: Vec<&Value> = live
            .iter()
            .filter(|o| {
                o["type"] == "call"
                    && o["method"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("/runtime.v1.RuntimeService/"))
                    && o["pod"]["name"] == pod.name.as_str()
            })
            .collect();
        let methods: Vec<&str> = cri.iter().map(|o| o["method"].as_str().unwrap()).collect();
        for m in [
            "RunPodSandbox",
            "CreateContainer",
            "StartContainer",
            "ContainerStatus",
            "StopContainer",
            "RemoveContainer",
            "StopPodSandbox",
            "RemovePodSandbox",
        ] {
            let path = format!("/runtime.v1.RuntimeService/{m}");
            assert!(
                methods.contains(&path.as_str()),
                "{m} of {}: {methods:?}",
                pod.name
            );
        }
        for o in &cri {
            assert_eq!(o["pod"]["namespace"], "default", "{o}");
            assert_eq!(o["pod"]["uid"], format!("uid-{}", pod.name), "{o}");
            assert_eq!(o["sandbox_id"], pod.sandbox.as_str(), "{o}");
        }
        // The container's calls name it.
        for o in cri.iter().filter(|o| {
            o["method"]
                .as_str()
                .is_some_and(|m| m.contains("Container") && !m.ends_with("CreateContainer"))
        }) {
            assert_eq!(o["container"]["id"], pod.container.as_str(), "{o}");
            assert_eq!(o["container"]["name"], format!("app-{}", pod.name), "{o}");
        }
        // The sandbox's own shim Task calls, even those before RunPodSandbox
        // returned its id (they wait for it, however long the sandbox takes
        // to start), and its container's.
        task_calls_name(&live, &pod.sandbox, |o| {
            assert_eq!(o["pod"]["name"], pod.name.as_str(), "{o}");
            assert_eq!(o["sandbox_id"], pod.sandbox.as_str(), "{o}");
        });
        task_calls_name(&live, &pod.container, |o| {
            assert_eq!(o["pod"]["name"], pod.name.as_str(), "{o}");
            assert_eq!(o["container"]["id"], pod.container.as_str(), "{o}");
        });
    }

    // `--pod` shows that pod's calls and nothing else (the same pipeline
    // live and offline; here on the recording).
    let only = format!("default/{}", names[0]);
    let shown = objects(&decode_ok(&out, &["--json", "--pod", only.as_str()]));
    assert!(
        shown.iter().all(|o| o["pod"]["name"] == names[0].as_str()),
        "{shown:#?}"
    );
    let methods: Vec<&str> = shown
        .iter()
        .filter(|o| o["type"] == "call")
        .filter_map(|o| o["method"].as_str())
        .collect();
    for m in [
        "/runtime.v1.RuntimeService/RunPodSandbox",
        "/runtime.v1.RuntimeService/RemoveContainer",
        "/runtime.v1.RuntimeService/RemovePodSandbox",
        "/containerd.task.v2.Task/Create",
        "/containerd.task.v2.Task/Delete",
    ] {
        assert!(methods.contains(&m), "--pod shows {m}: {methods:?}");
    }

    // The recording, decoded, says the same of every call.
    let offline = objects(&decode_ok(&out, &["--json"]));
    let (a, b) = (attribution(&live), attribution(&offline));
    let differ: Vec<_> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| (k, v, b.get(k)))
        .collect();
    assert!(
        differ.is_empty() && a.len() == b.len(),
        "live vs decoded: {differ:#?}"
    );

    // The table names pods and containers, and shortens the ids it named.
    let table = decode_ok(&out, &[]);
    let start = table
        .lines()
        .find(|l| l.contains("StartContainer") && l.contains("REQ"))
        .expect("a StartContainer request row");
    assert!(
        start.contains(&format!("pod=default/{0} ctr=app-{0}", names[0]))
            && start.contains(&pods[0].container[..12]),
        "{start}"
    );
    assert!(!start.contains(&pods[0].container), "{start}");

    // The report of the recording draws one sequence diagram per pod,
    // holding the pod's lifecycle from RunPodSandbox to RemovePodSandbox.
    let html = report_ok(&out, &dir.join(format!("pods{attempt}.html")), &[]);
    let drawn = common::report::drawn(&html);
    let mut diagrams = drawn.pod_diagrams.clone();
    diagrams.sort();
    let want: Vec<String> = names.iter().map(|n| format!("default/{n}")).collect();
    assert_eq!(diagrams, want, "one sequence diagram per pod");
    let tags = common::report::tags(&html);
    for pod in &want {
        let requests: Vec<&str> = tags
            .iter()
            .filter(|t| t.has_class("arrow") && t.has_class("req"))
            .filter(|t| t.attr("data-pod") == Some(pod.as_str()))
            .filter_map(|t| t.attr("data-method"))
            .collect();
        for m in ["RunPodSandbox", "StartContainer", "RemovePodSandbox"] {
            let path = format!("/runtime.v1.RuntimeService/{m}");
            assert!(
                requests.contains(&path.as_str()),
                "{m} of {pod}: {requests:?}"
            );
        }
        assert!(
            requests.contains(&"/containerd.task.v2.Task/Create"),
            "the shim's calls of {pod}: {requests:?}"
        );
    }
    true
}

/// Runs tests/peers/cri_pods.py with `args` against `cd`'s CRI socket; its
/// stdout, which ends with `done`.
fn cri_client(cd: &Containerd, args: &[&str]) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cri_pods.py");
    let client = Command::new("/usr/bin/python3")
        .arg("-I")
        .arg(&script)
        .arg(format!("unix://{}", cd.sock.display()))
        .args(args)
        .output()
        .expect("run the CRI client (apt-get install python3-grpcio)");
    let stdout = String::from_utf8_lossy(&client.stdout).into_owned();
    assert!(
        client.status.success() && stdout.ends_with("done\n"),
        "CRI client {args:?} failed: {stdout}\n{}\ncontainerd log:\n{}",
        String::from_utf8_lossy(&client.stderr),
        cd.log()
    );
    stdout
}

/// Pods that ran before the capture began are learned from kubelet's
/// relist (ListPodSandbox, ListContainers): after the first one, calls
/// about them name them; a pod removed meanwhile leaves the map (the
/// tracer's own count of its entries, `--state-sizes`).
#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn pods_started_before_the_capture_are_named_after_a_relist() {
    require_root();
    let cd = Containerd::start_with_cri();
    let dir = short_tempdir("cs-relist");
    for image in [pause_oci(dir.path()), busybox_oci(dir.path())] {
        cd.ctr_ok(&["-n", "k8s.io", "images", "import", image.to_str().unwrap()]);
    }
    let pods = pods_of(&cri_client(&cd, &[IMAGE, "--keep", "early", "gone"]));
    assert_eq!(pods.len(), 2);
    let pair = |p: &Pod| format!("{},{}", p.sandbox, p.container);

    let owned = runtime_sockets(&cd);
    let sizes_path = dir.path().join("sizes.json");
    let sizes_arg = sizes_path.display().to_string();
    let mut args = vec!["trace", "--json", "--no-binary-schemas"];
    args.extend(owned.iter().map(String::as_str));
    args.extend_from_slice(&["--state-sizes", &sizes_arg]);
    let tr = Recorder::start_command(&dir.path().join("trace"), &args);
    let said = cri_client(
        &cd,
        &["-", "--relist", "6", &pair(&pods[0]), &pair(&pods[1])],
    );
    assert!(said.contains("asked\nremoved\n"), "{said}");
    // The removal's grace (2 s) and the pipeline's upstream bound (3 s)
    // are over: only the pod still listed is kept.
    std::thread::sleep(Duration::from_secs(1));
    let sizes: BTreeMap<String, u64> =
        serde_json::from_str(&std::fs::read_to_string(&sizes_path).unwrap()).unwrap();
    let (status, err) = tr.stop();
    assert!(status.success(), "trace failed: {err}");
    cri_client(&cd, &["-", "--remove", &pair(&pods[0])]);
    assert_eq!(
        (sizes["subjects.sandboxes"], sizes["subjects.containers"]),
        (1, 1),
        "{sizes:?}"
    );

    let live = objects(&std::fs::read_to_string(dir.path().join("trace.stdout")).unwrap());
    let calls = |method: &str| -> Vec<&Value> {
        live.iter()
            .filter(|o| {
                o["type"] == "call"
                    && o["method"] == format!("/runtime.v1.RuntimeService/{method}").as_str()
            })
            .collect()
    };
    // Lists are about no single pod.
    for m in ["ListPodSandbox", "ListContainers"] {
        let lists = calls(m);
        assert!(lists.len() >= 5, "{m}: {lists:?}");
        assert!(lists.iter().all(|o| o["pod"].is_null()), "{lists:?}");
    }
    // After the first relist, calls name the pods it listed.
    let early = &pods[0];
    for (m, container) in [("ContainerStatus", true), ("PodSandboxStatus", false)] {
        let found = calls(m);
        assert_eq!(found.len(), 1, "{m}: {found:?}");
        let o = found[0];
        assert_eq!(o["pod"]["name"], "early", "{o}");
        assert_eq!(o["pod"]["namespace"], "default", "{o}");
        assert_eq!(o["pod"]["uid"], "uid-early", "{o}");
        assert_eq!(o["sandbox_id"], early.sandbox.as_str(), "{o}");
        if container {
            assert_eq!(o["container"]["id"], early.container.as_str(), "{o}");
            assert_eq!(o["container"]["name"], "app-early", "{o}");
        }
    }
    for m in [
        "StopContainer",
        "RemoveContainer",
        "StopPodSandbox",
        "RemovePodSandbox",
    ] {
        let found = calls(m);
        assert_eq!(found.len(), 1, "{m}: {found:?}");
        assert_eq!(found[0]["pod"]["name"], "gone", "{}", found[0]);
    }
}
