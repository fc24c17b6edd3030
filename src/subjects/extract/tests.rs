use super::*;
use crate::testsupport::ttrpc::{len_field, varint_field};

const SANDBOX: &str = "8806619fdd57a1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930";
const CTR: &str = "0b5c1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5a6b7c8d9eaf0b1c2d3e4f5a6b7c8d9";

fn msg(fields: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        len_field(&mut out, *n, v);
    }
    out
}

fn pod_metadata() -> Vec<u8> {
    msg(&[
        (1, b"probe-pod".to_vec()),
        (2, b"uid-1".to_vec()),
        (3, b"default".to_vec()),
    ])
}

fn label(k: &str, v: &str) -> Vec<u8> {
    msg(&[(1, k.as_bytes().to_vec()), (2, v.as_bytes().to_vec())])
}

fn pod() -> PodMeta {
    PodMeta {
        namespace: "default".into(),
        name: "probe-pod".into(),
        uid: "uid-1".into(),
    }
}

#[test]
fn run_pod_sandbox_names_its_pod_and_its_response_the_id() {
    let config = msg(&[(1, pod_metadata()), (2, b"host".to_vec())]);
    let req = msg(&[(1, config)]);
    for path in [
        "/runtime.v1.RuntimeService/RunPodSandbox",
        "/runtime.v1alpha2.RuntimeService/RunPodSandbox",
    ] {
        assert_eq!(said(path, true, &req).pod, Some(pod()));
        let resp = msg(&[(1, SANDBOX.as_bytes().to_vec())]);
        assert_eq!(
            said(path, false, &resp).created_id.as_deref(),
            Some(SANDBOX)
        );
    }
}

#[test]
fn create_container_names_sandbox_and_container() {
    let config = msg(&[(1, msg(&[(1, b"web".to_vec())]))]);
    let req = msg(&[(1, SANDBOX.as_bytes().to_vec()), (2, config)]);
    let s = said("/runtime.v1.RuntimeService/CreateContainer", true, &req);
    assert_eq!(s.about.as_deref(), Some(SANDBOX));
    assert_eq!(s.container_name.as_deref(), Some("web"));
}

#[test]
fn id_requests_and_removals() {
    let req = msg(&[(1, CTR.as_bytes().to_vec())]);
    for (m, removes) in [
        ("StartContainer", false),
        ("ContainerStatus", false),
        ("RemoveContainer", true),
        ("RemovePodSandbox", true),
        ("ExecSync", false),
    ] {
        let s = said(&format!("/runtime.v1.RuntimeService/{m}"), true, &req);
        assert_eq!((s.about.as_deref(), s.removes), (Some(CTR), removes), "{m}");
    }
    // The shim's Task requests: field 1 is the task id; a delete removes
    // nothing (the CRI container outlives its task).
    let s = said("/containerd.task.v2.Task/Delete", true, &req);
    assert_eq!((s.about.as_deref(), s.removes), (Some(CTR), false));
    let s = said("/containerd.services.tasks.v1.Tasks/Start", true, &req);
    assert_eq!(s.about.as_deref(), Some(CTR));
    // Unknown services and responses say nothing.
    assert_eq!(said("/x.Y/Z", true, &req), Said::default());
    assert_eq!(said("no-slash", true, &req), Said::default());
}

#[test]
fn lists_describe_sandboxes_and_containers() {
    let item = msg(&[(1, SANDBOX.as_bytes().to_vec()), (2, pod_metadata())]);
    let resp = msg(&[(1, item.clone()), (1, item)]);
    let s = said("/runtime.v1.RuntimeService/ListPodSandbox", false, &resp);
    assert!(s.sandbox_list);
    assert_eq!(s.sandboxes.len(), 2);
    assert_eq!(s.sandboxes[0].pod, pod());

    let c = msg(&[
        (1, CTR.as_bytes().to_vec()),
        (2, SANDBOX.as_bytes().to_vec()),
        (3, msg(&[(1, b"web".to_vec())])),
        (8, label("io.kubernetes.pod.name", "probe-pod")),
    ]);
    let s = said(
        "/runtime.v1.RuntimeService/ListContainers",
        false,
        &msg(&[(1, c)]),
    );
    assert!(s.container_list);
    let c = &s.containers[0];
    assert_eq!((c.id.as_str(), c.name.as_str()), (CTR, "web"));
    assert_eq!(
        (c.sandbox_id.as_str(), c.pod.name.as_str()),
        (SANDBOX, "probe-pod")
    );
    // A filter in the request narrows the list.
    let filter = msg(&[(1, msg(&[(1, SANDBOX.as_bytes().to_vec())]))]);
    assert!(said("/runtime.v1.RuntimeService/ListContainers", true, &filter).filtered);
    assert!(!said("/runtime.v1.RuntimeService/ListContainers", true, b"").filtered);
}

#[test]
fn a_forwarded_task_event_names_its_container() {
    let mut exit = Vec::new();
    len_field(&mut exit, 1, CTR.as_bytes());
    varint_field(&mut exit, 3, 4242);
    let any = msg(&[(1, b"containerd.events.TaskExit".to_vec()), (2, exit)]);
    let envelope = msg(&[
        (2, b"k8s.io".to_vec()),
        (3, b"/tasks/exit".to_vec()),
        (4, any),
    ]);
    let req = msg(&[(1, envelope)]);
    let s = said(
        "/containerd.services.events.ttrpc.v1.Events/Forward",
        true,
        &req,
    );
    assert_eq!(s.about.as_deref(), Some(CTR));
}

#[test]
fn containerd_containers_carry_the_cri_labels() {
    let c = msg(&[
        (1, CTR.as_bytes().to_vec()),
        (2, label("io.kubernetes.pod.name", "probe-pod")),
        (2, label("io.kubernetes.pod.namespace", "default")),
        (2, label("io.kubernetes.pod.uid", "uid-1")),
        (2, label("io.kubernetes.container.name", "web")),
        (2, label("io.cri-containerd.kind", "container")),
    ]);
    let s = said(
        "/containerd.services.containers.v1.Containers/Get",
        false,
        &msg(&[(1, c)]),
    );
    assert_eq!(s.containers.len(), 1);
    assert_eq!(s.containers[0].pod, pod());
    assert_eq!(s.containers[0].name, "web");
    // Without the CRI's labels a container names no pod.
    let plain = msg(&[(1, CTR.as_bytes().to_vec())]);
    let s = said(
        "/containerd.services.containers.v1.Containers/List",
        false,
        &msg(&[(1, plain)]),
    );
    assert!(s.containers.is_empty());
}

#[test]
fn hostile_input_is_cut_and_never_panics() {
    let long = vec![b'a'; 10_000];
    let req = msg(&[(1, long)]);
    let s = said("/runtime.v1.RuntimeService/StartContainer", true, &req);
    assert_eq!(s.about.map(|a| a.len()), Some(MAX_TEXT));
    crate::testsupport::damaged_copies(&req, |b| {
        let _ = said("/runtime.v1.RuntimeService/StartContainer", true, b);
    });
    // A list of many items is read up to its bound.
    let item = msg(&[(1, b"x".to_vec())]);
    let resp: Vec<u8> = (0..MAX_ITEMS + 10)
        .flat_map(|_| msg(&[(1, item.clone())]))
        .collect();
    let s = said("/runtime.v1.RuntimeService/ListPodSandbox", false, &resp);
    assert_eq!(s.sandboxes.len(), MAX_ITEMS);
}
