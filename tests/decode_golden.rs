//! Offline decoding of captures recorded from real containerd sessions
//! (tests/fixtures): golden table and NDJSON output, and tshark as the
//! oracle for which gRPC messages exist (and, with contrib's Lua
//! dissector, which ttrpc frames). No root needed. `shim-run` is one
//! `ctr run --rm` seen on containerd's ttrpc socket and the shim's
//! (re-recorded by tests/ttrpc_containerd.rs `write_shim_fixture`; recorded
//! with ttrpc on port 81, moved to port 7 as the writer now writes it, by
//! `common::with_port`: nothing else differs).
//!
//! After a deliberate output change: `UPDATE_GOLDEN=1 cargo test --test decode_golden`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::bin;

const FIXTURES: [&str; 4] = ["ctr-session", "ctr-run", "mid-connection", "shim-run"];
/// Recorded HTTP/1.1 sessions (dummy credentials only): `docker-session` is
/// `docker version`, `docker run --rm`, `docker inspect` of a missing
/// container and a pull with an `X-Registry-Auth` header, on a private
/// dockerd 20.10 (re-recorded by tests/docker_api.rs `write_docker_fixture`).
const HTTP_FIXTURES: [&str; 1] = ["docker-session"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn decode(args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("decode")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("containerdsnoop runs");
    assert!(
        out.status.success(),
        "decode {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn golden(name: &str, got: &str) {
    let path = fixture(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\nwant: {:?}\ngot:  {:?}",
            first + 1,
            want.lines().nth(first),
            got.lines().nth(first)
        );
    }
}

#[test]
fn table_and_json_match_golden_files() {
    for name in FIXTURES.iter().chain(&HTTP_FIXTURES) {
        let pcap = fixture(&format!("{name}.pcapng"));
        let p = pcap.to_str().unwrap();
        golden(&format!("{name}.table"), &decode(&[p, "--full"]));
        let json = decode(&[p, "--json"]);
        for line in json.lines() {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        golden(&format!("{name}.ndjson"), &json);
    }
}

#[test]
fn a_shim_capture_written_before_ttrpc_moved_to_port_7_decodes_the_same() {
    use containerdsnoop::pcapng::packet::{LEGACY_TTRPC_PORT, TTRPC_PORT};
    let now = std::fs::read(fixture("shim-run.pcapng")).unwrap();
    let before = common::with_port(&now, TTRPC_PORT, LEGACY_TTRPC_PORT);
    assert_ne!(before, now);
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("shim-run-port-81.pcapng");
    std::fs::write(&old, &before).unwrap();
    let p = old.to_str().unwrap();
    let want = |ext: &str| std::fs::read_to_string(fixture(&format!("shim-run.{ext}"))).unwrap();
    assert!(decode(&[p, "--full"]) == want("table"), "table differs");
    assert!(decode(&[p, "--json"]) == want("ndjson"), "NDJSON differs");
    // And the Lua dissector still takes port 81.
    assert_eq!(
        common::ttrpc_lua_census(p),
        common::ttrpc_lua_census(fixture("shim-run.pcapng").to_str().unwrap())
    );
}

/// (connection, request?, length) -> count.
type Census = BTreeMap<(u64, bool, u64), u32>;

fn our_census(pcap: &str) -> Census {
    let mut c = Census::new();
    for line in decode(&[pcap, "--json"]).lines() {
        let o: serde_json::Value = serde_json::from_str(line).unwrap();
        if o["type"] == "message" {
            let key = (
                o["connection"].as_u64().unwrap(),
                o["direction"] == "request",
                o["size"].as_u64().unwrap(),
            );
            *c.entry(key).or_default() += 1;
        }
    }
    c
}

#[test]
fn every_message_tshark_finds_is_decoded_and_nothing_else() {
    // Captures that start at the connection's beginning: Wireshark decodes
    // them completely, so the two lists must be equal.
    for name in ["ctr-session", "ctr-run"] {
        let pcap = fixture(&format!("{name}.pcapng"));
        let p = pcap.to_str().unwrap();
        let theirs = common::grpc_census(p);
        assert!(
            theirs.values().sum::<u32>() > 20,
            "{name}: tshark found too little"
        );
        assert_eq!(
            our_census(p),
            theirs,
            "{name}: (connection, request, length) -> count"
        );
    }
}

#[test]
fn mid_connection_capture_decodes_more_than_wireshark_can() {
    // Wireshark cannot use HPACK entries from before the capture; we show
    // exactly what can be known, and paths never guessed.
    let pcap = fixture("mid-connection.pcapng");
    let json = decode(&[pcap.to_str().unwrap(), "--json"]);
    let objs: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let known = objs
        .iter()
        .filter(|o| o["type"] == "message" && o["method"].is_string())
        .count();
    let unknown = objs
        .iter()
        .filter(|o| o["type"] == "message" && o["method"].is_null())
        .count();
    assert!(known >= 5, "known paths: {known}");
    assert!(
        unknown >= 1,
        "entries from before the capture must show as unknown"
    );
    for o in objs
        .iter()
        .filter(|o| o["type"] == "message" && o["method"].is_string())
    {
        assert_eq!(o["schema"], "typed", "{o}");
    }
}

#[test]
fn shim_fixture_frames_match_the_lua_dissector() {
    let pcap = fixture("shim-run.pcapng");
    let p = pcap.to_str().unwrap();
    let mut ours: BTreeMap<(String, u8), u32> = BTreeMap::new();
    for line in decode(&[p, "--json"]).lines() {
        let o: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(o["protocol"], "ttrpc", "{o}");
        let kind = match (o["type"].as_str(), o["direction"].as_str()) {
            (Some("message"), Some("request")) => 1,
            (Some("call"), _) if o["unfinished"] == false => 2,
            _ => continue,
        };
        let method = o["method"].as_str().unwrap().to_string();
        *ours.entry((method, kind)).or_default() += 1;
    }
    let theirs = common::ttrpc_lua_census(p);
    assert!(theirs.values().sum::<u32>() > 20, "{theirs:?}");
    assert_eq!(ours, theirs, "(method, frame type) -> count");
    let problems = common::ttrpc_lua_problems(p);
    assert!(problems.trim().is_empty(), "{problems}");
}

#[test]
fn every_http_request_and_response_tshark_finds_is_a_call() {
    for name in HTTP_FIXTURES {
        let pcap = fixture(&format!("{name}.pcapng"));
        let p = pcap.to_str().unwrap();
        let (requests, codes) = common::http::tshark_http(&pcap);
        let objs = common::http::objects(&decode(&[p, "--json"]));
        let calls: Vec<&serde_json::Value> = objs.iter().filter(|o| o["type"] == "call").collect();
        let (ours, our_codes) = common::http::our_http(&calls);
        assert_eq!(ours, requests, "{name}");
        assert_eq!(our_codes, codes, "{name}");
        assert_eq!(common::http::wireshark_problems(&pcap), "", "{name}");
    }
}
