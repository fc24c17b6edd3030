//! The live table and the recording agree: `trace` and `record`, attached
//! at once to a throwaway containerd while `ctr` runs a container (new
//! shim connections, the shim's events, Task calls), print the same rows
//! in the same order, cell for cell, when the recording is decoded. In
//! particular the first row of a new shim connection names the process
//! that answers it, live as in the file (it showed `-` live).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::Duration;

use common::{
    busybox_oci, decode_ok, require_root, runtime_sockets, short_tempdir, Containerd, Recorder,
};

const IMAGE: &str = "docker.io/library/busybox:snoop";

/// The table's rows as cells (COMM, PID/TID, PEER, TYPE, STREAM, METHOD,
/// MESSAGE), headers left out, each with its time in µs of the day: the
/// column widths are each table's own (`decode` sizes them to its rows,
/// `trace` as rows come), and the time is not a cell (two tracers stamp
/// the same write each with its own clock read, which may differ in the
/// last digit), and neither is a latency.
fn rows(table: &str) -> Vec<Row> {
    table
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let mut cells = Vec::new();
            let mut rest = l.trim_start();
            let mut time = None;
            // The time, then six cells; the message is the rest.
            for i in 0..7 {
                let end = rest.find(' ').unwrap_or(rest.len());
                match i {
                    0 => time = micros_of_day(&rest[..end]),
                    _ => cells.push(rest[..end].to_owned()),
                }
                rest = rest[end..].trim_start();
            }
            cells.push(without_latency(rest.trim_end()));
            Some(Row { time: time?, cells })
        })
        .collect()
}

/// A row of the table: its time and its cells.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    time: u64,
    cells: Vec<String>,
}

/// `HH:MM:SS.ffffff` in µs; None for anything else (the header).
fn micros_of_day(t: &str) -> Option<u64> {
    let (hms, frac) = t.split_once('.')?;
    let mut secs = 0u64;
    for part in hms.split(':') {
        secs = secs * 60 + part.parse::<u64>().ok()?;
    }
    Some(secs * 1_000_000 + frac.parse::<u64>().ok()?)
}

/// Rows of two connections written less than this apart may come in
/// either order in the two tables. Each tracer stamps a write with its own
/// clock read (writes of two threads on two CPUs have no order of their
/// own), and a new connection's first writes wait in each tracer by its
/// own arrivals: for the other side's first write (src/decode/sniffer.rs),
/// and, when the client wrote before the server accepted, in a 20 ms
/// window of their times (src/capture/reorder.rs) emptied at each
/// tracer's own polls. Seen: up to 52 ms. A connection held by a bound
/// (half a second, a second) still fails the test.
const SIMULTANEOUS_US: u64 = 100_000;

/// Rows of `live` that `decoded` (the same rows, each connection's in the
/// same order) puts the other way round, though they were written more
/// than [`SIMULTANEOUS_US`] apart.
fn misordered<'a>(live: &'a [Row], decoded: &[Row]) -> Vec<(&'a Row, &'a Row)> {
    // Each row as (connection, its index on its connection).
    let keys = |rows: &[Row]| {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        rows.iter()
            .map(|r| {
                let n = seen.entry(connection(r)).or_default();
                *n += 1;
                (connection(r), *n)
            })
            .collect::<Vec<_>>()
    };
    let place: BTreeMap<(String, usize), usize> = keys(decoded)
        .into_iter()
        .enumerate()
        .map(|(i, k)| (k, i))
        .collect();
    let at: Vec<usize> = keys(live).iter().map(|k| place[k]).collect();
    let mut out = Vec::new();
    for i in 0..live.len() {
        for j in i + 1..live.len() {
            if at[i] > at[j] && live[j].time.abs_diff(live[i].time) > SIMULTANEOUS_US {
                out.push((&live[i], &live[j]));
            }
        }
    }
    out
}

/// A message without the latency an end row closes with (`... after
/// 166µs`): each tracer measures it with its own clock reads.
fn without_latency(message: &str) -> String {
    match message.rsplit_once(" after ") {
        Some((head, tail))
            if tail.starts_with(|c: char| c.is_ascii_digit()) && tail.ends_with(['s', 'm']) =>
        {
            format!("{head} after …")
        }
        _ => message.to_owned(),
    }
}

