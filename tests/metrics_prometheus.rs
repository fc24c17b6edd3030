//! `--metrics-addr` scraped by a real Prometheus (Debian's 2.42, its own
//! config and storage in a temporary directory), as root: the calls of a
//! ctr session counted per method and status, as many as the NDJSON output
//! shows and as many as were made; `containerdsnoop_up` 1; the duration
//! histogram counts the same calls; the labels hold no pid, id or path.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::otel::{free_port, Prometheus};
use common::{require_file, require_root, short_tempdir, Containerd, Recorder};

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn prometheus_counts_the_calls_made() {
    require_root();
    require_file("/usr/bin/prometheus", "prometheus");
    let cd = Containerd::start();
    let dir = short_tempdir("cs-prom");
    let sock = cd.sock.display().to_string();
    let addr = format!("127.0.0.1:{}", free_port());
    let base = dir.path().join("trace");
    let tr = Recorder::start_command(
        &base,
        &[
            "trace",
            "--json",
            "--socket",
            &sock,
            "--metrics-addr",
            &addr,
        ],
    );
    let prom = Prometheus::start(dir.path(), &addr);
    let versions = 3;
    for _ in 0..versions {
        cd.ctr_ok(&["version"]);
    }
    for _ in 0..2 {
        cd.ctr_ok(&["namespaces", "ls"]);
    }
    assert!(!cd.try_ctr(&["tasks", "kill", "prom-none"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    let calls: Vec<Value> = std::fs::read_to_string(dir.path().join("trace.stdout"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|o| o["type"] == "call")
        .collect();
    // (service, method, status) -> calls, from the NDJSON.
    let mut want: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for c in &calls {
        let path = c["method"].as_str().unwrap().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap();
        let status = c["status_name"].as_str().unwrap().to_string();
        *want
            .entry((service.into(), method.into(), status))
            .or_default() += 1.0;
    }
    let total = calls.len() as f64;
    // Wait until Prometheus scraped them all.
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let r = prom.query("containerdsnoop_calls_total");
        let sum: f64 = r.iter().map(|(_, v)| v).sum();
        if sum >= total || Instant::now() >= deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let got: BTreeMap<(String, String, String), f64> = got
        .into_iter()
        .map(|(l, v)| {
            assert_eq!(l["protocol"], "grpc", "{l:?}");
            assert_eq!(l["job"], "containerdsnoop");
            for (k, v) in &l {
                assert!(
                    !v.contains('/') || k == "instance",
                    "a path in label {k}: {v}"
                );
            }
            (
                (
                    l["service"].clone(),
                    l["method"].clone(),
                    l["status"].clone(),
                ),
                v,
            )
        })
        .collect();
    assert_eq!(got, want);
    // As many as were made: ctr version asks Version once a run.
    let version = (
        "containerd.services.version.v1.Version".to_string(),
        "Version".to_string(),
        "OK".to_string(),
    );
    assert_eq!(got[&version], f64::from(versions));
    let kill = got
        .iter()
        .find(|((_, _, status), _)| status == "NOT_FOUND")
        .expect("the failed call, by its status");
    assert_eq!(*kill.1, 1.0);
    let up = prom.query("containerdsnoop_up");
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].1, 1.0);
    let counted: f64 = prom
        .query("containerdsnoop_call_duration_seconds_count")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(counted, total);
    let connections = prom.query("containerdsnoop_connections_total");
    assert!(connections[0].1 >= 6.0, "{connections:?}");
    let (status, stderr) = tr.stop();
    assert!(status.success(), "trace failed: {stderr}");
}
