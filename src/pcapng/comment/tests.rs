use super::*;

fn conn(path: Option<&str>, client: Side, server: Side) -> Conn {
    Conn {
        id: 3,
        path: path.map(str::to_string),
        client,
        server,
        first_ns: 0,
    }
}

#[test]
fn what_is_written_reads_back() {
    let client = Side {
        ino: 5678,
        owner: Process {
            pid: Some(17013),
            tid: None,
            comm: Some(Comm::from_name("c) tr")),
        },
        from_creds: false,
    };
    let c = conn(Some("/run/x: y.sock"), client, Side::default());
    let o = parse_opening(&opening(&c)).unwrap();
    assert_eq!(o.path.as_deref(), Some("/run/x: y.sock"));
    assert_eq!((o.client, o.server), (client, Side::default()));
    // Sides known only by SO_PEERCRED read back as such.
    let binder = Side {
        ino: 0,
        owner: Process {
            pid: Some(20949),
            ..Process::default()
        },
        from_creds: true,
    };
    let by_creds = Side {
        from_creds: true,
        ..client
    };
    let o = parse_opening(&opening(&conn(None, by_creds, binder))).unwrap();
    assert_eq!((o.client, o.server), (by_creds, binder));
    let u = parse_opening(&opening(&conn(None, client, client))).unwrap();
    assert_eq!(u.path, None);
    let w = Process::thread(17013, 17016, Comm::from_name("ctr x"));
    assert_eq!(parse_writer(&writer(&w).unwrap()), Some(w));
    assert_eq!(writer(&Process::default()), None);
    assert_eq!(parse_lost(&lost(65536)), Some(65536));
    assert!(is_synthetic_preface(SYNTHETIC_PREFACE));
}

#[test]
fn the_format_is_stable() {
    let s = Side {
        ino: 2,
        owner: Process {
            pid: Some(1),
            tid: None,
            comm: Some(Comm::from_name("a")),
        },
        from_creds: false,
    };
    assert_eq!(
        opening(&conn(None, s, Side::default())),
        "connection 3 on (unnamed): client pid 1 (a) inode 2; server pid ? (?) inode 0"
    );
    let binder = Side {
        ino: 0,
        owner: Process {
            pid: Some(20949),
            ..Process::default()
        },
        from_creds: true,
    };
    assert_eq!(
        opening(&conn(None, s, binder)),
        "connection 3 on (unnamed): client pid 1 (a) inode 2; server bound by pid 20949 (?) inode 0"
    );
    let w = Process::thread(1, 2, Comm::from_name("ctr"));
    assert_eq!(writer(&w).unwrap(), "pid 1 tid 2 comm ctr");
    assert_eq!(lost(7), "7 bytes lost");
}

#[test]
fn schema_notes_read_back() {
    let full = SchemaNote {
        path: "/usr/bin/containerd (x), y".into(),
        version: "go1.19.8, version 1.6.20~ds1".into(),
        build_id: Some("4e3f00".into()),
    };
    let text = schemas(&full);
    assert_eq!(
        text,
        "schemas from /usr/bin/containerd (x), y (go1.19.8, version 1.6.20~ds1, build id 4e3f00)"
    );
    assert_eq!(parse_schemas(&text), Some(full));
    let bare = SchemaNote {
        path: "/x".into(),
        version: String::new(),
        build_id: None,
    };
    assert_eq!(
        schemas(&bare),
        "schemas from /x (unknown version, no build id)"
    );
    assert_eq!(parse_schemas(&schemas(&bare)), Some(bare));
    assert!(parse_schemas("schemas from /x").is_none());
    assert!(parse_schemas("schemas from /x (v, id 3)").is_none());
}

#[test]
fn foreign_comments_do_not_parse() {
    assert!(parse_opening("connection reset").is_none());
    assert!(parse_writer("pid x tid 1 comm a").is_none());
    assert!(parse_writer("hello").is_none());
    assert!(parse_lost("many bytes lost").is_none());
    assert!(!is_synthetic_preface("PRI"));
    let origin = "3 entries from the decoder of containerd (pid 9), before stream 5";
    for frame_type in ["PUSH_PROMISE", "HEADERS"] {
        assert_eq!(parse_seed(&seed(frame_type, origin)), Some(origin));
    }
    // As files written before the tables moved to PUSH_PROMISE say it.
    let old = format!("synthetic HTTP/2 HEADERS: HPACK table recovered from the server, {origin}");
    assert_eq!(parse_seed(&old), Some(origin));
    assert_eq!(parse_seed(SYNTHETIC_PREFACE), None);
    assert_eq!(parse_seed(&seed("DATA", origin)), None);
}
