//! Live, as root: a real containerd's own schemas decode its connections
//! exactly as the bundled ones do. `record --decode` runs with the bundled
//! Namespaces service left out, so only containerd's binary can name those
//! messages, and notes the binary in its pcapng; the same capture decoded
//! offline with the bundled schemas is the reference (one capture, two
//! decodings: what is compared is the schemas, not two tracers' timing).

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::{bin, require_root, short_tempdir, tshark, Containerd, Recorder};

const NAMESPACES: &str = "containerd.services.namespaces.v1.Namespaces";

fn objects(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The Namespaces messages, without what differs between two captures of
/// the same calls: connection numbers, the schema's source, and the wall
/// clock (each process converts kernel times with its own offset).
fn namespaces_messages(all: &[Value]) -> Vec<Value> {
    all.iter()
        .filter(|o| {
            o["type"] == "message"
                && o["method"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(&format!("/{NAMESPACES}/")))
        })
        .map(|o| {
            let mut o = o.clone();
            let m = o.as_object_mut().unwrap();
            for key in ["connection", "schema_source", "time", "ts_ns"] {
                m.remove(key);
            }
            o
        })
        .collect()
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn containerds_own_schemas_decode_like_the_bundled_ones() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-bin");
    let sock = cd.sock.display().to_string();
    let own = dir.path().join("own.pcapng");
    let b = Recorder::start_command(
        &own,
        &[
            "record",
            "-o",
            own.to_str().unwrap(),
            "--decode",
            "--json",
            "--exclude-bundled-service",
            NAMESPACES,
            "--socket",
            &sock,
        ],
    );
    // The first connection has containerd's binary read in the background.
    let started = Instant::now();
    cd.ctr_ok(&["version"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b.stderr_text().contains("schemas from ") {
        assert!(
            Instant::now() < deadline,
            "containerd's schemas were not read: {}",
            b.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "schemas learned {:?} after the first call",
        started.elapsed()
    );
    cd.ctr_ok(&["namespaces", "create", "snoop-bin-1", "team=a"]);
    cd.ctr_ok(&["namespaces", "label", "snoop-bin-1", "team=b"]);
    cd.ctr_ok(&["namespaces", "list"]);
    cd.ctr_ok(&["namespaces", "remove", "snoop-bin-1"]);
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr_b) = b.stop();
    assert!(status.success(), "record failed: {stderr_b}");
    assert!(
        stderr_b.contains("containerdsnoop: schemas from /usr/bin/containerd (go1."),
        "{stderr_b}"
    );

    // The reference: the same capture decoded with the bundled schemas.
    let reference = std::process::Command::new(bin())
        .args(["decode", own.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(reference.status.success());
    let bundled = objects(&String::from_utf8_lossy(&reference.stdout));
    let binary =
        objects(&std::fs::read_to_string(own.with_file_name("own.pcapng.stdout")).unwrap());
    let named: Vec<&Value> = binary
        .iter()
        .filter(|o| {
            o["method"]
                .as_str()
                .is_some_and(|m| m.contains("Namespaces"))
        })
        .filter(|o| o["type"] == "message")
        .collect();
    assert!(
        named.len() >= 8,
        "4 calls, requests and responses: {named:?}"
    );
    for o in &named {
        assert_eq!(o["schema"], "typed", "{o}");
        assert_eq!(o["schema_source"], "binary:/usr/bin/containerd", "{o}");
    }
    assert!(bundled
        .iter()
        .filter(|o| o["schema"] == "typed")
        .all(|o| o["schema_source"] == "bundled"));
    let create = named
        .iter()
        .find(|o| o["method"].as_str().unwrap().ends_with("/Create") && o["direction"] == "request")
        .unwrap();
    assert_eq!(create["message"]["namespace"]["name"], "snoop-bin-1");
    assert_eq!(create["message"]["namespace"]["labels"]["team"], "a");
    assert_eq!(namespaces_messages(&binary), namespaces_messages(&bundled));

    // The capture names the binary; decode points at it, and decodes the
    // same with it.
    let out = std::process::Command::new(bin())
        .args(["decode", own.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "this capture was decoded live with the schemas of /usr/bin/containerd (go1."
        ) && stderr.contains("add --schemas-from /usr/bin/containerd"),
        "{stderr}"
    );
    let out = std::process::Command::new(bin())
        .args([
            "decode",
            own.to_str().unwrap(),
            "--json",
            "--schemas-from",
            "/usr/bin/containerd",
        ])
        .args(["--exclude-bundled-service", NAMESPACES])
        .output()
        .unwrap();
    let offline = objects(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(namespaces_messages(&offline), namespaces_messages(&bundled));
    // Wireshark reads the file with the note in it.
    let frames = tshark([
        "-r",
        own.to_str().unwrap(),
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    assert!(frames.lines().count() > 10, "{frames}");
}
