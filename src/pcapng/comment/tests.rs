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

fn owner(pid: u32, comm: &str) -> Process {
    Process {
        pid: Some(pid),
        comm: Some(Comm::from_name(comm)),
        ..Process::default()
    }
}

#[test]
fn what_is_written_reads_back() {
    let client = Side {
        ino: 5678,
        owner: owner(17013, "c) tr; server "),
        from_creds: false,
    };
    let c = conn(
        Some("/run/x: client y; server z.sock"),
        client,
        Side::default(),
    );
    let o = parse_opening(&opening(&c)).unwrap();
    assert_eq!(o.id, 3, "the capture's connection number");
    assert_eq!(o.path.as_deref(), Some("/run/x: client y; server z.sock"));
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
    let w = Process::thread(17013, 17016, Comm::from_name("python3"))
        .with_thread_comm(Comm::from_name("event engine"));
    assert_eq!(parse_writer(&writer(&w).unwrap()), Some(w));
    // What is not known is not written, and reads back unknown.
    let bare = Process {
        pid: Some(1),
        ..Process::default()
    };
    assert_eq!(writer(&bare).unwrap(), "pid=1");
    assert_eq!(parse_writer("pid=1"), Some(bare));
    assert_eq!(writer(&Process::default()), None);
    assert_eq!(parse_lost(&lost(65536)), Some(65536));
    assert!(is_synthetic_preface(SYNTHETIC_PREFACE));
}

#[test]
fn names_of_any_bytes_read_back() {
    // A comm is 16 bytes from the kernel: anything but NUL, UTF-8 or not.
    let mut rng = crate::testsupport::Rng::new(6);
    let special = [
        b' ', b'=', b'\\', b';', b':', b'(', b')', 0x7f, 0xc3, 0xff, b'\n',
    ];
    for _ in 0..5_000 {
        let name = |rng: &mut crate::testsupport::Rng| {
            let len = rng.below(17);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.below(2) {
                    0 => special[rng.below(special.len())],
                    _ => (rng.next_u64() as u8).max(1),
                })
                .collect();
            Comm::from_bytes(&bytes).unwrap()
        };
        let (process, thread) = (name(&mut rng), name(&mut rng));
        let w = Process::thread(4, 5, process).with_thread_comm(thread);
        let text = writer(&w).unwrap();
        assert_eq!(parse_writer(&text), Some(w), "{text:?}");
        let s = Side {
            ino: 9,
            owner: w.owner(),
            from_creds: rng.below(2) == 0,
        };
        let text = opening(&conn(Some("/p"), s, s));
        let o = parse_opening(&text).unwrap_or_else(|| panic!("{text:?}"));
        assert_eq!((o.client, o.server), (s, s), "{text:?}");
    }
}

#[test]
fn the_format_is_stable() {
    let s = Side {
        ino: 2,
        owner: owner(1, "a"),
        from_creds: false,
    };
    assert_eq!(
        opening(&conn(None, s, Side::default())),
        "connection 3 on (unnamed): client pid=1 comm=a inode=2; server inode=0"
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
        opening(&conn(Some("/run/x.sock"), s, binder)),
        "connection 3 on /run/x.sock: client pid=1 comm=a inode=2; server pid=20949 \
         pid_from=SO_PEERCRED inode=0"
    );
    let w = Process::thread(1, 2, Comm::from_name("python3"))
        .with_thread_comm(Comm::from_name("event_engine"));
    assert_eq!(
        writer(&w).unwrap(),
        "pid=1 tid=2 comm=python3 thread_comm=event_engine"
    );
    let odd = Process::thread(1, 2, Comm::from_bytes(b"a b=\\\xff").unwrap());
    assert_eq!(writer(&odd).unwrap(), r"pid=1 tid=2 comm=a\x20b\x3d\\\xff");
    assert_eq!(lost(7), "7 bytes lost");
}

