use super::*;
use crate::testsupport::ttrpc::len_field;

const SB1: &str = "8806619fdd57a1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930";
const SB2: &str = "1111119fdd57a1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930";
const CTR: &str = "0b5c1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5a6b7c8d9eaf0b1c2d3e4f5a6b7c8d9";
const RT: &str = "/runtime.v1.RuntimeService/";

fn msg(fields: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        len_field(&mut out, *n, v);
    }
    out
}

fn id(s: &str) -> Vec<u8> {
    msg(&[(1, s.as_bytes().to_vec())])
}

fn run_pod(name: &str) -> Vec<u8> {
    let meta = msg(&[
        (1, name.as_bytes().to_vec()),
        (2, format!("uid-{name}").into_bytes()),
        (3, b"default".to_vec()),
    ]);
    msg(&[(1, msg(&[(1, meta)]))])
}

fn create_container(sandbox: &str, name: &str) -> Vec<u8> {
    let config = msg(&[(1, msg(&[(1, name.as_bytes().to_vec())]))]);
    msg(&[(1, sandbox.as_bytes().to_vec()), (2, config)])
}

fn pod_name(s: &Subject) -> Option<&str> {
    s.pod.as_ref().map(|p| p.name.as_str())
}

/// A pod's life as kubelet drives it: every call names the pod, and the
/// container calls the container, on any connection.
#[test]
fn a_pod_lifecycle_names_every_call() {
    let mut m = Subjects::new();
    let s = m.message(1, 1, &format!("{RT}RunPodSandbox"), true, &run_pod("web-0"));
    assert_eq!(pod_name(&s), Some("web-0"));
    assert!(m.expects_ids());
    assert_eq!(
        m.unresolved(1, 1, None),
        None,
        "a call naming its pod by metadata names no id"
    );
    assert_eq!(s.sandbox_id, None);
    let s = m.message(1, 1, &format!("{RT}RunPodSandbox"), false, &id(SB1));
    assert_eq!(
        (pod_name(&s), s.sandbox_id.as_deref()),
        (Some("web-0"), Some(SB1))
    );
    let end = m.call_end(1, 1, true);
    assert_eq!(end, s);

    let s = m.message(
        1,
        3,
        &format!("{RT}CreateContainer"),
        true,
        &create_container(SB1, "app"),
    );
    assert_eq!(pod_name(&s), Some("web-0"));
    let s = m.message(1, 3, &format!("{RT}CreateContainer"), false, &id(CTR));
    let c = s.container.clone().unwrap();
    assert_eq!((c.id.as_str(), c.name.as_deref()), (CTR, Some("app")));
    assert_eq!(
        (pod_name(&s), s.sandbox_id.as_deref()),
        (Some("web-0"), Some(SB1))
    );
    m.call_end(1, 3, true);

    // The shim's calls, on another connection, by the task id.
    let s = m.message(7, 1, "/containerd.task.v2.Task/Start", true, &id(CTR));
    assert_eq!(
        s.container.map(|c| c.name.clone()),
        Some(Some("app".into()))
    );
    let s = m.message(7, 3, "/containerd.task.v2.Task/Create", true, &id(SB1));
    assert_eq!((pod_name(&s), &s.container), (Some("web-0"), &None));
    m.call_end(7, 1, true);
    m.call_end(7, 3, true);

    // Removal: the sandbox and its containers go once the call succeeded.
    m.message(1, 5, &format!("{RT}RemovePodSandbox"), true, &id(SB1));
    let s = m.call_end(1, 5, false);
    assert_eq!(
        pod_name(&s),
        Some("web-0"),
        "a failed removal removes nothing"
    );
    assert!(!m.of_id(CTR).is_empty());
    m.set_now(1_000);
    m.message(1, 7, &format!("{RT}RemovePodSandbox"), true, &id(SB1));
    m.call_end(1, 7, true);
    // A call about it that the capture delivers late is still named...
    m.set_now(999 + REMOVAL_GRACE_NS);
    assert!(!m.of_id(CTR).is_empty());
    // ... until the grace is over.
    m.set_now(1_000 + REMOVAL_GRACE_NS);
    assert!(m.of_id(SB1).is_empty() && m.of_id(CTR).is_empty());
    assert_eq!(m.creating, 0, "no creating call left in flight");
    let mut sizes = Sizes::default();
    m.sizes(&mut sizes);
    assert_eq!(sizes.get("subjects.calls"), Some(0));
    assert_eq!(sizes.get("subjects.sandboxes"), Some(0));
    assert_eq!(sizes.get("subjects.removed"), Some(0));
}

