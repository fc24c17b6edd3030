use super::*;
use unicode_width::UnicodeWidthStr;

#[test]
fn request_context() {
    let meta = CallMeta {
        http: None,
        namespace: Some("default".into()),
        timeout_ns: Some(2_000_000_000),
    };
    assert_eq!(
        context(&meta, &Subject::default(), None),
        "[ns=default timeout=2s] "
    );
    assert_eq!(context(&CallMeta::default(), &Subject::default(), None), "");
    let id = "8806619fdd57a1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930";
    let subject = Subject {
        pod: Some(std::sync::Arc::new(crate::subjects::extract::PodMeta {
            namespace: "default".into(),
            name: "probe \"pod\"".into(),
            uid: "u1".into(),
        })),
        container: Some(std::sync::Arc::new(crate::subjects::ContainerRef {
            id: id.into(),
            name: None,
        })),
        sandbox_id: None,
    };
    assert_eq!(
        context(&meta, &subject, None),
        "[ns=default pod=default/probe \\\"pod\\\" ctr=8806619fdd57 timeout=2s] "
    );
    assert_eq!(
        context(&meta, &Subject::default(), None),
        "[ns=default timeout=2s] "
    );
    assert_eq!(context(&CallMeta::default(), &Subject::default(), None), "");
    assert_eq!(
        context(
            &meta,
            &Subject::default(),
            Some("from_container=abc".into())
        ),
        "[ns=default timeout=2s from_container=abc] "
    );
    assert_eq!(
        context(
            &CallMeta::default(),
            &Subject::default(),
            Some("from_container=abc".into())
        ),
        "[from_container=abc] "
    );
}

#[test]
fn named_ids_are_shortened() {
    let id = "8806619fdd57a1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930";
    let mut subject = Subject {
        container: Some(std::sync::Arc::new(crate::subjects::ContainerRef {
            id: id.into(),
            name: None,
        })),
        ..Subject::default()
    };
    let text = format!("id:\"{id}\" exec_id:\"x\" longer:{id}0 again:{id}");
    let shortened = |subject: &Subject| {
        let mut out = String::from("> ");
        Shown::new(subject).push_shortened(&mut out, &text);
        out
    };
    assert_eq!(
        shortened(&subject),
        format!("> {text}"),
        "an id without a name stays whole"
    );
    std::sync::Arc::make_mut(subject.container.as_mut().unwrap()).name = Some("web".into());
    assert_eq!(
        shortened(&subject),
        format!("> id:\"8806619fdd57\" exec_id:\"x\" longer:{id}0 again:8806619fdd57")
    );
    // A sandbox's own container: the same id named twice.
    subject.sandbox_id = Some(id.into());
    subject.pod = Some(std::sync::Arc::new(Default::default()));
    assert_eq!(
        shortened(&subject),
        format!("> id:\"8806619fdd57\" exec_id:\"x\" longer:{id}0 again:8806619fdd57")
    );
    assert_eq!(short_id("abc"), "abc");
}

#[test]
fn rows_of_a_client_in_a_container_say_so() {
    use crate::flow::{Container, ContainerId, InContainer};
    let id = "8806619fdd57a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a";
    let mut request = message(1, 0);
    request.conn.client.container = InContainer::Container(Container {
        id: ContainerId::new(id).unwrap(),
        pod_uid: None,
    });
    let mut response = request.clone();
    if let What::Message { dir, .. } = &mut response.what {
        *dir = crate::flow::Dir::ToClient;
    }
    let host = message(1, 1);
    let out = table(None, false, &[request.clone(), response.clone(), host]);
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("TIMESTAMP"))
        .collect();
    assert!(rows[0].ends_with("[from_container=8806619fdd57]"), "{out}");
    assert!(rows[1].ends_with("[from_container=8806619fdd57]"), "{out}");
    assert!(!rows[2].contains("from_container"), "{out}");
    let full = table(None, true, &[request, response]);
    assert!(full.contains(&format!("[from_container={id}]")), "{full}");
}

fn message(stream: u32, conn: u64) -> Item {
    use crate::pipeline::ConnInfo;
    Item {
        ts_ns: 0,
        subject: Default::default(),
        ends: Default::default(),
        conn: ConnInfo {
            id: conn,
            ..ConnInfo::default()
        },
        writer: Process::thread(4467, 4470, crate::flow::Comm::from_name("ctr")),
        peer: Process {
            pid: Some(1686),
            tid: None,
            comm: Some(crate::flow::Comm::from_name("containerd")),
            ..Default::default()
        },
        what: What::Message {
            http: None,
            dir: crate::flow::Dir::ToServer,
            stream,
            path: PathInfo::Known("/containerd.services.namespaces.v1.Namespaces/Create".into()),
            meta: CallMeta::default(),
            compressed: false,
            payload: vec![],
            decompress_error: None,
            decoded: None,
        },
    }
}