/// One run: `trace` and `record` attached at once while ctr runs container
/// `id`; the live rows, the decoded rows, and whether either tracer
/// ordered records by its time bound (see the test).
fn attempt(cd: &Containerd, dir: &Path, id: &str) -> (Rows, Rows, bool) {
    let owned = runtime_sockets(cd);
    let sockets: Vec<&str> = owned.iter().map(String::as_str).collect();
    let out = dir.join(format!("{id}.pcapng"));
    let rec = Recorder::start(&out, &sockets);
    let mut trace_args = vec!["trace", "--full", "--no-binary-schemas"];
    trace_args.extend_from_slice(&sockets);
    let trace_base = dir.join(format!("{id}-trace"));
    let tr = Recorder::start_command(&trace_base, &trace_args);

    cd.ctr_ok(&["version"]);
    cd.ctr_ok(&["-n", "tm", "run", "--rm", IMAGE, id, "/bin/echo", "hi"]);
    cd.ctr_ok(&["-n", "tm", "containers", "ls"]);
    thread::sleep(Duration::from_millis(500));
    let (status, trace_err) = tr.stop();
    assert!(status.success(), "trace failed: {trace_err}");
    let (status, record_err) = rec.stop();
    assert!(status.success(), "record failed: {record_err}");

    let live = std::fs::read_to_string(dir.join(format!("{id}-trace.stdout"))).unwrap();
    let offline = decode_ok(&out, &["--full"]);
    let forced = [&trace_err, &record_err]
        .iter()
        .any(|e| e.contains("ordered by time bound"));
    (rows(&live), rows(&offline), forced)
}

type Rows = Vec<Row>;

/// The `cN` of a row's STREAM cell.
fn connection(r: &Row) -> String {
    r.cells[4].split(':').next().unwrap_or("").to_owned()
}

/// Each connection's rows' cells, in order.
fn by_connection(rows: &Rows) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut out: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for r in rows {
        out.entry(connection(r)).or_default().push(r.cells.clone());
    }
    out
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn live_table_and_decoded_recording_agree_row_for_row() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-tm");
    let image = busybox_oci(dir.path());
    cd.ctr_ok(&["-n", "tm", "images", "import", image.to_str().unwrap()]);
    // Each tracer orders a connection's two directions by its own acks;
    // a start-up race in the kernel (see src/bpf/sock_hook.bpf.h) can
    // leave one tracer's acks off by a read, and that tracer then orders
    // some records by its time bound (and says so): its rows can come in
    // another order across connections. Each connection's rows always
    // agree; all rows in order on a run where neither tracer had to, but
    // for rows of different connections written at the same moment.
    let mut strict = 0;
    for attempt_no in 1..=3 {
        let id = format!("tm{attempt_no}");
        let (live, offline, forced) = attempt(&cd, dir.path(), &id);
        // The run was seen: shim connections and their Task calls.
        assert!(
            live.iter()
                .any(|r| r.cells[5] == "/containerd.task.v2.Task/Create"),
            "{live:#?}"
        );
        // No row of a shim connection leaves its peer unnamed.
        let unnamed: Vec<&Row> = live
            .iter()
            .filter(|r| r.cells[5].starts_with("/containerd.task.v2.Task/") && r.cells[2] == "-")
            .collect();
        assert!(unnamed.is_empty(), "{unnamed:#?}");
        assert_eq!(by_connection(&live), by_connection(&offline));
        if forced {
            continue;
        }
        let wrong = misordered(&live, &offline);
        assert!(
            wrong.is_empty(),
            "rows written more than {SIMULTANEOUS_US} µs apart, in one order live and the other decoded: {wrong:#?}"
        );
        strict += 1;
        break;
    }
    assert!(
        strict > 0,
        "every run had records ordered by the time bound"
    );
}

#[test]
fn rows_written_apart_must_keep_their_order_and_simultaneous_ones_may_not() {
    let row = |conn: &str, time: u64| Row {
        time,
        cells: ["ctr", "1", "-", "REQ", &format!("{conn}:1"), "/a.B/C", ""]
            .map(String::from)
            .to_vec(),
    };
    let live = [row("c1", 0), row("c2", 150_000), row("c1", 160_000)];
    let swapped = [live[1].clone(), live[0].clone(), live[2].clone()];
    assert_eq!(misordered(&live, &swapped), [(&live[0], &live[1])]);
    assert!(misordered(&live, &live).is_empty());
    let close = [row("c1", 0), row("c2", SIMULTANEOUS_US)];
    let close_swapped = [close[1].clone(), close[0].clone()];
    assert!(misordered(&close, &close_swapped).is_empty());
    assert_eq!(
        rows("TIMESTAMP  COMM\n14:44:37.008108 ctr 1 - REQ c0:1 /a.B/C x:1 after 3ms\n"),
        [Row {
            time: (14 * 3600 + 44 * 60 + 37) * 1_000_000 + 8_108,
            cells: ["ctr", "1", "-", "REQ", "c0:1", "/a.B/C", "x:1 after …"]
                .map(String::from)
                .to_vec(),
        }]
    );
}
