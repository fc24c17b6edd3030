//! The deployment in `deploy/`: the Kubernetes manifests validate strictly, each privilege of
//! the DaemonSet is there for a reason, and the image built here (scripts/build-image.sh) runs
//! under podman with exactly what the DaemonSet grants (flags derived from the YAML), its spans
//! for calls on a throwaway containerd reaching a real collector. Without each grant, the run
//! fails the way the manifest's comment says.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::daemonset::{daemonset, deploy_dir, venv_bin, yaml_documents, EnvValue, Grants};
use common::kubelet::{pod_json, KubeletPod};
use common::otel::{free_port, get, Collector};
use common::podman_image::{stderr_of, Images, RUNTIME_DEFAULT_SECCOMP};
use common::{pause_oci, require_root, short_tempdir, Containerd, CriClient, Recorder};

/// The capabilities the DaemonSet adds, each proven needed below.
const CAPS: [&str; 4] = ["BPF", "PERFMON", "SYS_PTRACE", "SYS_ADMIN"];
/// The node name the test gives the agent for the downward API's `spec.nodeName`.
const NODE: &str = "snoop-node-1";
/// Attaching in a container, and the metrics server coming up.
const AGENT_READY: Duration = Duration::from_secs(30);

fn manifests() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(deploy_dir().join("kubernetes"))
        .expect("deploy/kubernetes")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

fn kubernetes_validate(files: &[std::path::PathBuf]) -> std::process::Output {
    Command::new(venv_bin("kubernetes-validate"))
        .args(["--strict", "--quiet"])
        .args(files)
        .output()
        .expect("run kubernetes-validate")
}

#[test]
#[ignore = "needs the test venv (kubernetes-validate): scripts/install-deps.sh makes it"]
fn manifests_validate_strictly() {
    let files = manifests();
    let out = kubernetes_validate(&files);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Strict means strict: a misspelt field in a copy is refused.
    let dir = short_tempdir("cs-validate");
    let ds = std::fs::read_to_string(deploy_dir().join("kubernetes/02-daemonset.yaml")).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, ds.replace("hostPID:", "hostPid:")).unwrap();
    let out = kubernetes_validate(&[bad]);
    assert!(!out.status.success(), "a misspelt field passed");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hostPid")
            || String::from_utf8_lossy(&out.stderr).contains("hostPid"),
        "{out:?}"
    );
}