fn table(width: Option<usize>, full: bool, items: &[Item]) -> String {
    let sizing = Sizing::Live { pid_digits: 5 };
    let mut t = Table::new(
        Vec::new(),
        TableOptions {
            full,
            width,
            sizing,
        },
    );
    for i in items {
        t.item(i).unwrap();
    }
    String::from_utf8(t.w).unwrap()
}

#[test]
fn rows_name_their_connection_and_fit_120_columns() {
    let out = table(Some(120), false, &[message(1, 0), message(1, 2)]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("TIMESTAMP    COMM                PID/TID PEER "),
        "{out}"
    );
    assert!(
        lines[1].contains(" 4467/4470 containerd/1686       REQ    c0:1 Namespaces/Create"),
        "{out}"
    );
    assert!(lines[2].contains(" REQ    c2:1 Namespaces/Create"), "{out}");
    let at = lines[0].find("MESSAGE").unwrap();
    assert!((85..=95).contains(&at), "MESSAGE at {at}: {out}");
    // --full: the path and microseconds.
    let full = table(Some(120), true, &[message(1, 0)]);
    assert!(
        full.contains("/containerd.services.namespaces.v1.Namespaces/Create"),
        "{full}"
    );
    assert!(
        full.lines()
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .len()
            == 15,
        "{full}"
    );
}

#[test]
fn pid_and_thread() {
    assert_eq!(pid_tid(&Process::thread(7, 7, Default::default())), "7");
    assert_eq!(pid_tid(&Process::thread(7, 8, Default::default())), "7/8");
    assert_eq!(pid_tid(&Process::default()), "-");
}

// ---- every row under a header that matches it ----

/// A row's cells: `comm` writes to `containerd/1686` on stream `stream` of
/// `method`, with the message `msg=N`.
fn cells(comm: &str, stream: u64, method: &str, n: usize) -> Cells {
    [
        "14:10:00.123".into(),
        comm.into(),
        "4467/4470".into(),
        "containerd/1686".into(),
        "REQ".into(),
        format!("c0:{stream}"),
        method.into(),
        format!("msg={n}"),
    ]
}

/// Rows whose widths grow: COMM, STREAM and METHOD each widen a few times.
fn growing(rows: usize) -> Vec<Cells> {
    let comms = ["ctr", "dockerd", "containerd", "containerd-shim"];
    let methods = [
        "Tasks/Get",
        "Version/Version",
        "Namespaces/Create",
        "RuntimeService/ListPodSandboxStats",
    ];
    (0..rows)
        .map(|n| {
            let step = n * 4 / rows;
            cells(
                comms[step],
                10u64.pow(step as u32 * 2) + 1,
                methods[step],
                n,
            )
        })
        .collect()
}

fn table_of(opts: TableOptions) -> Table<Vec<u8>> {
    Table::new(Vec::new(), opts)
}

