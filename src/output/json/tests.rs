use super::*;
use crate::flow::{Comm, Dir};
use crate::pipeline::ConnInfo;

#[test]
fn writer_and_peer_name_process_and_thread() {
    let python = Comm::from_name("python3");
    let writer =
        Process::thread(900, 903, python).with_thread_comm(Comm::from_name("event_engine"));
    let peer = Process::thread(5600, 5600, Comm::from_name("containerd")).owner();
    let item = Item {
        ts_ns: 0,
        conn: ConnInfo::default(),
        writer,
        peer,
        what: What::Gap {
            dir: Dir::ToServer,
            bytes: 3,
        },
    };
    let mut j = Json::new(Vec::new());
    j.item(&item).unwrap();
    let o: Value = serde_json::from_slice(&j.w).unwrap();
    assert_eq!(
        o["writer"],
        serde_json::json!({"pid": 900, "tid": 903, "comm": "python3", "thread_comm": "event_engine"})
    );
    // Always present: null when unknown (a peer has no thread).
    assert_eq!(
        o["peer"],
        serde_json::json!({"pid": 5600, "tid": null, "comm": "containerd", "thread_comm": null})
    );
}