#[test]
#[ignore = "needs the test venv (PyYAML): scripts/install-deps.sh makes it"]
fn the_daemonset_grants_only_what_it_says_why() {
    let ds = daemonset();
    let g = Grants::of(&ds);
    assert!(g.host_pid && g.host_network, "{g:?}");
    assert!(!g.privileged && g.drop_all && g.read_only_root, "{g:?}");
    assert_eq!(g.run_as_user, Some(0));
    assert_eq!(g.caps, CAPS, "each added capability needs its proof below");
    assert!(g.seccomp.is_some(), "an explicit seccompProfile");
    // Each capability carries its reason on its line.
    let text = std::fs::read_to_string(deploy_dir().join("kubernetes/02-daemonset.yaml")).unwrap();
    for cap in CAPS {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("- {cap} ")))
            .unwrap_or_else(|| panic!("no line adds {cap}"));
        let why = line.split_once('#').map_or("", |(_, w)| w.trim());
        assert!(why.len() > 20, "{cap} has no reason: {line}");
    }
    // Read-only host paths: BTF, tracefs, the runtime's sockets; nothing else.
    let mut hosts: Vec<&str> = g.mounts.iter().map(|m| m.host.as_str()).collect();
    hosts.sort();
    assert_eq!(
        hosts,
        ["/run/containerd", "/sys/kernel/btf", "/sys/kernel/tracing"]
    );
    assert!(g.mounts.iter().all(|m| m.read_only), "{:?}", g.mounts);

    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert_eq!(pod["automountServiceAccountToken"], false);
    // Every taint tolerated: a toleration with no key and operator Exists.
    assert!(
        pod["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["operator"] == "Exists" && t["key"].is_null() && t["effect"].is_null()),
        "{}",
        pod["tolerations"]
    );
    let c = &pod["containers"][0];
    for kind in ["requests", "limits"] {
        assert!(c["resources"][kind]["memory"].is_string(), "{kind}: {c}");
    }
    assert!(c["resources"]["requests"]["cpu"].is_string(), "{c}");
    // Both probes on /metrics, at the port --metrics-addr names.
    let port = metrics_port(&g.args);
    let named = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .expect("a port named metrics");
    assert_eq!(named["containerPort"], port);
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/metrics", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "metrics", "{probe}");
    }
    // The node from the downward API; a Collector's OTLP/HTTP endpoint as a flag, not in the
    // environment a `kubectl exec`'d record would inherit.
    let env: BTreeMap<&str, &EnvValue> = g.env.iter().map(|(k, v)| (k.as_str(), v)).collect();
    assert_eq!(env["NODE_NAME"], &EnvValue::Field("spec.nodeName".into()));
    assert!(
        env.keys().all(|k| !k.starts_with("OTEL_EXPORTER_OTLP")),
        "{env:?}"
    );
    let endpoint = g
        .args
        .iter()
        .find_map(|a| a.strip_prefix("--otlp-endpoint="))
        .expect("--otlp-endpoint=URL in the arguments");
    assert!(
        endpoint.starts_with("http://") && endpoint.ends_with(":4318"),
        "{endpoint}"
    );
    assert_eq!(g.args[0], "agent");
    assert_eq!(
        g.image,
        format!("localhost/containerdsnoop:{}", env!("CARGO_PKG_VERSION")),
        "the image scripts/build-image.sh tags"
    );

    // One namespace for all, and the ServiceAccount the pod names.
    let docs: Vec<Value> = manifests().iter().flat_map(|f| yaml_documents(f)).collect();
    let ns = docs
        .iter()
        .find(|d| d["kind"] == "Namespace")
        .expect("a Namespace")["metadata"]["name"]
        .clone();
    for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
        assert_eq!(d["metadata"]["namespace"], ns, "{}", d["kind"]);
    }
    let sa = docs
        .iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .expect("a ServiceAccount");
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"]);
}

/// The port of `--metrics-addr=ADDR:PORT` in the container's arguments.
fn metrics_port(args: &[String]) -> u64 {
    let addr = args
        .iter()
        .find_map(|a| a.strip_prefix("--metrics-addr="))
        .expect("--metrics-addr=ADDR:PORT in the arguments");
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {addr}"))
}

#[test]
#[ignore = "needs the test venv (PyYAML): scripts/install-deps.sh makes it"]
fn the_collector_example_wires_spanmetrics() {
    let docs = yaml_documents(&deploy_dir().join("otel-collector.yaml"));
    let config = &docs[0];
    let pipelines = config["service"]["pipelines"]
        .as_object()
        .expect("pipelines");
    // Every component a pipeline names is defined.
    for (name, p) in pipelines {
        for (section, kinds) in [
            ("receivers", ["receivers", "connectors"]),
            ("processors", ["processors", "processors"]),
            ("exporters", ["exporters", "connectors"]),
        ] {
            for c in p[section].as_array().unwrap_or(&vec![]) {
                let c = c.as_str().unwrap();
                assert!(
                    kinds.iter().any(|k| config[k].get(c).is_some()),
                    "pipeline {name}: {section} {c} is not defined"
                );
            }
        }
    }
    let traces = &config["service"]["pipelines"]["traces"];
    assert!(config["receivers"]["otlp"]["protocols"]["http"].is_object());
    assert_eq!(traces["receivers"][0], "otlp");
    assert!(traces["processors"]
        .as_array()
        .unwrap()
        .contains(&"batch".into()));
    let exporters = traces["exporters"].as_array().unwrap();
    assert!(exporters.contains(&"spanmetrics".into()));
    assert!(exporters
        .iter()
        .any(|e| config["exporters"].get(e.as_str().unwrap()).is_some()));
    // spanmetrics turns the spans into a metrics pipeline's input.
    let metrics = &config["service"]["pipelines"]["metrics"];
    assert_eq!(metrics["receivers"][0], "spanmetrics");
}