fn written(t: &Table<Vec<u8>>) -> Vec<String> {
    String::from_utf8(t.w.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Checks that every row's MESSAGE starts at the display column of its
/// header's (the last one above it); returns the indexes of the headers.
fn assert_aligned(lines: &[String]) -> Vec<usize> {
    let mut headers = Vec::new();
    let mut at = None;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("TIMESTAMP") {
            headers.push(i);
            at = Some(line[..line.find("MESSAGE").unwrap()].width());
            continue;
        }
        let row_at = line[..line.find("msg=").unwrap()].width();
        assert_eq!(
            Some(row_at),
            at,
            "row {i} is not under its header:\n{}",
            lines[..=i].join("\n")
        );
    }
    headers
}

#[test]
fn a_file_table_sizes_its_columns_from_its_rows_before_the_first() {
    for (width, full) in [
        (None, false),
        (None, true),
        (Some(100), false),
        (Some(160), false),
    ] {
        let mut t = table_of(TableOptions {
            full,
            width,
            sizing: Sizing::File,
        });
        for row in growing(400) {
            t.push(row).unwrap();
        }
        assert!(t.w.is_empty(), "held until the end of the file");
        t.flush().unwrap();
        let lines = written(&t);
        assert_eq!(lines.len(), 401);
        assert_eq!(assert_aligned(&lines), [0], "one header: {width:?} {full}");
        if let Some(w) = width {
            assert!(lines.iter().all(|l| l.width() <= w), "cut to {w} columns");
        }
        if width == Some(100) {
            assert!(
                lines[400].contains(" …PodSandboxStats msg=399"),
                "{}",
                lines[400]
            );
        }
    }
}

#[test]
fn past_the_block_a_wider_row_writes_the_header_again() {
    let mut t = table_of(TableOptions {
        sizing: Sizing::File,
        ..TableOptions::default()
    });
    let rows = growing(4 * BLOCK_ROWS);
    for row in &rows[..BLOCK_ROWS] {
        t.push(row.clone()).unwrap();
    }
    // The block is written as soon as it is full, the rest as they come.
    assert_eq!(written(&t).len(), BLOCK_ROWS + 1);
    for row in &rows[BLOCK_ROWS..] {
        t.push(row.clone()).unwrap();
    }
    t.flush().unwrap();
    let lines = written(&t);
    // The first header; then one above the first row of each later step
    // (each widens COMM, STREAM and METHOD at once).
    let headers = assert_aligned(&lines);
    assert_eq!(
        headers,
        [0, BLOCK_ROWS + 1, 2 * BLOCK_ROWS + 2, 3 * BLOCK_ROWS + 3]
    );
    assert_eq!(t.headers, 4);
    let first_of_step_2 = &lines[2 * BLOCK_ROWS + 3];
    assert!(
        first_of_step_2.contains(" c0:10001 Namespaces/Create msg=2048"),
        "{first_of_step_2}"
    );
}

#[test]
fn the_block_holds_a_bounded_amount_of_text() {
    let mut t = table_of(TableOptions {
        sizing: Sizing::File,
        ..TableOptions::default()
    });
    let big = "x".repeat(BLOCK_BYTES / 4);
    for n in 0..4 {
        let mut row = cells("ctr", 1, "Tasks/Get", n);
        row[COLUMNS] = format!("msg={n} {big}");
        assert!(t.w.is_empty());
        t.push(row).unwrap();
    }
    // The fourth row brought the block past its bound: written, unflushed.
    assert_eq!(written(&t).len(), 5);
}

#[test]
fn a_live_table_writes_the_header_again_above_a_row_that_widens_a_column() {
    // 110 columns cut METHOD to 20.
    for (width, full) in [(Some(120), false), (Some(110), false), (None, true)] {
        let mut t = table_of(TableOptions {
            full,
            width,
            sizing: Sizing::Live { pid_digits: 5 },
        });
        // Written as they come.
        t.push(cells("ctr", 1, "Tasks/Get", 0)).unwrap();
        assert_eq!(written(&t).len(), 2);
        // What the columns can hold changes nothing: the longest comm,
        // pids of 5 digits, a method within the start width.
        let mut shim = cells("containerd-shim", 3, "Task/Create", 1);
        shim[2] = "29543/29551".into();
        shim[3] = "containerd-shim/29543".into();
        t.push(shim).unwrap();
        // A pid of 7 digits, a longer stream, a longer method: each widens.
        let mut big_pid = cells("ctr", 5, "Tasks/Get", 2);
        big_pid[2] = "4194303/4194302".into();
        t.push(big_pid).unwrap();
        t.push(cells("ctr", 5, "Tasks/Get", 3)).unwrap();
        t.push(cells("ctr", 12345, "Tasks/Get", 4)).unwrap();
        let long = "RuntimeService/ListPodSandboxStats";
        t.push(cells("ctr", 7, long, 5)).unwrap();
        t.push(cells("ctr", 9, "Tasks/Get", 6)).unwrap();
        let lines = written(&t);
        assert_eq!(assert_aligned(&lines), [0, 3, 6, 8], "{}", lines.join("\n"));
        // Each header is written at the widths of the row below it.
        assert!(lines[3].contains("        PID/TID PEER"), "{}", lines[3]);
        assert!(
            lines[4].contains(" 4194303/4194302 containerd/1686"),
            "{}",
            lines[4]
        );
        assert!(lines[6].contains(" STREAM METHOD"), "{}", lines[6]);
        assert!(lines[7].contains(" c0:12345 Tasks/Get"), "{}", lines[7]);
        assert_eq!(t.headers, 4);
    }
}

/// A note written by `writer`, its MESSAGE `msg=N`.
fn note_by(writer: Process, n: usize) -> Item {
    Item {
        writer,
        what: What::Note {
            dir: crate::flow::Dir::ToServer,
            text: format!("msg={n}"),
        },
        ..message(1, 0)
    }
}

#[test]
fn comm_is_the_process_and_full_adds_a_renamed_thread() {
    use crate::flow::Comm;
    let python = Comm::from_name("python3");
    let grpcio =
        Process::thread(900, 903, python).with_thread_comm(Comm::from_name("event_engine"));
    let main = Process::thread(900, 900, python).with_thread_comm(python);
    let old_file = Process::thread(900, 901, python);
    assert_eq!(comm(&grpcio, false), "python3");
    assert_eq!(comm(&grpcio, true), "python3/event_engine");
    assert_eq!(comm(&main, true), "python3");
    assert_eq!(comm(&old_file, true), "python3");
    assert_eq!(comm(&Process::default(), true), "-");
    for full in [false, true] {
        for sizing in [Sizing::Live { pid_digits: 5 }, Sizing::File] {
            let mut t = table_of(TableOptions {
                full,
                width: None,
                sizing,
            });
            for (i, w) in [main, grpcio, old_file, grpcio, main]
                .into_iter()
                .enumerate()
            {
                t.item(&note_by(w, i)).unwrap();
            }
            t.flush().unwrap();
            let lines = written(&t);
            assert_aligned(&lines);
            let renamed = lines
                .iter()
                .filter(|l| l.contains(" python3/event_engine "))
                .count();
            assert_eq!(renamed, if full { 2 } else { 0 }, "{}", lines.join("\n"));
            assert_eq!(
                lines.iter().filter(|l| l.contains(" python3 ")).count(),
                5 - renamed
            );
        }
    }
}
