//! What `decode` prints (no root): every row of the table under a header
//! that matches it, for the golden fixtures and for a capture built by hand
//! whose columns widen after the block of rows that sized them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use containerdsnoop::flow::{Comm, Conn, Dir, FlowEvent, Process, Side, Sink};
use containerdsnoop::output::table::BLOCK_ROWS;
use containerdsnoop::pcapng::PcapngWriter;
use containerdsnoop::protobuf::Schemas;
use containerdsnoop::testsupport::h2::Conv;
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

fn side(pid: u32, comm: &str) -> Side {
    Side {
        ino: u64::from(pid),
        owner: Process {
            pid: Some(pid),
            tid: None,
            comm: Some(Comm::from_name(comm)),
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

    /// A connection from `client` to `server` (pid, comm) and its writes.
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
            let (pid, comm) = match dir {
                Dir::ToServer => client,
                Dir::ToClient => server,
            };
            let writer = Process::thread(pid, pid, Comm::from_name(comm));
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
