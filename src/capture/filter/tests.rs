use super::*;

#[test]
fn defaults_are_containerd_its_ttrpc_socket_the_shims_docker_and_podman() {
    let f = Filters::new(false, &[], &[], &[]).unwrap();
    let kept = |p: &str| f.paths.iter().any(|f| f.matches(p));
    assert!(kept(DEFAULT_SOCKET));
    assert!(kept("/run/containerd/containerd.sock.ttrpc"));
    assert!(kept("/run/containerd/s/998900d07b0ae20006783fd6b47ab2ae"));
    assert!(!kept("/run/containerd/other.sock"));
    for p in [
        "/run/docker.sock",
        "/var/run/docker.sock",
        "/run/podman/podman.sock",
    ] {
        assert!(kept(p), "{p}");
    }
    assert!(!kept("/run/docker.sock.bak"));
    // --socket replaces the defaults.
    let f = Filters::new(false, &["/x".into()], &[], &[]).unwrap();
    assert_eq!(f.paths, vec![PathFilter::parse("/x").unwrap()]);
}

#[test]
fn prefix_and_errors() {
    let p = PathFilter::parse("/run/containerd/*").unwrap();
    assert!(p.prefix && p.matches("/run/containerd/s/abc"));
    assert!(Filters::new(true, &["/x".into()], &[], &[]).is_err());
    assert!(Filters::new(false, &["x".repeat(109)], &[], &[]).is_err());
    assert!(Filters::new(false, &[], &[], &["averyveryverylongname".into()]).is_err());
    assert!(Filters::new(false, &vec!["/a".to_string(); 9], &[], &[]).is_err());
}
