//! Connections opened before the capture (as root, real peers): their
//! HPACK tables are recovered from containerd, so every call is named with
//! its exact method, in our output and in Wireshark; where recovery is
//! impossible (a server that is not a Go program) nothing is guessed.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use common::{
    busybox_docker_archive, require_root, short_tempdir, synthetic_stream_fields, tshark,
    Containerd, CriClient, Dockerd, Recorder, DOCKER_IMAGE,
};

fn objects(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("the recorder's stdout");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn sibling(path: &Path, ext: &str) -> std::path::PathBuf {
    let mut name = path.file_name().expect("a file name").to_owned();
    name.push(ext);
    path.with_file_name(name)
}

/// Messages and finished calls of the output.
fn of_type<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|o| o["type"] == kind).collect()
}

/// The `:path` of every request header block Wireshark decodes in `pcap`,
/// in packet order (the synthetic frames carrying recovered tables, on
/// stream 2^31-1, are not requests).
fn wireshark_paths(pcap: &Path) -> Vec<String> {
    let out = tshark([
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "http2.headers.path",
        "-T",
        "fields",
        "-E",
        "aggregator=|",
        "-e",
        "http2.streamid",
        "-e",
        "http2.headers.path",
    ]);
    let mut paths = Vec::new();
    for line in out.lines() {
        let (ids, names) = line.split_once('\t').unwrap_or((line, ""));
        // Stream ids of every frame of the packet; paths of its HEADERS.
        let synthetic = ids.split('|').any(|id| id == "2147483647");
        let mut names: Vec<&str> = names.split('|').filter(|p| !p.is_empty()).collect();
        if synthetic {
            // A packet holds one synthetic frame and nothing else.
            names.clear();
        }
        paths.extend(names.into_iter().map(str::to_string));
    }
    paths
}

/// The synthetic frames carrying recovered tables (on stream 2^31-1), as
/// Wireshark with no preferences shows them: PUSH_PROMISEs that name
/// themselves synthetic, no response and no end of stream, nothing gRPC
/// (Wireshark 4.0 has no `grpc.status` field: it would be in the grpc
/// layer) and no warning. Returns how many the server sent (the tables of
/// the client's decoder, full of `grpc-status` and `grpc-message` values).
fn wireshark_seeds_are_no_calls(pcap: &Path) -> usize {
    let p = pcap.to_str().unwrap();
    let call_like = tshark([
        "-r",
        p,
        "-Y",
        "http2.streamid == 2147483647 && (http2.type != 5 || http2.flags.end_stream == 1 \
         || http2.headers.status || grpc || _ws.expert.severity >= warning)",
    ]);
    assert_eq!(call_like, "", "synthetic frames that look like calls");
    let seeds = synthetic_stream_fields(p, &["tcp.srcport", "http2.header.name"]);
    for line in seeds.lines() {
        assert!(line.contains("|containerdsnoop,"), "no marker: {line}");
    }
    seeds.lines().filter(|l| l.starts_with("80|")).count()
}

