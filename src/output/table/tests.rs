use super::*;

#[test]
fn request_context() {
    let meta = CallMeta {
        namespace: Some("default".into()),
        timeout_ns: Some(2_000_000_000),
    };
    assert_eq!(context(&meta), "[ns=default timeout=2s] ");
    assert_eq!(context(&CallMeta::default()), "");
}

fn message(stream: u32, conn: u64) -> Item {
    use crate::pipeline::ConnInfo;
    Item {
        ts_ns: 0,
        conn: ConnInfo {
            id: conn,
            ..ConnInfo::default()
        },
        writer: Process::thread(4467, 4470, crate::flow::Comm::from_name("ctr")),
        peer: Process {
            pid: Some(1686),
            tid: None,
            comm: Some(crate::flow::Comm::from_name("containerd")),
        },
        what: What::Message {
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
    let mut t = Table::new(Vec::new(), TableOptions { full, width });
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
        lines[0].starts_with("TIMESTAMP    COMM           PID/TID PEER "),
        "{out}"
    );
    assert!(
        lines[1].contains(" 4467/4470 containerd/1686  REQ    c0:1 Namespaces/Create"),
        "{out}"
    );
    assert!(lines[2].contains(" REQ    c2:1 Namespaces/Create"), "{out}");
    let at = lines[0].find("MESSAGE").unwrap();
    assert!((70..=85).contains(&at), "MESSAGE at {at}: {out}");
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
