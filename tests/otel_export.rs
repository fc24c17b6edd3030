//! Spans reach a real OpenTelemetry collector (rotel, see tests/common/otel.rs),
//! as root: a ctr session through `trace --otlp-endpoint`, and a CRI pod's
//! whole life through `agent` (stopped with SIGTERM, as Kubernetes stops
//! it). One span per call the NDJSON output shows, named `service/method`,
//! kind SERVER, with its status, its duration, the processes at both ends
//! and, on a pod's calls, the pod.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::otel::{Collector, ReceivedSpan};
use common::{
    busybox_oci, pause_oci, require_root, runtime_sockets, short_tempdir, Containerd, Recorder,
};

const IMAGE: &str = "docker.io/library/busybox:snoop";

fn objects(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// span name -> count.
fn census<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in names {
        *m.entry(n.to_string()).or_default() += 1;
    }
    m
}

/// What every span of ours has, whatever the call.
fn common_checks(s: &ReceivedSpan, socket_prefix: &str) {
    assert_eq!(s.kind, "SPAN_KIND_SERVER", "{s:?}");
    assert!(s.end_ns > s.start_ns, "duration 0: {s:?}");
    assert_eq!(s.attr("network.transport"), "unix");
    assert!(s.attr("server.address").starts_with(socket_prefix), "{s:?}");
    assert_eq!(s.resource["service.name"], "containerdsnoop");
    assert!(s.resource.contains_key("host.name"), "{s:?}");
    let method = s.attr("rpc.method");
    assert_eq!(method, s.name, "{s:?}");
    let status = s.attr("rpc.response.status_code");
    if status == "OK" || status == "UNFINISHED" {
        assert_eq!(s.status, "", "{s:?}");
        assert!(!s.attrs.contains_key("error.type"), "{s:?}");
    } else {
        assert_eq!(s.status, "STATUS_CODE_ERROR", "{s:?}");
        assert_eq!(s.attr("error.type"), status);
    }
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn a_ctr_session_becomes_one_span_per_call() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-otel");
    let collector = Collector::start(dir.path());
    let sock = cd.sock.display().to_string();
    let base = dir.path().join("trace");
    let tr = Recorder::start_command(
        &base,
        &[
            "trace",
            "--json",
            "--socket",
            &sock,
            "--otlp-endpoint",
            &collector.endpoint,
        ],
    );
    // A long stream: Events/Subscribe, open until the capture ends.
    let mut events = Command::new("ctr")
        .arg("-a")
        .arg(&cd.sock)
        .arg("events")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ctr events");
    std::thread::sleep(Duration::from_millis(300));
    cd.ctr_ok(&["version"]);
    cd.ctr_ok(&["namespaces", "create", "otel-ns"]);
    cd.ctr_ok(&["namespaces", "ls"]);
    cd.ctr_ok(&["namespaces", "remove", "otel-ns"]);
    // An error status: there is no such task.
    let out = cd.try_ctr(&["tasks", "kill", "otel-none"]);
    assert!(!out.status.success());
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr) = tr.stop();
    let _ = events.kill();
    let _ = events.wait();
    assert!(status.success(), "trace failed: {stderr}");
    let calls: Vec<Value> =
        objects(&std::fs::read_to_string(dir.path().join("trace.stdout")).unwrap())
            .into_iter()
            .filter(|o| o["type"] == "call")
            .collect();
    assert!(calls.len() >= 6, "{calls:?}");
    let spans = collector.wait_spans(calls.len(), Duration::from_secs(20));
    // One span per call, by name.
    let want = census(
        calls
            .iter()
            .map(|c| c["method"].as_str().unwrap().trim_start_matches('/')),
    );
    let got = census(spans.iter().map(|s| s.name.as_str()));
    assert_eq!(got, want, "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("{} spans exported", calls.len())),
        "{stderr}"
    );
    // The stream's span ended with the capture, its events counted:
    // namespace create and delete were published while it was open.
    let (subscribe, spans): (Vec<ReceivedSpan>, Vec<ReceivedSpan>) = spans
        .into_iter()
        .partition(|s| s.name == "containerd.services.events.v1.Events/Subscribe");
    assert_eq!(subscribe.len(), 1, "{subscribe:?}");
    let sub = &subscribe[0];
    assert_eq!(sub.attr("containerdsnoop.unfinished"), "true", "{sub:?}");
    assert_eq!(sub.attr("rpc.response.status_code"), "UNFINISHED");
    assert!(sub.end_ns > sub.start_ns);
    // The request and at least the two namespace events.
    assert!(
        sub.attr("containerdsnoop.messages").parse::<u32>().unwrap() >= 3,
        "{sub:?}"
    );
    for s in &spans {
        common_checks(s, &sock);
        assert_eq!(s.attr("rpc.system.name"), "grpc");
        assert_eq!(s.attr("server.process.executable.name"), "containerd");
        assert_eq!(s.attr("server.process.pid"), cd.pid().to_string());
        assert_eq!(s.attr("client.process.executable.name"), "ctr");
        assert!(s.attr("client.process.pid").parse::<u32>().is_ok());
        // Request and response; an error answers with trailers only.
        let messages = if s.status.is_empty() { "2" } else { "1" };
        assert_eq!(s.attr("containerdsnoop.messages"), messages, "{s:?}");
    }
    let create = spans
        .iter()
        .find(|s| s.name == "containerd.services.namespaces.v1.Namespaces/Create")
        .expect("Namespaces/Create");
    assert_eq!(create.attr("containerd.namespace"), "default");
    // The failed kill: NOT_FOUND, its message as the span status's.
    let failed: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.status == "STATUS_CODE_ERROR")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].attr("rpc.response.status_code"), "NOT_FOUND");
    assert!(failed[0].status_message.contains("otel-none"), "{failed:?}");
    // The NDJSON's latency is the span's duration.
    for c in &calls {
        let us = c["latency_us"].as_f64().unwrap();
        let name = c["method"].as_str().unwrap().trim_start_matches('/');
        assert!(
            spans
                .iter()
                .chain(&subscribe)
                .any(|s| s.name == name
                    && ((s.end_ns - s.start_ns) as f64 / 1000.0 - us).abs() < 1.0),
            "no span of {name} lasting {us} µs"
        );
    }
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn the_agent_exports_a_pods_life_with_the_pod_named() {
    require_root();
    let cd = Containerd::start_with_cri();
    let dir = short_tempdir("cs-otelpod");
    for image in [pause_oci(dir.path()), busybox_oci(dir.path())] {
        cd.ctr_ok(&["-n", "k8s.io", "images", "import", image.to_str().unwrap()]);
    }
    // Attribution races the capture's start-up as in tests/cri_pods.rs:
    // asserted in full on a run where the agent had no such race.
    for attempt in 1..=3 {
        if pod_run(&cd, dir.path(), attempt) {
            return;
        }
    }
    panic!("no run without a capture start-up race in 3");
}

