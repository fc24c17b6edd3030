use super::*;

/// A header's name field from 16 bytes.
fn name(b: &[u8; 16]) -> [i8; 16] {
    b.map(|c| c as i8)
}

fn raw(kind: u16, flags: u16, offset: u64, body: &[u8]) -> Vec<u8> {
    let h = snoop_event {
        ts_ns: 7,
        sock_ino: 10,
        peer_ino: 11,
        offset: offset + OFFSET_BASE,
        pid: 100,
        tid: 101,
        peer_pid: 200,
        len: body.len() as u32,
        kind,
        flags,
        comm: name(b"python3\0garbage\0"),
        thread_comm: name(b"event_engine\0\0\0\0"),
        ..Default::default()
    };
    // SAFETY: snoop_event is plain old data (see the Plain impl above).
    let mut v = unsafe { plain::as_bytes(&h) }.to_vec();
    v.extend_from_slice(body);
    v
}

#[test]
fn parses_data() {
    let r = raw(KIND_DATA, FLAG_SERVER, 42, b"hello");
    let rec = parse(&r).unwrap();
    // The process's name (what follows its NUL dropped) and the thread's.
    assert_eq!(rec.writer.comm, Some(Comm::from_name("python3")));
    assert_eq!(
        rec.writer.thread_comm,
        Some(Comm::from_name("event_engine"))
    );
    assert_eq!(rec.writer.pid, Some(100));
    assert_eq!(rec.writer.tid, Some(101));
    assert!(rec.socket.is_server());
    assert_eq!(rec.socket.peer_pid, 200);
    assert_eq!(
        rec.payload,
        Payload::Data {
            offset: 42,
            bytes: b"hello"
        }
    );
}

#[test]
fn parses_info_and_close() {
    let info = raw(KIND_SOCK_INFO, 0, 0, b"/run/x.sock");
    let rec = parse(&info).unwrap();
    assert_eq!(
        rec.payload,
        Payload::Info {
            path: Some("/run/x.sock".into()),
            fresh: false,
        }
    );
    assert!(!rec.socket.is_server());
    let close = raw(KIND_CLOSE, 0, 99, b"");
    let rec = parse(&close).unwrap();
    assert_eq!(rec.payload, Payload::Close { final_offset: 99 });
}

#[test]
fn rejects_malformed() {
    assert_eq!(parse(&[0u8; 3]), Err(RecordError::Short(3)));
    let mut r = raw(KIND_DATA, 0, 0, b"abc");
    r.truncate(r.len() - 1);
    assert!(matches!(parse(&r), Err(RecordError::BadLength { .. })));
    assert_eq!(parse(&raw(9, 0, 0, b"")), Err(RecordError::UnknownKind(9)));
}

#[test]
fn parses_gaps() {
    let mut r = raw(KIND_GAP, FLAG_MORE, 5, b"");
    let mut h = header(&r).unwrap();
    h.gap_len = 300;
    h.reason = 1;
    set_header(&mut r, &h);
    assert_eq!(
        parse(&r).unwrap().payload,
        Payload::Gap {
            offset: 5,
            len: 300,
            reason: GapReason::IoUring
        }
    );
    assert!(GapReason::IoUring.by_design());
    assert!(!GapReason::RingFull.by_design());
}

#[test]
fn roles_without_addresses_follow_inode_order() {
    let s = Socket {
        ino: 5,
        peer_ino: 4,
        peer_pid: 0,
        bound: false,
        peer_bound: false,
    };
    assert!(s.is_server());
    let both = Socket {
        bound: true,
        peer_bound: true,
        ..s
    };
    assert!(both.is_server());
}

#[test]
fn the_header_keeps_its_layout() {
    // snoop.h: a multiple of 8 so that payloads stay aligned; the names at
    // the offsets its comments give.
    assert_eq!(HEADER_LEN, 112);
    assert_eq!(std::mem::offset_of!(snoop_event, comm), 68);
    assert_eq!(std::mem::offset_of!(snoop_event, thread_comm), 84);
    assert_eq!(std::mem::offset_of!(snoop_event, cgroup_id), 104);
}

/// A SNOOP_CGROUP record's payload: components leaf first.
fn cgroup_body(names: &[&str], truncated: bool) -> Vec<u8> {
    let mut c = snoop_cgroup {
        depth: names.len() as u32,
        truncated: u32::from(truncated),
        ..Default::default()
    };
    let slot = snoop_abi::SNOOP_CGROUP_NAME.0 as usize;
    for (i, n) in names.iter().enumerate() {
        for (j, b) in n.bytes().enumerate() {
            c.names[i * slot + j] = b as i8;
        }
    }
    // SAFETY: snoop_cgroup is plain old data (see the Plain impl above).
    unsafe { plain::as_bytes(&c) }.to_vec()
}

#[test]
fn parses_cgroup_paths_and_keys() {
    let mut r = raw(KIND_CGROUP, 0, 0, &cgroup_body(&["cg1", "default"], false));
    // The header's cgroup_id (a real record names its own cgroup).
    r[104..112].copy_from_slice(&77u64.to_ne_bytes());
    let rec = parse(&r).unwrap();
    assert_eq!(rec.cgroup, super::super::cgroups::key(77, false));
    assert_eq!(
        rec.payload,
        Payload::Cgroup {
            path: "/default/cg1".into(),
            complete: true
        }
    );
    // The root: no components.
    let root = raw(KIND_CGROUP, FLAG_CGROUP_V1, 0, &cgroup_body(&[], false));
    assert_eq!(
        parse(&root).unwrap().payload,
        Payload::Cgroup {
            path: "/".into(),
            complete: true
        }
    );
    // Deeper than the kernel reads: the top is missing.
    let deep = raw(KIND_CGROUP, 0, 0, &cgroup_body(&["x.scope", "b"], true));
    assert_eq!(
        parse(&deep).unwrap().payload,
        Payload::Cgroup {
            path: "/b/x.scope".into(),
            complete: false
        }
    );
    // A depth past the array is bounded, not trusted.
    let mut bad = cgroup_body(&["a"], false);
    bad[..4].copy_from_slice(&1000u32.to_ne_bytes());
    assert!(matches!(
        parse(&raw(KIND_CGROUP, 0, 0, &bad)).unwrap().payload,
        Payload::Cgroup { .. }
    ));
    // Data records name the writer's cgroup; v1 ids are other keys; 0 is
    // "not read".
    let mut d = raw(KIND_DATA, FLAG_CGROUP_V1, 0, b"x");
    d[104..112].copy_from_slice(&77u64.to_ne_bytes());
    assert_eq!(
        parse(&d).unwrap().cgroup,
        super::super::cgroups::key(77, true)
    );
    assert_eq!(parse(&raw(KIND_DATA, 0, 0, b"x")).unwrap().cgroup, 0);
}
