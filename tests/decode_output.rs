//! What `decode` prints (no root): every row of the table under a header
//! that matches it, for the golden fixtures and for a capture built by hand
//! whose columns widen after the block of rows that sized them; and on
//! stderr, once, each binary whose schemas decoded the capture live, only
//! when they could change a message it shows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use containerdsnoop::flow::{Comm, Conn, Dir, FlowEvent, Process, Side, Sink};
use containerdsnoop::output::table::BLOCK_ROWS;
use containerdsnoop::pcapng::comment::{self, SchemaNote};
use containerdsnoop::pcapng::PcapngWriter;
use containerdsnoop::protobuf::Schemas;
use containerdsnoop::testsupport::h2::Conv;
use containerdsnoop::testsupport::ttrpc::Conversation;
use prost_reflect::{prost::Message, DynamicMessage};

use common::bin;

const FIXTURES: [&str; 4] = ["ctr-session", "ctr-run", "mid-connection", "shim-run"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.pcapng"))
}

fn decode(file: &Path, args: &[&str]) -> Output {
    let out = Command::new(bin())
        .arg("decode")
        .arg(file)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("containerdsnoop runs");
    assert!(
        out.status.success(),
        "decode {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Display columns of `s` (the table is ASCII here but for `…`).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Where MESSAGE starts in a row: after the seven cells before it. A row
/// with no message ends before it. None when the row has fewer cells.
fn message_at(row: &str) -> Option<usize> {
    let mut rest = row;
    for _ in 0..7 {
        let cell = rest.trim_start();
        if cell.is_empty() {
            return None;
        }
        rest = &cell[cell.find(' ').unwrap_or(cell.len())..];
    }
    let message = rest.trim_start_matches(' ');
    match message.is_empty() {
        true => Some(width(row) + 1),
        false => Some(width(row) - width(message)),
    }
}

/// Checks that every row's MESSAGE starts at the display column of its
/// header's (the last one above it), or, for a row with no message, that
/// it ends before; returns the lines that are headers.
fn assert_aligned(table: &str) -> Vec<usize> {
    let lines: Vec<&str> = table.lines().collect();
    let mut headers = Vec::new();
    let mut at = None;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("TIMESTAMP") {
            headers.push(i);
            at = Some(width(&line[..line.find("MESSAGE").unwrap()]));
            continue;
        }
        let header = at.unwrap_or_else(|| panic!("row {i} before any header"));
        let row = message_at(line).unwrap_or_else(|| panic!("row {i} lacks cells: {line}"));
        let aligned = match row > width(line) {
            true => width(line) < header,
            false => row == header,
        };
        assert!(
            aligned,
            "row {i}: MESSAGE at {row}, its header's at {header}:\n{}",
            lines[..=i].join("\n")
        );
    }
    headers
}

#[test]
fn every_row_of_the_fixtures_sits_under_its_header() {
    for name in FIXTURES {
        // Not a terminal: nothing cut; and --full, as in the golden files.
        for args in [&[][..], &["--full"]] {
            let out = decode(&fixture(name), args);
            let table = String::from_utf8(out.stdout).unwrap();
            assert!(table.lines().count() > 10, "{name}: {table}");
            let headers = assert_aligned(&table);
            assert_eq!(headers, [0], "{name} {args:?}: sized from all its rows");
        }
    }
}

// ---- a capture built by hand ----

/// A comm, `?` for none (as in the comments of our captures).
fn comm(name: &str) -> Option<Comm> {
    (name != "?").then(|| Comm::from_name(name))
}

fn side(pid: u32, name: &str) -> Side {
    Side {
        ino: u64::from(pid),
        owner: Process {
            pid: Some(pid),
            tid: None,
            comm: comm(name),
            ..Default::default()
        },
        from_creds: false,
    }
}

/// A message of type `name` in protobuf text format.
fn message(name: &str, text: &str) -> Vec<u8> {
    let desc = Schemas::embedded()
        .pool()
        .get_message_by_name(name)
        .unwrap();
    DynamicMessage::parse_text_format(desc, text)
        .unwrap()
        .encode_to_vec()
}

/// A capture as `record` writes it, built from flow events.
struct Capture {
    w: PcapngWriter<Vec<u8>>,
    conns: u64,
    ts: u64,
}

impl Capture {
    fn new() -> Self {
        Capture {
            w: PcapngWriter::new(Vec::new(), "decode_output test").unwrap(),
            conns: 0,
            ts: 1_700_000_000_000_000_000,
        }
    }

    /// A connection from `client` to `server` (pid, comm or `?`) and its
    /// writes.
    fn connection(&mut self, client: (u32, &str), server: (u32, &str), writes: &[(Dir, Vec<u8>)]) {
        let conn = Conn {
            id: self.conns,
            path: Some("/run/containerd/containerd.sock".into()),
            client: side(client.0, client.1),
            server: side(server.0, server.1),
            first_ns: self.ts,
        };
        self.conns += 1;
        self.w.event(&conn, self.ts, FlowEvent::Open).unwrap();
        let mut offsets = [0u64; 2];
        for (dir, bytes) in writes {
            self.ts += 1_000_000;
            let (pid, name) = match dir {
                Dir::ToServer => client,
                Dir::ToClient => server,
            };
            let writer = Process {
                pid: Some(pid),
                tid: Some(pid),
                comm: comm(name),
                ..Default::default()
            };
            let offset = offsets[dir.index()];
            offsets[dir.index()] += bytes.len() as u64;
            let ev = FlowEvent::Data {
                dir: *dir,
                writer: &writer,
                offset,
                bytes,
            };
            self.w.event(&conn, self.ts, ev).unwrap();
        }
        self.w.event(&conn, self.ts, FlowEvent::Close).unwrap();
    }

    /// Names a binary whose schemas were used, as `record` does.
    fn note(&mut self, note: &SchemaNote) {
        self.w.note(&comment::schemas(note)).unwrap();
    }

    fn write(self, path: &Path) {
        std::fs::write(path, self.w.finish().unwrap()).unwrap();
    }
}

const TASKS_GET: &str = "/containerd.services.tasks.v1.Tasks/Get";
const NAMESPACES_GET: &str = "/containerd.services.namespaces.v1.Namespaces/Get";

/// `calls` unary calls on one connection, the method of each given by `method`.
fn calls(count: u32, method: impl Fn(u32) -> &'static str) -> Vec<(Dir, Vec<u8>)> {
    let mut conv = Conv::new();
    conv.start();
    for n in 0..count {
        let (req, resp) = match method(n) {
            TASKS_GET => (
                message(
                    "containerd.services.tasks.v1.GetRequest",
                    &format!("container_id: \"c{n}\""),
                ),
                message(
                    "containerd.services.tasks.v1.GetResponse",
                    &format!("process {{ id: \"c{n}\" pid: {n} }}"),
                ),
            ),
            _ => (
                message(
                    "containerd.services.namespaces.v1.GetNamespaceRequest",
                    "name: \"default\"",
                ),
                message(
                    "containerd.services.namespaces.v1.GetNamespaceResponse",
                    "namespace { name: \"default\" }",
                ),
            ),
        };
        conv.unary(2 * n + 1, method(n), &req, &resp);
    }
    conv.writes
}

#[test]
fn a_row_past_the_block_that_widens_a_column_comes_under_a_new_header() {
    // ctr's calls: more rows than the block that sizes the columns, then
    // one whose method is longer; then a connection whose client has a
    // longer comm.
    let first = BLOCK_ROWS as u32 / 2 + 50;
    let ctr = calls(first + 10, |n| match n == first {
        true => NAMESPACES_GET,
        false => TASKS_GET,
    });
    let shim = calls(2, |_| TASKS_GET);
    let mut capture = Capture::new();
    capture.connection((18397, "ctr"), (5600, "containerd"), &ctr);
    capture.connection((29543, "containerd-shim"), (5600, "containerd"), &shim);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.pcapng");
    capture.write(&file);
    for args in [&[][..], &["--full"]] {
        let out = decode(&file, args);
        let table = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        let n = lines.len();
        assert_eq!(n, 2 * (first as usize + 12) + 4, "{args:?}");
        let headers = assert_aligned(&table);
        // Above the Namespaces/Get request; above the shim's first request
        // (COMM) and the first response to it (PEER).
        let at = 2 * first as usize + 1;
        assert_eq!(headers, [0, at, n - 6, n - 4], "{args:?}");
        assert!(
            lines[at + 1].contains("Namespaces/Get"),
            "{}",
            lines[at + 1]
        );
        assert!(lines[n - 5].contains(" containerd-shim "), "{table}");
        assert!(lines[n - 3].contains(" containerd-shim/29543 "), "{table}");
    }
}

// ---- which binary's schemas to give ----

const CONTAINERD: &str = "/usr/bin/containerd";
const SHIM: &str = "/usr/bin/containerd-shim-runc-v2";
const DOCKERD: &str = "/usr/sbin/dockerd";

fn note(path: &str) -> SchemaNote {
    SchemaNote {
        path: path.into(),
        version: "go1.19.8".into(),
        build_id: Some(format!("{:x}", path.len())),
    }
}

/// What decode says of a binary noted as [`note`] says.
fn hint(path: &str) -> String {
    format!(
        "containerdsnoop: this capture was decoded live with the schemas of {path} (go1.19.8, \
         build id {:x}); add --schemas-from {path} (that binary or a copy with the same build \
         id) to decode it the same way\n",
        path.len()
    )
}

fn stderr(file: &Path, args: &[&str]) -> String {
    String::from_utf8(decode(file, args).stderr).unwrap()
}

/// A capture naming containerd (twice, as a second recording appended to
/// the first would), its runc shim and dockerd, then `conns`.
fn noted(dir: &Path, conns: impl FnOnce(&mut Capture)) -> PathBuf {
    let mut capture = Capture::new();
    for path in [CONTAINERD, SHIM, DOCKERD, CONTAINERD] {
        capture.note(&note(path));
    }
    conns(&mut capture);
    let file = dir.join("noted.pcapng");
    capture.write(&file);
    file
}

#[test]
fn the_fixtures_name_no_binary() {
    for name in FIXTURES {
        let want = match name {
            "mid-connection" => {
                "containerdsnoop: 2 calls stayed unnamed: header fields from before the capture, \
                 and the file holds no HPACK table recovered from the server for them\n"
            }
            _ => "",
        };
        assert_eq!(stderr(&fixture(name), &[]), want, "{name}");
    }
}

#[test]
fn a_binary_is_named_once_and_only_when_it_served_a_shown_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = noted(dir.path(), |c| {
        c.connection(
            (18397, "ctr"),
            (5600, "containerd"),
            &calls(2, |_| TASKS_GET),
        );
        // The shim's comm is its binary's name cut to 15 bytes.
        let mut shim = Conversation::default();
        shim.unary(
            1,
            "containerd.task.v2.Task",
            "Connect",
            b"\x0a\x02c1",
            b"\x08\x2a",
        );
        c.connection(
            (5600, "containerd"),
            (29543, "containerd-shim"),
            &shim.writes,
        );
    });
    let both = hint(CONTAINERD) + &hint(SHIM);
    assert_eq!(stderr(&file, &[]), both);
    assert_eq!(stderr(&file, &["--json"]), both);
    // Only what is shown counts.
    assert_eq!(stderr(&file, &["--method", "*Tasks/*"]), hint(CONTAINERD));
    assert_eq!(stderr(&file, &["--method", "*Task/*"]), hint(SHIM));
    assert_eq!(stderr(&file, &["--method", "*Images/*"]), "");
}

