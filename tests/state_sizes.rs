//! Nothing is kept for a connection, socket, process or stream that is
//! gone: `record`, `record --decode` and `trace`, attached at once to a
//! throwaway containerd, report the entry count of every structure they
//! keep (`--state-sizes`); after a churn of short connections (ctr calls, a
//! container run with its shim) and a few seconds of quiet, every count is
//! back where it was before the churn. The offline reader and decoders are
//! held to the same for a long capture of many short connections.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::Duration;

use common::{busybox_oci, require_root, short_tempdir, Containerd, Recorder};
use containerdsnoop::decode::sniffer::Sniffer;
use containerdsnoop::flow::{Comm, Conn, Dir, FlowEvent, Process, Side, Sink};
use containerdsnoop::input::{self, ReadOptions};
use containerdsnoop::pcapng::PcapngWriter;

const IMAGE: &str = "docker.io/library/busybox:snoop";
/// Longer than any cache of a process's name (5 s) and the causal
/// stage's memory of a closed socket (1 s).
const QUIET: Duration = Duration::from_secs(7);

fn sizes(path: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(path).expect("the state sizes file is written");
    serde_json::from_str(&text).expect("one JSON object")
}

/// Structures kept per executable, not per connection or process (a
/// container's shim binary may first be seen in the churn), the capture's
/// pool of record buffers, and the kernel's `handoff` LRU (an entry whose
/// connection ended with neither end reading its end of file stays until
/// evicted; the map's memory is allocated once at load): bounded, not per
/// connection; and the writers' cgroups (a container's cgroup is new, its
/// path is kept so that bytes it wrote are attributed after it is gone),
/// bounded by their caches' caps.
const BOUNDED: [(&str, u64); 9] = [
    ("bpf.handoff", 16384),
    ("bpf.cgroups_seen", 4096),
    ("cgroups.known", 8192),
    ("cgroups.forget", 8192),
    ("servers.binaries", 32),
    ("uprobes.by_exe", 64),
    ("uprobes.links", 3 * 64),
    ("stages.pool", 1024),
    ("stages.pool_kib", 1024 * 128),
];