/// The files `ldd` lists for `binary` (the loader included, linux-vdso not: it is in the
/// kernel), without the leading `/`.
fn ldd_files(binary: &Path) -> Vec<String> {
    let out = Command::new("ldd").arg(binary).output().expect("run ldd");
    assert!(out.status.success(), "ldd failed: {out:?}");
    let mut files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [_, "=>", path, ..] if path.starts_with('/') => Some(path.to_string()),
                [path, ..] if path.starts_with('/') => Some(path.to_string()),
                _ => None,
            }
        })
        .map(|p| p.trim_start_matches('/').to_owned())
        .collect();
    assert!(files.len() >= 2, "ldd listed {files:?}");
    files.sort();
    files
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn the_image_holds_the_binary_and_exactly_its_libraries() {
    require_root();
    let dir = short_tempdir("cs-image");
    let images = Images::build(dir.path(), &common::bin());
    let mut want = ldd_files(&common::bin());
    want.push("usr/local/bin/containerdsnoop".into());
    want.sort();
    assert_eq!(images.files(), want);
    let out = images.run_ok(&["--version"]);
    assert_eq!(
        out.trim(),
        format!("containerdsnoop {}", env!("CARGO_PKG_VERSION"))
    );
}

/// What the test runs as the DaemonSet's container: its grants, the throwaway containerd's
/// directory mounted read-only beside them (standing in for /run/containerd), its environment
/// with the downward API's node name, and its arguments with the test's collector, the metrics
/// on a free port of 127.0.0.1 (the host's network) and the test's sockets.
struct Pod {
    /// `podman run` flags: the grants, the environment, the extra mount.
    flags: Vec<String>,
    /// The environment, resolved.
    envs: Vec<(String, String)>,
    args: Vec<String>,
    metrics: String,
}

impl Pod {
    fn new(g: &Grants, cd: &Containerd, endpoint: &str, command: &[&str]) -> Pod {
        // hostPath's DirectoryOrCreate, which podman's -v does not do.
        for m in &g.mounts {
            std::fs::create_dir_all(&m.host).expect("a mount's host path");
        }
        let mut flags = g.podman_flags(Path::new(RUNTIME_DEFAULT_SECCOMP));
        let dir = cd.dir.path().display().to_string();
        flags.extend(["-v".into(), format!("{dir}:{dir}:ro")]);
        let envs: Vec<(String, String)> = g
            .env
            .iter()
            .map(|(name, value)| {
                let value = match (name.as_str(), value) {
                    (_, EnvValue::Field(f)) if f == "spec.nodeName" => NODE.to_owned(),
                    (_, EnvValue::Field(f)) => panic!("no test value for the downward API's {f}"),
                    (_, EnvValue::Literal(v)) => v.clone(),
                };
                (name.clone(), value)
            })
            .collect();
        for (name, value) in &envs {
            flags.extend(["-e".into(), format!("{name}={value}")]);
        }
        let metrics = format!("127.0.0.1:{}", free_port());
        let mut args: Vec<String> = g
            .args
            .iter()
            .map(|a| {
                if a.starts_with("--metrics-addr=") {
                    format!("--metrics-addr={metrics}")
                } else if a.starts_with("--otlp-endpoint=") {
                    format!("--otlp-endpoint={endpoint}")
                } else {
                    a.clone()
                }
            })
            .collect();
        if command != ["agent"] {
            // `trace` serves no metrics: only the grants and the sockets carry over.
            args = command.iter().map(|&a| a.to_owned()).collect();
        }
        // containerd's own sockets; not its shims' (/run/containerd/s/ is shared by every
        // containerd on the host, and this test runs no container).
        for sock in [&cd.sock, &cd.ttrpc_sock] {
            args.extend(["--socket".into(), sock.display().to_string()]);
        }
        Pod {
            flags,
            envs,
            args,
            metrics,
        }
    }
}

