use super::*;

const ID: &str = "8806619fdd57a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a";
const UID: &str = "2b3c4d5e-6f70-4a1b-9c2d-3e4f5a6b7c8d";

fn container(id: &str, uid: Option<&str>) -> InContainer {
    InContainer::Container(Container {
        id: ContainerId::new(id).unwrap(),
        pod_uid: uid.map(|u| PodUid::new(u).unwrap()),
    })
}

fn of(path: &str) -> InContainer {
    from_cgroup_path(path, true)
}

#[test]
fn cgroupfs_layouts_name_their_container() {
    assert_eq!(of(&format!("/k8s.io/{ID}")), container(ID, None));
    assert_eq!(of("/default/cg1"), container("cg1", None));
    assert_eq!(of(&format!("/moby/{ID}")), container(ID, None));
    assert_eq!(of(&format!("/docker/{ID}")), container(ID, None));
    assert_eq!(
        of(&format!("/libpod_parent/libpod-{ID}")),
        container(ID, None)
    );
    assert_eq!(
        of(&format!("/kubepods/besteffort/pod{UID}/{ID}")),
        container(ID, Some(UID))
    );
    assert_eq!(
        of(&format!("/kubepods/burstable/pod{UID}/{ID}")),
        container(ID, Some(UID))
    );
    // Guaranteed pods sit right under kubepods.
    assert_eq!(
        of(&format!("/kubepods/pod{UID}/{ID}")),
        container(ID, Some(UID))
    );
}

