use super::*;
use crate::flow::{Comm, Dir};
use crate::pipeline::ConnInfo;
use crate::subjects::extract::PodMeta;
use crate::subjects::ContainerRef;

#[test]
fn writer_and_peer_name_process_and_thread() {
    let python = Comm::from_name("python3");
    let writer =
        Process::thread(900, 903, python).with_thread_comm(Comm::from_name("event_engine"));
    let peer = Process::thread(5600, 5600, Comm::from_name("containerd")).owner();
    let item = Item {
        ts_ns: 0,
        subject: Default::default(),
        ends: Default::default(),
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
fn calls_say_their_pod_and_container_or_null() {
    use crate::subjects::{extract::PodMeta, ContainerRef, Subject};
    let mut item = Item {
        ts_ns: 0,
        subject: Default::default(),
        ends: Default::default(),
        conn: ConnInfo::default(),
        writer: Process::default(),
        peer: Process::default(),
        what: What::CallEnd {
            http_status: None,
            stream: 1,
            path: crate::decode::PathInfo::Known(
                "/runtime.v1.RuntimeService/StartContainer".into(),
            ),
            meta: Default::default(),
            status: Some(0),
            message: None,
            reset: None,
            latency_ns: None,
            unfinished: false,
        },
    };
    let object = |item: &Item| -> Value {
        let mut j = Json::new(Vec::new());
        j.item(item).unwrap();
        serde_json::from_slice(&j.w).unwrap()
    };
    let o = object(&item);
    for k in ["pod", "container", "sandbox_id"] {
        assert_eq!(o[k], Value::Null, "{k} is present and null: {o}");
        assert!(o.as_object().unwrap().contains_key(k));
    }
    item.subject = Subject {
        pod: Some(std::sync::Arc::new(PodMeta {
            namespace: "default".into(),
            name: "web-0".into(),
            uid: String::new(),
        })),
        container: Some(std::sync::Arc::new(ContainerRef {
            id: "c1".into(),
            name: Some("app".into()),
        })),
        sandbox_id: Some("s1".into()),
    };
    let o = object(&item);
    assert_eq!(
        o["pod"],
        serde_json::json!({"namespace": "default", "name": "web-0", "uid": null})
    );
    assert_eq!(
        o["container"],
        serde_json::json!({"id": "c1", "name": "app"})
    );
    assert_eq!(o["sandbox_id"], "s1");
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
        subject: Default::default(),
        ends: Default::default(),
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
        serde_json::json!({"id": "cg1", "name": null, "pod": null})
    );
    assert_eq!(lines[0]["peer"]["container"], Value::Null);
    assert!(
        lines[0]["peer"].get("container").is_some(),
        "null: the host"
    );
    assert_eq!(lines[0]["from_container"], true);
    assert!(lines[1].get("from_container").is_none());

    // Once the traffic named that container and its pod, so does the
    // writer's place.
    let mut named = gap(ConnInfo {
        client,
        server,
        ..ConnInfo::default()
    });
    named.ends.writer = Subject {
        pod: Some(std::sync::Arc::new(PodMeta {
            namespace: "default".into(),
            name: "tools".into(),
            uid: "u-1".into(),
        })),
        container: Some(std::sync::Arc::new(ContainerRef {
            id: "cg1".into(),
            name: Some("shell".into()),
        })),
        sandbox_id: Some("s1".into()),
    };
    let mut j = Json::new(Vec::new());
    j.item(&named).unwrap();
    let o: Value = serde_json::from_slice(j.w.trim_ascii_end()).unwrap();
    assert_eq!(
        o["writer"]["container"],
        serde_json::json!({
            "id": "cg1",
            "name": "shell",
            "pod": {"namespace": "default", "name": "tools", "uid": "u-1"}
        })
    );
}
