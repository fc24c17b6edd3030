//! What tshark's HTTP dissector and our NDJSON say of a capture's HTTP/1.1 calls, for the
//! Docker and Podman API tests.

use std::path::Path;

use serde_json::Value;

use super::{bin, tshark};

/// The NDJSON lines as objects.
pub fn objects(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// tshark's requests (method, URI) and response codes, each sorted.
pub fn tshark_http(pcap: &Path) -> (Vec<(String, String)>, Vec<u16>) {
    let p = pcap.to_str().unwrap();
    let reqs = tshark([
        "-r",
        p,
        "-Y",
        "http.request",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "http.request.method",
        "-e",
        "http.request.uri",
    ]);
    let mut requests: Vec<(String, String)> = reqs
        .lines()
        .flat_map(|l| {
            // One frame may carry several requests (comma-separated values).
            let (m, u) = l.split_once('|').unwrap();
            m.split(',')
                .zip(u.split(','))
                .map(|(m, u)| (m.to_string(), u.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    requests.sort();
    let codes = tshark([
        "-r",
        p,
        "-Y",
        "http.response",
        "-T",
        "fields",
        "-e",
        "http.response.code",
    ]);
    let mut codes: Vec<u16> = codes
        .lines()
        .flat_map(|l| {
            l.split(',')
                .map(|c| c.parse::<u16>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    codes.sort();
    (requests, codes)
}

/// Our calls' requests (method, target) and the statuses of the finished ones (a response
/// the connection closed inside is no response for tshark), each sorted.
pub fn our_http(calls: &[&Value]) -> (Vec<(String, String)>, Vec<u16>) {
    let mut requests: Vec<(String, String)> = calls
        .iter()
        .map(|c| {
            let h = &c["http"];
            let s = |v: &Value| v.as_str().unwrap().to_string();
            (s(&h["method"]), s(&h["target"]))
        })
        .collect();
    requests.sort();
    let mut codes: Vec<u16> = calls
        .iter()
        .filter(|c| c["unfinished"] == false)
        .map(|c| c["http"]["status"].as_u64().unwrap() as u16)
        .collect();
    codes.sort();
    (requests, codes)
}

/// Packets Wireshark finds malformed or warns about.
pub fn wireshark_problems(pcap: &Path) -> String {
    tshark([
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
    ])
}

/// `containerdsnoop redact PCAP -o OUT`, which must succeed; the bytes of OUT.
pub fn redacted(pcap: &Path, out: &Path) -> Vec<u8> {
    let run = std::process::Command::new(bin())
        .arg("redact")
        .arg(pcap)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read(out).unwrap()
}

/// Whether `bytes` hold `text` anywhere.
pub fn holds(bytes: &[u8], text: &str) -> bool {
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

/// The calls of `objs` (our NDJSON of `pcap`), checked against tshark on the same file: all
/// HTTP, the same requests, the same statuses of finished calls, nothing malformed. Returns
/// the calls and the number of requests.
pub fn calls_as_tshark_shows<'a>(pcap: &Path, objs: &'a [Value]) -> (Vec<&'a Value>, usize) {
    assert_eq!(wireshark_problems(pcap), "", "Wireshark finds problems");
    let (requests, codes) = tshark_http(pcap);
    let calls: Vec<&Value> = objs.iter().filter(|o| o["type"] == "call").collect();
    assert!(calls.iter().all(|c| c["protocol"] == "http"), "{calls:#?}");
    let (ours, our_codes) = our_http(&calls);
    assert_eq!(ours, requests, "the requests tshark shows");
    assert_eq!(our_codes, codes, "the statuses tshark shows");
    (calls, requests.len())
}