/// /proc/PID/status of the agent serving metrics at `metrics` (its command line names it).
fn agent_status(metrics: &str) -> String {
    let arg = format!("--metrics-addr={metrics}");
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        // Not podman's own process, whose command line holds the argument too.
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if comm.trim_end() == "containerdsnoop"
            && cmdline.split(|&b| b == 0).any(|a| a == arg.as_bytes())
        {
            return std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        }
    }
    panic!("no process has {arg} in its command line");
}

/// `/metrics` of the agent once a line of it is `want` (`containerdsnoop_up 1`), as the
/// probes see it; `exited` says why not when the agent is gone, `log` is its output so far.
fn wait_metrics(
    metrics: &str,
    want: &str,
    mut exited: impl FnMut() -> Option<String>,
    log: impl Fn() -> String,
) -> String {
    let url = format!("http://{metrics}/metrics");
    let deadline = Instant::now() + AGENT_READY;
    loop {
        if let Some(body) = get(&url) {
            if body.lines().any(|l| l == want) {
                return body;
            }
        }
        if let Some(why) = exited() {
            panic!("the agent exited ({why}):\n{}", log());
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not say {want} within {AGENT_READY:?}:\n{}\n{}",
            get(&url).unwrap_or_default(),
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn the_image_runs_with_the_daemonsets_grants_and_its_spans_reach_a_collector() {
    require_root();
    let grants = Grants::of(&daemonset());
    let dir = short_tempdir("cs-deploy");
    let images = Images::build(dir.path(), &common::bin());
    let cd = Containerd::start_with_cri();
    let collector = Collector::start(dir.path());
    // A client connected before the agent, as kubelet is: its calls are named only if the
    // HPACK uprobes attach (SYS_ADMIN, SYS_PTRACE, the host's network).
    let cri = CriClient::start(&cd.sock);
    let pod = Pod::new(&grants, &cd, &collector.endpoint, &["agent"]);
    let mut agent = images.run(dir.path(), "cs-agent", &pod.flags, &pod.args);
    let log_file = agent.log_file();
    let before = wait_metrics(
        &pod.metrics,
        "containerdsnoop_up 1",
        || agent.exited().map(|s| s.to_string()),
        || std::fs::read_to_string(&log_file).unwrap_or_default(),
    );
    assert!(before.contains("# EOF"), "not OpenMetrics text: {before}");
    assert_status(&agent_status(&pod.metrics), &grants.caps);
    // What trace on the host sees of the same calls, for comparison.
    let reference = dir.path().join("reference");
    let (sock, ttrpc) = (
        cd.sock.display().to_string(),
        cd.ttrpc_sock.display().to_string(),
    );
    let host = Recorder::start_command(
        &reference,
        &["trace", "--json", "--socket", &sock, "--socket", &ttrpc],
    );
    // A capture from the node as the README takes one: `record` run in the agent's container
    // (`kubectl exec`), beside the agent.
    let pcap = dir.path().join("node.pcapng");
    let record_args = ["containerdsnoop", "record", "-o", "-", "--socket", &sock];
    let mut record = agent.exec(&[&record_args[..], &["--duration", "6"]].concat(), &pcap);
    let deadline = Instant::now() + AGENT_READY;
    while !std::fs::read_to_string(stderr_of(&pcap)).is_ok_and(|e| e.contains("attached")) {
        assert!(
            record.try_wait().unwrap().is_none(),
            "record in the container exited"
        );
        assert!(
            Instant::now() < deadline,
            "record in the container did not attach"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    cd.ctr_ok(&["version"]);
    cd.ctr_ok(&["namespaces", "create", "deploy-ns"]);
    cd.ctr_ok(&["namespaces", "ls"]);
    cd.ctr_ok(&["namespaces", "remove", "deploy-ns"]);
    assert!(!cd
        .try_ctr(&["tasks", "kill", "deploy-none"])
        .status
        .success());
    let results = cri.run();
    std::thread::sleep(Duration::from_millis(500));
    let (status, stderr) = host.stop();
    assert!(status.success(), "trace on the host failed: {stderr}");
    let calls: Vec<String> = std::fs::read_to_string(dir.path().join("reference.stdout"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("NDJSON"))
        .filter(|o| o["type"] == "call")
        .map(|o| {
            o["method"]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_owned()
        })
        .collect();
    let recorded = record.wait().expect("podman exec");
    let record_err = std::fs::read_to_string(stderr_of(&pcap)).unwrap_or_default();
    assert!(recorded.success(), "record in the container: {record_err}");
    let decoded = common::decode_ok(&pcap, &["--json"]);
    assert!(
        decoded.contains("/containerd.services.namespaces.v1.Namespaces/Create"),
        "{record_err}\n{decoded}"
    );
    let spans = collector.wait_spans(calls.len(), Duration::from_secs(20));
    let live = get(&format!("http://{}/metrics", pod.metrics)).expect("/metrics while running");
    let (status, log) = agent.stop();
    assert!(
        status.success(),
        "the agent exited {status} at SIGTERM:\n{log}"
    );

    // One span per call, named as trace on the host names them: the CRI calls on the
    // connection opened before the agent included.
    let census = |names: &mut dyn Iterator<Item = &str>| {
        let mut m = BTreeMap::new();
        for n in names {
            *m.entry(n.to_owned()).or_insert(0) += 1;
        }
        m
    };
    let got = census(&mut spans.iter().map(|s| s.name.as_str()));
    assert_eq!(got, census(&mut calls.iter().map(String::as_str)), "{log}");
    for r in &results {
        let name = r.method.trim_start_matches('/');
        assert!(got.contains_key(name), "{name} has no span: {got:?}");
    }
    for name in [
        "containerd.services.version.v1.Version/Version",
        "containerd.services.namespaces.v1.Namespaces/Create",
        "containerd.services.namespaces.v1.Namespaces/List",
        "containerd.services.namespaces.v1.Namespaces/Delete",
        "containerd.services.containers.v1.Containers/Get",
    ] {
        assert_eq!(got.get(name), Some(&1), "{name}: {got:?}");
    }
    for s in &spans {
        assert_eq!(s.kind, "SPAN_KIND_SERVER", "{s:?}");
        assert!(s.end_ns > s.start_ns, "{s:?}");
        // hostPID: the pids are the host's.
        assert_eq!(s.attr("server.process.pid"), cd.pid().to_string(), "{s:?}");
        assert_eq!(s.attr("server.process.executable.name"), "containerd");
        assert!(
            ["ctr", "python3"].contains(&s.attr("client.process.executable.name")),
            "{s:?}"
        );
        assert_eq!(s.resource["service.name"], "containerdsnoop");
        assert_eq!(s.resource["k8s.node.name"], NODE);
    }
    // `ctr tasks kill` of no such container: its Containers/Get fails.
    let get = spans
        .iter()
        .find(|s| s.name.ends_with("Containers/Get"))
        .unwrap();
    assert_eq!(get.status, "STATUS_CODE_ERROR");
    assert_eq!(get.attr("rpc.response.status_code"), "NOT_FOUND");
    // The metrics endpoint the probes hit counted the same calls.
    let counted: f64 = live
        .lines()
        .filter(|l| l.starts_with("containerdsnoop_calls_total{"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum();
    assert_eq!(counted as usize, calls.len(), "{live}");
}

/// Runs `trace ARGS...` in the image with `grants` while a client connected before it makes
/// calls; returns the container's output (stdout and stderr) after SIGTERM.
fn trace_with(
    images: &Images,
    dir: &Path,
    name: &str,
    grants: &Grants,
    cd: &Containerd,
    args: &[&str],
) -> String {
    let cri = CriClient::start(&cd.sock);
    let mut command = vec!["trace"];
    command.extend_from_slice(args);
    let pod = Pod::new(grants, cd, "http://127.0.0.1:9", &command);
    let mut container = images.run(dir, name, &pod.flags, &pod.args);
    let deadline = Instant::now() + AGENT_READY;
    while !container.log().contains("attached") {
        if container.exited().is_some() {
            return container.stop().1;
        }
        assert!(Instant::now() < deadline, "{name}: {}", container.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    cri.run();
    std::thread::sleep(Duration::from_millis(500));
    container.stop().1
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn without_each_grant_the_failure_its_comment_names() {
    require_root();
    let grants = Grants::of(&daemonset());
    let dir = short_tempdir("cs-grants");
    let images = Images::build(dir.path(), &common::bin());
    let cd = Containerd::start_with_cri();
    let run = |name: &str, g: &Grants| trace_with(&images, dir.path(), name, g, &cd, &[]);

    // All of them: the calls on the connection opened before are named from the recovered
    // tables.
    let all = run("all", &grants);
    assert!(all.contains("HPACK tables recovered"), "{all}");
    assert!(!all.contains("stayed unnamed"), "{all}");
    // The syscall hook (kernels before 6.3) finds its tracepoints in the read-only tracefs.
    let syscalls = trace_with(
        &images,
        dir.path(),
        "syscalls",
        &grants,
        &cd,
        &["--hook", "syscalls"],
    );
    assert!(
        syscalls.contains("(hook: syscall tracepoints)"),
        "{syscalls}"
    );
    assert!(syscalls.contains("HPACK tables recovered"), "{syscalls}");

    // No CAP_SYS_ADMIN: podman's default seccomp profile refuses bpf(2)...
    let no_admin = grants.without_cap("SYS_ADMIN");
    let out = run("no-admin", &no_admin);
    assert!(
        out.contains("refused (EPERM) by this process's seccomp filter"),
        "{out}"
    );
    // ...and, with seccomp unconfined, perf_event_open(2) of the uprobes is refused.
    let mut unconfined = no_admin.clone();
    unconfined.seccomp = Some(common::daemonset::Seccomp::Unconfined);
    let out = run("no-admin-unconfined", &unconfined);
    assert!(out.contains("attached"), "{out}");
    assert!(out.contains("failed to attach uprobe"), "{out}");

    // No CAP_SYS_PTRACE: containerd's /proc/PID/exe cannot be read.
    let out = run("no-ptrace", &grants.without_cap("SYS_PTRACE"));
    assert!(out.contains("server process not readable"), "{out}");

    // No CAP_BPF and CAP_PERFMON (nor CAP_SYS_ADMIN, which implies them): nothing loads.
    let none = grants
        .without_cap("SYS_ADMIN")
        .without_cap("BPF")
        .without_cap("PERFMON");
    let mut none_unconfined = none.clone();
    none_unconfined.seccomp = Some(common::daemonset::Seccomp::Unconfined);
    let out = run("no-bpf", &none_unconfined);
    assert!(out.contains("CAP_BPF and CAP_PERFMON"), "{out}");

    // Not the host's network: the listening sockets are not seen at start, and the calls on
    // the connection opened before stay unnamed.
    let mut own_net = grants.clone();
    own_net.host_network = false;
    let out = run("own-net", &own_net);
    assert!(out.contains("stayed unnamed"), "{out}");
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn kubelets_way_through_containerds_cri_runs_the_agent_with_the_daemonsets_grants() {
    require_root();
    let grants = Grants::of(&daemonset());
    let dir = short_tempdir("cs-kubelet");
    let images = Images::build(dir.path(), &common::bin());
    let cd = Containerd::start_with_cri();
    for image in [pause_oci(dir.path()), images.save(dir.path())] {
        cd.ctr_ok(&["-n", "k8s.io", "images", "import", image.to_str().unwrap()]);
    }
    let collector = Collector::start(dir.path());
    let pod = Pod::new(&grants, &cd, &collector.endpoint, &["agent"]);
    let (kubelet, log_file) = run_through_cri(&grants, &pod, &images, &cd, dir.path(), "all");
    let log = || std::fs::read_to_string(&log_file).unwrap_or_default();
    cd.ctr_ok(&["version"]);
    cd.ctr_ok(&["namespaces", "create", "kubelet-ns"]);
    cd.ctr_ok(&["namespaces", "remove", "kubelet-ns"]);
    // Then the pod's own connection, opened before the agent started, asks about the pod; the
    // container is stopped with SIGTERM and must exit 0.
    let exit = kubelet.stop();
    let spans = collector.wait_spans(6, Duration::from_secs(20));
    assert_eq!(
        exit,
        0,
        "the agent's exit code at SIGTERM; its log:\n{}",
        log()
    );

    let names = |client: &str| -> Vec<&str> {
        let mut n: Vec<&str> = spans
            .iter()
            .filter(|s| {
                s.attrs
                    .get("client.process.executable.name")
                    .map(String::as_str)
                    == Some(client)
            })
            .map(|s| s.name.as_str())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names("ctr"),
        [
            "containerd.services.introspection.v1.Introspection/Server",
            "containerd.services.namespaces.v1.Namespaces/Create",
            "containerd.services.namespaces.v1.Namespaces/Delete",
            "containerd.services.version.v1.Version/Version",
        ],
        "{}",
        log()
    );
    // Named from the HPACK table recovered from containerd: uprobes attached under
    // containerd's seccomp profile with the DaemonSet's capabilities.
    let python = names("python3");
    for name in [
        "runtime.v1.RuntimeService/ContainerStatus",
        "runtime.v1.RuntimeService/ListContainers",
    ] {
        assert!(
            python.contains(&name),
            "{name} not among {python:?}\n{}",
            log()
        );
    }
    for s in &spans {
        assert_eq!(s.resource["k8s.node.name"], NODE, "{s:?}");
        assert_eq!(s.attr("server.process.pid"), cd.pid().to_string(), "{s:?}");
    }

    // Without CAP_SYS_ADMIN, containerd's default profile (1.6.20 here) still admits bpf(2) and
    // perf_event_open(2) to CAP_BPF and CAP_PERFMON (podman's does not), but the kernel refuses
    // the uprobes: the calls on the connection opened before the agent stay unnamed.
    let no_admin = grants.without_cap("SYS_ADMIN");
    let (kubelet, log_file) =
        run_through_cri(&no_admin, &pod, &images, &cd, dir.path(), "no-admin");
    let log = || std::fs::read_to_string(&log_file).unwrap_or_default();
    assert_eq!(kubelet.stop(), 0, "{}", log());
    assert!(log().contains("failed to attach uprobe"), "{}", log());
}

/// Runs the agent as `pod` says with `grants` through containerd's CRI plugin, which applies
/// them with its own RuntimeDefault seccomp profile; returns once it is up (its capabilities
/// and seccomp filter checked), with the file of its output. `name` tells runs apart.
fn run_through_cri(
    grants: &Grants,
    pod: &Pod,
    images: &Images,
    cd: &Containerd,
    dir: &Path,
    name: &str,
) -> (KubeletPod, std::path::PathBuf) {
    let logs = dir.join(format!("logs-{name}"));
    let spec = pod_json(
        grants,
        &images.tag,
        &logs,
        &pod.envs,
        &[cd.dir.path()],
        &pod.args,
    );
    let kubelet = KubeletPod::start(&cd.sock, &spec, dir);
    let log_file = logs.join("containerdsnoop-agent.log");
    let log = || std::fs::read_to_string(&log_file).unwrap_or_default();
    // No ctr call to ask whether it runs: the agent would capture it.
    wait_metrics(&pod.metrics, "containerdsnoop_up 1", || None, log);
    // The kernel's view of the agent: exactly the capabilities granted, a seccomp filter.
    assert_status(&agent_status(&pod.metrics), &grants.caps);
    (kubelet, log_file)
}

/// `status` (/proc/PID/status) shows exactly capabilities `caps` (as the YAML names them) and a
/// seccomp filter.
fn assert_status(status: &str, caps: &[String]) {
    let number = |cap: &str| match cap {
        "SYS_PTRACE" => 19,
        "SYS_ADMIN" => 21,
        "PERFMON" => 38,
        "BPF" => 39,
        other => panic!("no number for {other}"),
    };
    let want = caps.iter().fold(0u64, |m, c| m | 1 << number(c));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    for set in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(field(set), format!("{want:016x}"), "{set} {status}");
    }
    assert_eq!(field("Seccomp:"), "2", "{status}");
}