#[test]
fn a_capture_without_grpc_or_ttrpc_names_no_binary() {
    let dir = tempfile::tempdir().unwrap();
    let file = noted(dir.path(), |c| {
        let bytes = b"SSH-2.0-OpenSSH_9.2\r\n".to_vec();
        c.connection(
            (18397, "curl"),
            (5600, "containerd"),
            &[(Dir::ToServer, bytes)],
        );
    });
    assert_eq!(
        stderr(&file, &[]),
        "containerdsnoop: 1 connection spoke none of gRPC, ttrpc and HTTP/1.x and was not decoded\n"
    );
    // No connection at all.
    let file = noted(dir.path(), |_| {});
    assert_eq!(stderr(&file, &[]), "");
}

#[test]
fn a_server_without_a_name_names_no_binary() {
    let dir = tempfile::tempdir().unwrap();
    let file = noted(dir.path(), |c| {
        c.connection((18397, "ctr"), (5600, "?"), &calls(2, |_| TASKS_GET));
    });
    let table = String::from_utf8(decode(&file, &[]).stdout).unwrap();
    assert!(table.contains(" pid/5600 "), "{table}");
    assert_eq!(stderr(&file, &[]), "");
}

/// An h2c upgrade (RFC 7540 section 3.2), in bytes of our own making: the
/// request that asks for it is HTTP/1.1, its answer comes on HTTP/2's
/// stream 1. Wireshark shows the request; so do we, twice (the HTTP/1.1
/// call that ended in 101, and stream 1 of the HTTP/2 that followed).
#[test]
fn an_h2c_upgrade_shows_its_first_request() {
    use containerdsnoop::decode::h2::frame::{flags, Kind};
    use containerdsnoop::decode::h2::PREFACE;
    use containerdsnoop::testsupport::h2::{frame, settings, HpackEncoder};
    let mut enc = HpackEncoder::new(4096);
    let resp = enc.encode(&[(":status", "200"), ("content-type", "text/plain")], false);
    let mut server =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    server.extend(settings(&[]));
    let mut client = PREFACE.to_vec();
    client.extend(settings(&[]));
    let writes = [
        (
            Dir::ToServer,
            b"GET /humans.txt HTTP/1.1\r\nHost: example.org\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
                .to_vec(),
        ),
        (Dir::ToClient, server),
        (Dir::ToServer, client),
        (Dir::ToClient, frame(Kind::Settings, flags::ACK, 0, &[])),
        (
            Dir::ToClient,
            frame(Kind::Headers, flags::END_HEADERS | flags::END_STREAM, 1, &resp),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h2c.pcapng");
    let mut capture = Capture::new();
    capture.connection((4001, "curl"), (4000, "nghttpd"), &writes);
    capture.write(&file);
    let p = file.to_str().unwrap();
    let uris = common::tshark([
        "-r",
        p,
        "-Y",
        "http.request",
        "-T",
        "fields",
        "-e",
        "http.request.uri",
    ]);
    assert_eq!(uris.trim(), "/humans.txt");
    let h2 = common::tshark([
        "-r",
        p,
        "-Y",
        "http2.type == 1",
        "-T",
        "fields",
        "-e",
        "http2.streamid",
    ]);
    assert_eq!(h2.trim(), "1", "Wireshark follows the upgrade into HTTP/2");
    let out = decode(&file, &["--json"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let calls: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|o: &serde_json::Value| o["type"] == "call")
        .collect();
    let methods: Vec<&str> = calls
        .iter()
        .map(|c| c["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["GET /humans.txt", "/humans.txt"], "{text}");
    assert_eq!(calls[0]["http"]["status"], 101);
    assert_eq!(calls[1]["unfinished"], false, "stream 1 ended in HTTP/2");
}