/// Every count in `after` is at most what it was in `before` (structures
/// absent before held nothing), except the bounded caches, which stay
/// within their bounds.
fn back_to(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<String> {
    after
        .iter()
        .filter(|(k, v)| match BOUNDED.iter().find(|(name, _)| name == k) {
            Some((_, bound)) => **v > *bound,
            None => **v > before.get(*k).copied().unwrap_or(0),
        })
        .map(|(k, v)| {
            format!(
                "{k}: {} before, {v} after",
                before.get(k).copied().unwrap_or(0)
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn churn_leaves_nothing_behind_live() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-sz");
    let image = busybox_oci(dir.path());
    cd.ctr_ok(&["-n", "sz", "images", "import", image.to_str().unwrap()]);
    let (sock, ttrpc) = (
        cd.sock.display().to_string(),
        cd.ttrpc_sock.display().to_string(),
    );
    let sockets = [
        "--socket",
        &sock,
        "--socket",
        &ttrpc,
        "--socket",
        "/run/containerd/s/*",
    ];
    let modes: [(&str, &[&str]); 3] = [
        ("record", &["record", "-o"]),
        ("record-decode", &["record", "--decode", "--json", "-o"]),
        ("trace", &["trace", "--json"]),
    ];
    let mut tracers = Vec::new();
    for (name, args) in modes {
        let out = dir.path().join(format!("{name}.pcapng"));
        let state = dir.path().join(format!("{name}.sizes.json"));
        let mut full: Vec<&str> = args.to_vec();
        let out_s = out.display().to_string();
        if full.last() == Some(&"-o") {
            full.push(&out_s);
        }
        let state_s = state.display().to_string();
        full.extend_from_slice(&sockets);
        full.extend_from_slice(&["--state-sizes", &state_s]);
        tracers.push((name, state, Recorder::start_command(&out, &full)));
    }
    // Warm up: the server's executable, the socket paths, one of each call.
    cd.ctr_ok(&["version"]);
    cd.ctr_ok(&["-n", "sz", "run", "--rm", IMAGE, "warm", "/bin/true"]);
    thread::sleep(QUIET);
    let before: Vec<_> = tracers.iter().map(|(_, s, _)| sizes(s)).collect();

    for i in 0..200 {
        cd.ctr_ok(&["version"]);
        if i % 50 == 0 {
            cd.ctr_ok(&["namespaces", "ls"]);
            let id = format!("c{i}");
            cd.ctr_ok(&["-n", "sz", "run", "--rm", IMAGE, &id, "/bin/true"]);
        }
    }
    thread::sleep(QUIET);
    let mut problems = Vec::new();
    for ((name, state, rec), before) in tracers.into_iter().zip(before) {
        let after = sizes(&state);
        for p in back_to(&before, &after) {
            problems.push(format!("{name}: {p}"));
        }
        let (status, stderr) = rec.stop();
        assert!(status.success(), "{name} failed: {stderr}");
        assert!(
            stderr.contains("220 connections (0 open)") && stderr.contains("no drops"),
            "{name}: {stderr}"
        );
        // The counts are real: the churn's connections were seen.
        assert!(after.contains_key("tracker.conns"), "{name}: {after:?}");
    }
    assert!(
        problems.is_empty(),
        "kept after the churn:\n{}",
        problems.join("\n")
    );
}

/// A capture of `n` short HTTP/2 connections, one after another.
fn many_connections(n: u64) -> Vec<u8> {
    let mut pw = PcapngWriter::new(Vec::new(), "churn").unwrap();
    let mut sniffer = Sniffer::new();
    let mut s = sniffer.sink(&mut pw);
    let writer = Process::thread(7, 7, Comm::from_name("ctr"));
    let mut conv = containerdsnoop::testsupport::h2::Conv::new();
    conv.start();
    conv.unary(
        1,
        "/containerd.services.version.v1.Version/Version",
        b"",
        b"",
    );
    for id in 0..n {
        let conn = Conn {
            id,
            path: Some("/run/containerd/containerd.sock".into()),
            client: Side::default(),
            server: Side::default(),
            first_ns: 1_000 + id,
        };
        s.event(&conn, conn.first_ns, FlowEvent::Open).unwrap();
        let mut offset = [0u64; 2];
        for (dir, bytes) in &conv.writes {
            let ev = FlowEvent::Data {
                dir: *dir,
                writer: &writer,
                offset: offset[dir.index()],
                bytes,
            };
            offset[dir.index()] += bytes.len() as u64;
            s.event(&conn, conn.first_ns, ev).unwrap();
        }
        s.event(&conn, conn.first_ns, FlowEvent::Close).unwrap();
    }
    s.flush().unwrap();
    assert_eq!(conv.writes[0].0, Dir::ToServer);
    pw.finish().unwrap()
}

/// An output that shows nothing.
struct Discard;

impl containerdsnoop::pipeline::Output for Discard {
    fn item(&mut self, _: &containerdsnoop::pipeline::Item) -> anyhow::Result<()> {
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[test]
fn a_long_capture_leaves_nothing_behind_offline() {
    let file = many_connections(3000);
    let mut pipeline = containerdsnoop::pipeline::Pipeline::new(
        containerdsnoop::pipeline::View {
            schemas: std::sync::Arc::new(containerdsnoop::protobuf::Schemas::embedded()),
            methods: Default::default(),
            forms: containerdsnoop::protobuf::Forms::TEXT,
            binaries: None,
            from_container: false,
            subjects: Default::default(),
        },
        Discard,
    );
    let summary = input::read(&file[..], &ReadOptions::default(), &mut pipeline).unwrap();
    assert_eq!(summary.connections, 3000);
    let mut sizes = containerdsnoop::sizes::Sizes::default();
    pipeline.sizes(&mut sizes);
    assert_eq!(sizes.get("decoders.conns"), Some(0));
    // The reader's own structures, at the end of the file.
    for (name, n) in summary.sizes.iter() {
        let bound = match name {
            // 4-tuples of closed connections, to tell a retransmission from
            // a new connection: bounded, not per connection ever seen.
            "input.closed" => 16384,
            // Names of processes from earlier comments: bounded likewise.
            "input.names" => 4096,
            // The closed connections those 4-tuples name (their bytes and
            // reassemblers are freed at close).
            "input.conns" => 16384,
            _ => 0,
        };
        assert!(
            n <= bound,
            "{name}: {n} entries after the last connection closed"
        );
    }
    assert!(
        summary.sizes.get("input.conns").is_some(),
        "{:?}",
        summary.sizes
    );
}