#[test]
fn comments_of_files_written_before_read_as_they_did() {
    // The name was the writing thread's; tables showed it as COMM.
    assert_eq!(
        parse_writer("pid 32089 tid 32094 comm containerd"),
        Some(Process::thread(32089, 32094, Comm::from_name("containerd")))
    );
    assert_eq!(
        parse_writer("pid 1 tid 2 comm ctr x"),
        Some(Process::thread(1, 2, Comm::from_name("ctr x")))
    );
    let o = parse_opening(
        "connection 0 on /run/x: y.sock: client pid 17013 (c) tr) inode 5678; \
         server bound by pid 20949 (?) inode 0",
    )
    .unwrap();
    assert_eq!(o.path.as_deref(), Some("/run/x: y.sock"));
    let client = Side {
        ino: 5678,
        owner: owner(17013, "c) tr"),
        from_creds: false,
    };
    let binder = Side {
        ino: 0,
        owner: Process {
            pid: Some(20949),
            ..Process::default()
        },
        from_creds: true,
    };
    assert_eq!((o.client, o.server), (client, binder));
    let o = parse_opening(
        "connection 3 on (unnamed): client connected by pid 1 (a) inode 2; \
         server pid ? (?) inode 0",
    )
    .unwrap();
    assert_eq!(o.path, None);
    assert!(o.client.from_creds);
    assert_eq!(o.server, Side::default());
}

#[test]
fn malformed_writers_and_sides_do_not_parse() {
    for bad in [
        "pid=x tid=1",
        "tid=1 comm=a",
        "pid=1 tid=-2",
        "pid=1 comm=a=b",
        "pid=1 comm=\\x00",
        "pid=1 comm=aaaaaaaaaaaaaaaaa",
        "pid=1 thread_comm=\\q",
        "pid=1 pid=1",
        "pid=99999999999",
    ] {
        assert_eq!(parse_writer(bad), None, "{bad:?}");
    }
    // Keys added later are skipped.
    assert_eq!(
        parse_writer("pid=1 added_later=abc"),
        Some(Process {
            pid: Some(1),
            ..Process::default()
        })
    );
    for bad in [
        "connection 0 on /x: client inode=1; server pid=2",
        "connection 0 on /x: client inode=1; server inode=2 pid_from=listen",
        "connection 0 on /x: client inode=1; server inode=x",
        "connection 0 on /x: client inode=1; server comm=\\x00 inode=1",
        "connection 0 on /x: client inode=1 server inode=2",
        "connection x on /x: client inode=1; server inode=2",
    ] {
        assert_eq!(parse_opening(bad), None, "{bad:?}");
    }
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
    assert!(parse_writer("7 bytes lost").is_none());
    assert!(parse_writer(SYNTHETIC_PREFACE).is_none());
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

fn in_container(id: &str, uid: Option<&str>) -> InContainer {
    InContainer::Container(Container {
        id: ContainerId::new(id).unwrap(),
        pod_uid: uid.map(|u| PodUid::new(u).unwrap()),
    })
}

#[test]
fn where_processes_run_reads_back() {
    for place in [
        InContainer::Unknown,
        InContainer::Host,
        in_container("cg1", None),
        in_container(
            &"ab12".repeat(16),
            Some("2b3c4d5e-6f70-4a1b-9c2d-3e4f5a6b7c8d"),
        ),
    ] {
        let w = Process {
            container: place,
            ..Process::thread(7, 8, Comm::from_name("ctr"))
        };
        let text = writer(&w).unwrap();
        assert_eq!(parse_writer(&text), Some(w), "{text}");
        let side = Side {
            ino: 5,
            owner: w.owner(),
            from_creds: false,
        };
        let c = conn(Some("/run/x.sock"), side, Side::default());
        let o = parse_opening(&opening(&c)).unwrap();
        assert_eq!(o.client, side);
    }
    assert_eq!(
        writer(&Process {
            container: in_container("cg1", Some("u-1")),
            ..Process::thread(7, 8, Comm::from_name("ctr"))
        })
        .unwrap(),
        "pid=7 tid=8 comm=ctr container=cg1 pod_uid=u-1"
    );
    assert_eq!(
        writer(&Process {
            container: InContainer::Host,
            ..Process::thread(7, 8, Comm::from_name("ctr"))
        })
        .unwrap(),
        "pid=7 tid=8 comm=ctr container=-"
    );
    // Ids that cannot be ids do not parse; a uid without a container is
    // nothing.
    assert_eq!(parse_writer("pid=1 container=a\\b"), None);
    assert_eq!(parse_writer("pid=1 container=-x"), None);
    assert_eq!(parse_writer("pid=1 container=cg1 pod_uid=\x20"), None);
    assert_eq!(
        parse_writer("pid=1 pod_uid=u").map(|p| p.container),
        Some(InContainer::Unknown)
    );
}
