use super::*;

#[test]
fn names_and_short_forms() {
    let c = Comm::from_name("a-very-long-process-name");
    assert_eq!(c.as_str(), "a-very-long-pro");
    assert_eq!(Comm::from_name("ab\0cd"), Comm::from_name("ab"));
    let p = Process::thread(7, 8, Comm::from_name("ctr"));
    assert_eq!(p.short(), "ctr/7");
    assert_eq!(p.owner().tid, None);
    let anon = Process {
        pid: Some(9),
        ..Default::default()
    };
    assert_eq!(anon.short(), "pid/9");
    assert_eq!(Process::default().short(), "-");
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"pid":7,"tid":8,"comm":"ctr","thread_comm":null}"#
    );
}

#[test]
fn a_thread_may_have_a_name_of_its_own() {
    let python = Comm::from_name("python3");
    let p = Process::thread(7, 9, python).with_thread_comm(Comm::from_name("event_engine"));
    assert_eq!(p.renamed_thread(), Some(Comm::from_name("event_engine")));
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"pid":7,"tid":9,"comm":"python3","thread_comm":"event_engine"}"#
    );
    // A socket's owner is the process: no thread, so no thread name.
    assert_eq!(p.owner(), Process::thread(7, 9, python).owner());
    let same = Process::thread(7, 7, python).with_thread_comm(python);
    assert_eq!(same.renamed_thread(), None);
    assert_eq!(Process::thread(7, 7, python).renamed_thread(), None);
}

#[test]
fn comms_hold_any_bytes_but_nul() {
    let raw = Comm::from_bytes(b"\xff a=b\\").unwrap();
    assert_eq!(raw.name(), b"\xff a=b\\");
    assert_eq!(Comm::from_bytes(&[0xff; 16]).unwrap().name(), &[0xff; 16]);
    assert_eq!(Comm::from_bytes(&[b'a'; 17]), None);
    assert_eq!(Comm::from_bytes(b"a\0b"), None);
    assert_eq!(Comm::from_bytes(b"").unwrap(), Comm::default());
    // The kernel's buffer need not be zero-padded after its NUL.
    let mut buf = *b"ctr\0garbage\0\0\0\0\0";
    assert_eq!(Comm::from_kernel(&buf), Comm::from_name("ctr"));
    buf = [b'x'; 16];
    assert_eq!(Comm::from_kernel(&buf).name(), &[b'x'; 16]);
}