#[test]
fn systemd_layouts_name_their_container_and_pod() {
    let uid_ = UID.replace('-', "_");
    for qos in ["besteffort", "burstable"] {
        let path = format!(
            "/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid_}.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(of(&path), container(ID, Some(UID)), "{path}");
        let crio = path.replace("cri-containerd-", "crio-");
        assert_eq!(of(&crio), container(ID, Some(UID)), "{crio}");
    }
    let guaranteed = format!("/kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{ID}.scope");
    assert_eq!(of(&guaranteed), container(ID, Some(UID)));
    assert_eq!(
        of(&format!("/system.slice/docker-{ID}.scope")),
        container(ID, None)
    );
    assert_eq!(
        of(&format!("/machine.slice/libpod-{ID}.scope")),
        container(ID, None)
    );
    // A container's own sub-cgroups are still the container.
    assert_eq!(
        of(&format!("/system.slice/docker-{ID}.scope/init.scope")),
        container(ID, None)
    );
}

#[test]
fn the_host_is_the_root_and_host_services() {
    assert_eq!(of("/"), InContainer::Host);
    assert_eq!(of(""), InContainer::Host);
    assert_eq!(of("/system.slice/containerd.service"), InContainer::Host);
    assert_eq!(of("/system.slice/kubelet.service"), InContainer::Host);
    assert_eq!(
        of("/user.slice/user-1000.slice/session-3.scope"),
        InContainer::Host
    );
    assert_eq!(of("/init.scope"), InContainer::Host);
    assert_eq!(
        of("/process_api/22aa3778687218d84ad7f105c2f5b1f7"),
        InContainer::Host
    );
    // Runtime monitors run beside the container, on the host.
    assert_eq!(
        of(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
        InContainer::Host
    );
    assert_eq!(of("/libpod_parent/conmon"), InContainer::Host);
}

#[test]
fn what_is_not_known_is_never_the_host() {
    // Layouts nobody taught the parser.
    assert_eq!(of("/somewhere/else"), InContainer::Unknown);
    assert_eq!(
        of("/machine.slice/machine-qemu-1.scope"),
        InContainer::Unknown
    );
    // A pod's own cgroup holds no container.
    assert_eq!(
        of(&format!("/kubepods/besteffort/pod{UID}")),
        InContainer::Unknown
    );
    // A containerd namespace not known to map to cgroups this way.
    assert_eq!(of("/buildkit-x/abc"), InContainer::Unknown);
    // The top of the path is missing: the root or a host tree cannot be told.
    assert_eq!(from_cgroup_path("/", false), InContainer::Unknown);
    assert_eq!(
        from_cgroup_path("/system.slice/x.service", false),
        InContainer::Unknown
    );
    // ... but a container scope names itself.
    assert_eq!(
        from_cgroup_path(&format!("/b/c/cri-containerd-{ID}.scope"), false),
        container(ID, None)
    );
    // Ids that cannot be ids.
    assert_eq!(of("/default/a b"), InContainer::Unknown);
    assert_eq!(
        of(&format!("/docker/{}", "a".repeat(77))),
        InContainer::Unknown
    );
    assert_eq!(of("/k8s.io/caf\u{e9}"), InContainer::Unknown);
}

#[test]
fn ids_are_bounded_and_shortened() {
    let id = ContainerId::new(ID).unwrap();
    assert_eq!(id.short(), "8806619fdd57");
    assert_eq!(id.as_str(), ID);
    assert_eq!(ContainerId::new("cg1").unwrap().short(), "cg1");
    assert!(ContainerId::new("").is_none());
    assert!(ContainerId::new(&"a".repeat(MAX_ID_LEN)).is_some());
    assert!(PodUid::new(&"a".repeat(MAX_UID_LEN + 1)).is_none());
}

#[test]
fn json_is_null_for_the_host_and_an_object_for_a_container() {
    assert_eq!(serde_json::to_string(&InContainer::Host).unwrap(), "null");
    assert_eq!(
        serde_json::to_string(&container("cg1", None)).unwrap(),
        r#"{"id":"cg1","pod":null}"#
    );
    assert_eq!(
        serde_json::to_string(&container("cg1", Some("u-1"))).unwrap(),
        r#"{"id":"cg1","pod":{"namespace":null,"name":null,"uid":"u-1"}}"#
    );
}

fn conn_with_client(id: u64, client: InContainer) -> crate::flow::Conn {
    let mut c = crate::flow::Conn {
        id,
        path: None,
        client: Default::default(),
        server: Default::default(),
        first_ns: 0,
    };
    c.client.owner.container = client;
    c
}

#[test]
fn connections_from_containers_are_counted_once_each() {
    let mut n = ClientContainers::default();
    assert_eq!(n.summary(), None);
    let a = conn_with_client(1, container(ID, None));
    n.note(&conn_with_client(9, InContainer::Host), false);
    n.note(&conn_with_client(8, InContainer::Unknown), false);
    n.note(&a, false);
    n.note(&a, false);
    assert_eq!(
        n.summary().unwrap(),
        "1 connection to the runtime socket from a container: container 8806619fdd57"
    );
    n.note(&a, true);
    assert!(n.is_empty(), "closed connections are not held");
    n.note(&conn_with_client(2, container(ID, None)), false);
    n.note(&conn_with_client(3, container("cg1", None)), false);
    assert_eq!(
        n.summary().unwrap(),
        "3 connections to the runtime socket from containers: container 8806619fdd57 (2), container cg1"
    );
    // Named once the traffic names the container's pod; a container not
    // listed is not named.
    let InContainer::Container(c) = container(ID, None) else {
        unreachable!()
    };
    n.name(&c, || "pod default/tools container shell".into());
    n.name(&c, || "pod x/y container z".into());
    let InContainer::Container(other) = container("cg2", None) else {
        unreachable!()
    };
    n.name(&other, || "pod default/other container o".into());
    assert_eq!(
        n.summary().unwrap(),
        "3 connections to the runtime socket from containers: pod default/tools container shell (2), container cg1"
    );
    for i in 0..20 {
        n.note(
            &conn_with_client(100 + i, container(&format!("c{i}"), None)),
            false,
        );
    }
    assert!(
        n.summary().unwrap().ends_with(", 14 more"),
        "{}",
        n.summary().unwrap()
    );
}
