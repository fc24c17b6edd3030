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

#[test]
fn a_client_in_a_container_is_named_and_marked() {
    use crate::flow::{Container, ContainerId, InContainer};
    let client = Process {
        container: InContainer::Container(Container {
            id: ContainerId::new("cg1").unwrap(),
            pod_uid: None,
        }),
        ..Process::thread(900, 900, Comm::from_name("ctr"))
    };
    let server = Process {
        container: InContainer::Host,
        ..Process::thread(5600, 5600, Comm::from_name("containerd")).owner()
    };
    let gap = |conn: ConnInfo| Item {
        ts_ns: 0,
        conn,
        writer: client,
        peer: server,
        what: What::Gap {
            dir: Dir::ToServer,
            bytes: 3,
        },
    };
    let mut j = Json::new(Vec::new());
    j.item(&gap(ConnInfo {
        client,
        server,
        ..ConnInfo::default()
    }))
    .unwrap();
    // Nothing known of where the client runs: no mark.
    j.item(&gap(ConnInfo::default())).unwrap();
    let lines: Vec<Value> =
        j.w.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
    assert_eq!(
        lines[0]["writer"]["container"],
        serde_json::json!({"id": "cg1", "pod": null})
    );
    assert_eq!(lines[0]["peer"]["container"], Value::Null);
    assert!(
        lines[0]["peer"].get("container").is_some(),
        "null: the host"
    );
    assert_eq!(lines[0]["from_container"], true);
    assert!(lines[1].get("from_container").is_none());
}