fn pod_run(cd: &Containerd, dir: &std::path::Path, attempt: u32) -> bool {
    let collector = Collector::start(dir);
    let metrics = format!("127.0.0.1:{}", common::otel::free_port());
    let mut args = vec![
        "agent".to_string(),
        "--no-binary-schemas".into(),
        "--status-interval".into(),
        "0.5".into(),
        "--metrics-addr".into(),
        metrics.clone(),
    ];
    args.extend(runtime_sockets(cd));
    let base = dir.join(format!("agent{attempt}"));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    // The endpoint from the environment, as a DaemonSet sets it.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint);
    std::env::set_var("NODE_NAME", "node-under-test");
    let agent = Recorder::start_command(&base, &argv);
    std::env::remove_var("OTEL_EXPORTER_OTLP_ENDPOINT");
    std::env::remove_var("NODE_NAME");
    let name = format!("otel{attempt}");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cri_pods.py");
    let client = Command::new("/usr/bin/python3")
        .arg("-I")
        .arg(&script)
        .arg(format!("unix://{}", cd.sock.display()))
        .args([IMAGE, name.as_str()])
        .output()
        .expect("run the CRI client (apt-get install python3-grpcio)");
    let stdout = String::from_utf8_lossy(&client.stdout);
    assert!(
        client.status.success() && stdout.ends_with("done\n"),
        "CRI client failed: {stdout}\n{}",
        String::from_utf8_lossy(&client.stderr)
    );
    let ids: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let (sandbox, container) = (
        ids["sandbox_id"].as_str().unwrap().to_string(),
        ids["container_id"].as_str().unwrap().to_string(),
    );
    // The agent waits for the pod map up to 10 s of event time for
    // calls whose ids it does not know yet; then SIGTERM, as Kubernetes.
    std::thread::sleep(Duration::from_millis(1500));
    let scraped = common::otel::get(&format!("http://{metrics}/metrics")).expect("metrics");
    std::fs::write(dir.join(format!("metrics{attempt}.txt")), &scraped).unwrap();
    assert!(scraped.contains("containerdsnoop_up 1"), "{scraped}");
    assert!(
        scraped.contains("containerdsnoop_calls_total{protocol=\"grpc\",service=\"runtime.v1.RuntimeService\",method=\"RunPodSandbox\",status=\"OK\"} 1"),
        "{scraped}"
    );
    let (status, stderr) = agent.stop_with(libc::SIGTERM);
    assert!(status.success(), "agent failed ({status}): {stderr}");
    // Its status lines are JSON, and say it was attached.
    let statuses: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!statuses.is_empty(), "{stderr}");
    assert!(statuses.iter().all(|s| s["attached"] == true), "{stderr}");
    let sent: u64 = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("containerdsnoop: ")?
                .split_once(" spans exported")?
                .0
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no export summary: {stderr}"));
    let spans = collector.wait_spans(sent as usize, Duration::from_secs(20));
    assert_eq!(spans.len() as u64, sent, "{stderr}");
    if [
        "ordered by time bound",
        "stayed unnamed",
        "recovered from the servers",
    ]
    .iter()
    .any(|r| stderr.contains(r))
    {
        eprintln!("run {attempt} had a capture start-up race:\n{stderr}");
        return false;
    }
    for s in &spans {
        assert_eq!(s.resource["k8s.node.name"], "node-under-test");
        assert!(
            s.end_ns > s.start_ns || s.attrs.contains_key("containerdsnoop.start_unknown"),
            "{s:?}"
        );
        assert!(
            !s.name.contains(&sandbox) && !s.name.contains(&container),
            "{s:?}"
        );
    }
    let pod_span = |method: &str| {
        spans.iter().find(|s| s.name == method).unwrap_or_else(|| {
            panic!(
                "no {method} span: {:?}",
                census(spans.iter().map(|s| s.name.as_str()))
            )
        })
    };
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
        let s = pod_span(&format!("runtime.v1.RuntimeService/{m}"));
        common_checks(s, &cd.sock.display().to_string());
        assert_eq!(s.attr("rpc.system.name"), "grpc");
        assert_eq!(s.attr("rpc.response.status_code"), "OK", "{s:?}");
        assert_eq!(s.attr("containerd.subject.pod.name"), name, "{s:?}");
        assert_eq!(s.attr("containerd.subject.pod.namespace"), "default");
        assert_eq!(s.attr("containerd.subject.pod.uid"), format!("uid-{name}"));
        assert_eq!(s.attr("containerd.subject.sandbox.id"), sandbox);
        assert_eq!(s.attr("server.process.executable.name"), "containerd");
        assert_eq!(s.attr("client.process.executable.name"), "python3");
    }
    for m in [
        "CreateContainer",
        "StartContainer",
        "StopContainer",
        "RemoveContainer",
    ] {
        let s = pod_span(&format!("runtime.v1.RuntimeService/{m}"));
        assert_eq!(
            s.attr("containerd.subject.container.id"),
            container,
            "{s:?}"
        );
        assert_eq!(
            s.attr("containerd.subject.container.name"),
            format!("app-{name}")
        );
    }
    // The shim's ttrpc Task calls about the pod's container name it too.
    let tasks: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name.starts_with("containerd.task.v2.Task/"))
        .collect();
    assert!(!tasks.is_empty());
    for s in &tasks {
        assert_eq!(s.attr("rpc.system.name"), "ttrpc", "{s:?}");
        assert!(
            s.attr("server.address").starts_with("/run/containerd/s/"),
            "{s:?}"
        );
        assert_eq!(s.attr("containerd.namespace"), "k8s.io", "{s:?}");
    }
    let start = tasks
        .iter()
        .find(|s| {
            s.name == "containerd.task.v2.Task/Start"
                && s.attrs.get("containerd.subject.container.id") == Some(&container)
        })
        .unwrap_or_else(|| panic!("no Task/Start of the container: {tasks:?}"));
    assert_eq!(start.attr("containerd.subject.pod.name"), name);
    true
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn an_agent_that_cannot_attach_stays_up_and_says_why() {
    require_root();
    let dir = short_tempdir("cs-agentdown");
    let metrics = format!("127.0.0.1:{}", common::otel::free_port());
    let err = dir.path().join("agent.stderr");
    // As nobody, with no capability: loading BPF is refused.
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(common::bin())
        .args([
            "agent",
            "--metrics-addr",
            &metrics,
            "--status-interval",
            "0.2",
        ])
        .args(["--otlp-endpoint", "http://127.0.0.1:9"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("setpriv (util-linux)");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let scraped = loop {
        if let Some(s) = common::otel::get(&format!("http://{metrics}/metrics")) {
            break s;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the agent exited: {}",
            std::fs::read_to_string(&err).unwrap()
        );
        assert!(std::time::Instant::now() < deadline, "no metrics");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(scraped.contains("\ncontainerdsnoop_up 0\n"), "{scraped}");
    std::thread::sleep(Duration::from_millis(1000));
    // Still up: not a crash loop.
    assert!(child.try_wait().unwrap().is_none());
    // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let stderr = std::fs::read_to_string(&err).unwrap();
    let statuses: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(statuses.len() >= 3, "{stderr}");
    for s in &statuses {
        assert_eq!(s["attached"], false, "{s}");
        assert!(s["error"].as_str().unwrap().contains("root"), "{s}");
    }
}