/// Unknown stays unknown: an id nothing described names nothing, and its
/// removal keeps nothing.
#[test]
fn an_unknown_id_names_nothing() {
    let mut m = Subjects::new();
    let s = m.message(1, 1, &format!("{RT}StartContainer"), true, &id(CTR));
    assert!(s.is_empty());
    assert!(m.call_end(1, 1, true).is_empty());
    m.message(1, 3, &format!("{RT}RemoveContainer"), true, &id(CTR));
    m.call_end(1, 3, true);
    assert!(m.doomed.is_empty());
}

/// A capture that starts while pods run learns them from a relist; a pod
/// absent from a later complete relist is gone, unless it was described
/// after that relist was asked for.
#[test]
fn relists_fill_and_empty_the_map() {
    let mut m = Subjects::new();
    let item = |sb: &str, name: &str| {
        let meta = msg(&[(1, name.as_bytes().to_vec()), (3, b"kube-system".to_vec())]);
        msg(&[(1, sb.as_bytes().to_vec()), (2, meta)])
    };
    let list = |items: &[Vec<u8>]| {
        let mut out = Vec::new();
        for i in items {
            len_field(&mut out, 1, i);
        }
        out
    };
    let path = format!("{RT}ListPodSandbox");
    m.message(1, 1, &path, true, b"");
    m.message(1, 1, &path, false, &list(&[item(SB1, "a"), item(SB2, "b")]));
    m.call_end(1, 1, true);
    assert_eq!(pod_name(&m.of_id(SB2)), Some("b"));

    // A relist asked for, then a pod created before its answer.
    m.message(1, 3, &path, true, b"");
    m.message(1, 5, &format!("{RT}RunPodSandbox"), true, &run_pod("new"));
    let fresh = "2222229fdd57a1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930";
    m.message(1, 5, &format!("{RT}RunPodSandbox"), false, &id(fresh));
    m.message(1, 3, &path, false, &list(&[item(SB1, "a")]));
    m.set_now(REMOVAL_GRACE_NS);
    assert!(m.of_id(SB2).is_empty(), "b was not listed");
    assert_eq!(
        pod_name(&m.of_id(fresh)),
        Some("new"),
        "created after the ask"
    );

    // A filtered list removes nothing.
    let filter = msg(&[(1, msg(&[(1, SB1.as_bytes().to_vec())]))]);
    m.message(1, 7, &path, true, &filter);
    m.message(1, 7, &path, false, &list(&[item(SB1, "a")]));
    assert_eq!(pod_name(&m.of_id(fresh)), Some("new"));

    // A relist that names a known sandbox otherwise describes it anew; one
    // that names it the same way changes nothing a call was told.
    let s = m.message(3, 1, &format!("{RT}PodSandboxStatus"), true, &id(SB1));
    assert_eq!(pod_name(&s), Some("a"));
    m.message(1, 9, &path, true, b"");
    m.message(
        1,
        9,
        &path,
        false,
        &list(&[item(SB1, "a"), item(fresh, "new")]),
    );
    assert_eq!(m.call_end(3, 1, true), s);
    m.message(1, 11, &path, true, b"");
    m.message(
        1,
        11,
        &path,
        false,
        &list(&[item(SB1, "renamed"), item(fresh, "new")]),
    );
    assert_eq!(pod_name(&m.of_id(SB1)), Some("renamed"));
}

/// Bounded: past the cap the oldest goes, counted; a create/remove loop
/// leaves nothing.
#[test]
fn the_map_is_bounded() {
    let mut m = Subjects::new();
    for i in 0..MAX_ENTRIES + 5 {
        let pod = extract::PodMeta {
            name: format!("p{i}"),
            ..Default::default()
        };
        m.put_sandbox(&format!("{i:064x}"), pod.view());
    }
    assert_eq!(m.sandboxes.len(), MAX_ENTRIES);
    assert_eq!(m.stats.evicted, 5);
    assert!(m.of_id(&format!("{:064x}", 0)).is_empty());

    let mut m = Subjects::new();
    for i in 0..1000u32 {
        let sb = format!("{i:064x}");
        m.message(
            1,
            2 * i + 1,
            &format!("{RT}RunPodSandbox"),
            true,
            &run_pod("loop"),
        );
        m.message(1, 2 * i + 1, &format!("{RT}RunPodSandbox"), false, &id(&sb));
        m.call_end(1, 2 * i + 1, true);
        m.message(
            2,
            2 * i + 1,
            &format!("{RT}RemovePodSandbox"),
            true,
            &id(&sb),
        );
        m.call_end(2, 2 * i + 1, true);
        m.set_now(u64::from(i) * 10_000_000);
    }
    m.set_now(u64::MAX);
    assert_eq!(
        (m.sandboxes.len(), m.calls.len(), m.by_age.len()),
        (0, 0, 0)
    );
}