/// Packets Wireshark finds malformed or warns about.
fn wireshark_problems(pcap: &Path) -> String {
    tshark([
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
    ])
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn dockerd_connected_before_the_capture_is_named_exactly() {
    require_root();
    let cd = Containerd::start();
    let dk = Dockerd::start(&cd);
    let dir = short_tempdir("cs-hpack");
    let archive = busybox_docker_archive(dir.path());
    dk.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    // What dockerd says to containerd below, it says now too: every header
    // field goes into its HPACK table before the capture.
    dk.docker_ok(&["run", "--rm", DOCKER_IMAGE, "/bin/true"]);
    dk.docker_ok(&["ps", "-a"]);
    let sock = cd.sock.display().to_string();
    let pcap = dir.path().join("dockerd.pcapng");
    let rec = Recorder::start(&pcap, &["--decode", "--json", "--socket", &sock]);
    dk.docker_ok(&["run", "--rm", DOCKER_IMAGE, "/bin/true"]);
    dk.docker_ok(&["ps", "-a"]);
    std::thread::sleep(Duration::from_millis(500));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    let all = objects(&sibling(&pcap, ".stdout"));
    let messages = of_type(&all, "message");
    let calls = of_type(&all, "call");
    assert!(
        messages.len() > 20,
        "{} messages:\n{stderr}",
        messages.len()
    );
    let dockerd: Vec<&&Value> = messages
        .iter()
        .filter(|m| m["writer"]["comm"] == "dockerd" || m["peer"]["comm"] == "dockerd")
        .collect();
    let unnamed: Vec<&&&Value> = dockerd.iter().filter(|m| m["method"].is_null()).collect();
    assert!(
        unnamed.is_empty(),
        "{} of {} dockerd messages unnamed, e.g. {}\n{stderr}",
        unnamed.len(),
        dockerd.len(),
        unnamed[0]
    );
    for m in &dockerd {
        assert_eq!(m["hpack"], "recovered", "{m}");
    }
    let methods: BTreeSet<&str> = dockerd
        .iter()
        .filter_map(|m| m["method"].as_str())
        .collect();
    for expected in [
        "/containerd.services.containers.v1.Containers/Create",
        "/containerd.services.tasks.v1.Tasks/Create",
        "/containerd.services.tasks.v1.Tasks/Start",
        "/containerd.services.tasks.v1.Tasks/Delete",
        "/containerd.services.containers.v1.Containers/Delete",
    ] {
        assert!(methods.contains(expected), "{expected} not in {methods:?}");
    }
    // Typed with the schema (no raw field numbers).
    let create = dockerd
        .iter()
        .find(|m| {
            m["method"] == "/containerd.services.containers.v1.Containers/Create"
                && m["direction"] == "request"
        })
        .expect("Containers/Create");
    assert_eq!(create["schema"], "typed", "{create}");
    // Failed calls are ERR rows with their method.
    let failed: Vec<&&Value> = calls
        .iter()
        .filter(|c| c["status"].as_u64().is_some_and(|s| s != 0))
        .collect();
    assert!(!failed.is_empty(), "no failed call: {calls:?}");
    eprintln!(
        "{} dockerd messages, all named; methods: {methods:?}; failed calls: {:?}",
        dockerd.len(),
        failed
            .iter()
            .map(|c| format!("{} {}", c["method"], c["status_name"]))
            .collect::<Vec<_>>()
    );
    for c in &failed {
        assert!(c["method"].is_string(), "failed call without method: {c}");
    }
    assert!(
        stderr.contains("HPACK tables recovered"),
        "summary: {stderr}"
    );
    // Wireshark names the same calls, and finds nothing malformed.
    let paths = wireshark_paths(&pcap);
    let named: BTreeSet<&str> = paths.iter().map(String::as_str).collect();
    for m in &methods {
        assert!(named.contains(m), "Wireshark does not name {m}: {named:?}");
    }
    assert_eq!(wireshark_problems(&pcap), "");
    // dockerd's own table came from containerd's encoder: shown, not a call.
    assert!(
        wireshark_seeds_are_no_calls(&pcap) > 0,
        "no response-direction table"
    );
    // And our own offline decode of the file agrees with the live one.
    let offline = Command::new(common::bin())
        .args(["decode", "--json", pcap.to_str().unwrap()])
        .output()
        .expect("decode runs");
    assert!(offline.status.success());
    let offline: Vec<Value> = String::from_utf8_lossy(&offline.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let offline_methods: BTreeSet<&str> = of_type(&offline, "message")
        .iter()
        .filter_map(|m| m["method"].as_str())
        .collect();
    assert_eq!(
        offline_methods,
        methods.union(&BTreeSet::new()).copied().collect()
    );
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn grpc_core_client_connected_before_the_capture_is_named_exactly() {
    require_root();
    let cd = Containerd::start_with_cri();
    let client = CriClient::start(&cd.sock);
    let dir = short_tempdir("cs-hpack-cri");
    let sock = cd.sock.display().to_string();
    let pcap = dir.path().join("cri.pcapng");
    let rec = Recorder::start(&pcap, &["--decode", "--json", "--socket", &sock]);
    let results = client.run();
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    let all = objects(&sibling(&pcap, ".stdout"));
    let requests: Vec<&str> = of_type(&all, "message")
        .iter()
        .filter(|m| m["direction"] == "request")
        .map(|m| m["method"].as_str().unwrap_or("<unknown>"))
        .collect();
    let called: Vec<&str> = results.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(requests, called, "{stderr}");
    // Each failed call is an ERR row with its method and code.
    for r in results.iter().filter(|r| r.code != 0) {
        let call = of_type(&all, "call")
            .into_iter()
            .find(|c| c["method"] == r.method.as_str())
            .unwrap_or_else(|| panic!("no call row for {}", r.method));
        assert_eq!(call["status"], r.code, "{call}");
    }
    assert!(results.iter().any(|r| r.code != 0), "{results:?}");
    let paths = wireshark_paths(&pcap);
    let named: Vec<&str> = paths.iter().map(String::as_str).collect();
    assert_eq!(named, called, "Wireshark's paths");
    assert_eq!(wireshark_problems(&pcap), "");
    assert!(
        wireshark_seeds_are_no_calls(&pcap) > 0,
        "no response-direction table"
    );
}

/// A gRPC server that is not a Go program: `tests/peers/any_server.py`.
struct PyServer(Child);

impl PyServer {
    fn start(sock: &Path) -> PyServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/any_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg("-I")
            .arg(script)
            .arg(sock)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        PyServer(child)
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn without_a_go_server_methods_stay_unknown_never_wrong() {
    require_root();
    let dir = short_tempdir("cs-hpack-py");
    let sock = dir.path().join("any.sock");
    let _server = PyServer::start(&sock);
    let client = CriClient::start(&sock);
    let pcap = dir.path().join("py.pcapng");
    let sock_arg = sock.display().to_string();
    let rec = Recorder::start(&pcap, &["--decode", "--json", "--socket", &sock_arg]);
    let results = client.run();
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    let all = objects(&sibling(&pcap, ".stdout"));
    let called: BTreeSet<&str> = results.iter().map(|r| r.method.as_str()).collect();
    let mut unknown = 0;
    for m in of_type(&all, "message") {
        match m["method"].as_str() {
            Some(name) => assert!(called.contains(name), "a method never called: {m}"),
            None => unknown += 1,
        }
        assert!(m["hpack"].is_null(), "{m}");
    }
    assert!(
        unknown > 0,
        "the client's paths were not all indexed before"
    );
    assert!(
        stderr.contains("stayed unnamed") && stderr.contains("is not a Go program"),
        "the summary says why: {stderr}"
    );
}

/// A copy of Debian's containerd whose dynamic symbol table no longer
/// names the three functions the probes need (their names in `.dynstr`
/// changed by one byte; nothing links against them): as a build without
/// symbols, only the Go function table, which the runtime needs and
/// `strip` keeps, can find them.
fn containerd_without_symbols(dir: &Path) -> std::path::PathBuf {
    use containerdsnoop::capture::uprobes::{DECODER_FUNCTION, ENCODER_FUNCTION, STREAM_FUNCTION};
    use containerdsnoop::elf::Elf;
    let mut bytes = std::fs::read("/usr/bin/containerd").expect("Debian's containerd");
    let (start, end) = {
        let elf = Elf::parse(&bytes).expect("an ELF file");
        let s = elf.section(".dynstr").expect("a .dynstr section");
        (s.offset as usize, (s.offset + s.size) as usize)
    };
    for name in [DECODER_FUNCTION, ENCODER_FUNCTION, STREAM_FUNCTION] {
        let mut wanted = name.as_bytes().to_vec();
        wanted.push(0);
        let table = &mut bytes[start..end];
        let at = table
            .windows(wanted.len())
            .position(|w| w == wanted.as_slice())
            .unwrap_or_else(|| panic!("{name} in .dynstr"));
        // The name's last character: still a valid, different name.
        table[at + wanted.len() - 2] ^= 0x20;
    }
    let path = dir.join("containerd");
    std::fs::write(&path, &bytes).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn a_server_without_symbols_is_read_through_its_function_table() {
    use containerdsnoop::capture::uprobes::DECODER_FUNCTION;
    use containerdsnoop::gobin::{GoBinary, Source};
    require_root();
    common::require_file("/usr/bin/containerd", "containerd");
    let bin_dir = short_tempdir("cs-nosym");
    let binary = containerd_without_symbols(bin_dir.path());
    let go = GoBinary::open(&binary).unwrap();
    assert_eq!(go.function_from(DECODER_FUNCTION, Source::DynSym), None);
    assert_eq!(
        go.function(DECODER_FUNCTION).map(|f| f.source),
        Some(Source::Pclntab)
    );
    let cd = Containerd::start_binary_with_cri(&binary);
    let client = CriClient::start(&cd.sock);
    let dir = short_tempdir("cs-hpack-nosym");
    let sock = cd.sock.display().to_string();
    let pcap = dir.path().join("nosym.pcapng");
    let rec = Recorder::start(&pcap, &["--decode", "--json", "--socket", &sock]);
    let results = client.run();
    std::thread::sleep(Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    let all = objects(&sibling(&pcap, ".stdout"));
    let requests: Vec<&str> = of_type(&all, "message")
        .iter()
        .filter(|m| m["direction"] == "request")
        .map(|m| m["method"].as_str().unwrap_or("<unknown>"))
        .collect();
    let called: Vec<&str> = results.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(requests, called, "{stderr}");
    assert!(stderr.contains("HPACK tables recovered"), "{stderr}");
}
