//! Checks the test harness itself against the real peers, without containerdsnoop: a private
//! containerd answers ctr, the busybox OCI tarball imports and runs, tshark runs unconfigured,
//! a private dockerd runs busybox on a private containerd, and the grpcio CRI client gets the
//! answers it should.

mod common;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use common::{
    busybox_docker_archive, busybox_oci, connected_pids, require_file, require_root, short_tempdir,
    tshark, Containerd, CriClient, Dockerd, DOCKER_IMAGE,
};

const IMAGE: &str = "docker.io/library/busybox:snoop";

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn containerd_serves_ctr_and_runs_busybox() {
    require_root();
    let containerd = Containerd::start();
    assert!(containerd.ttrpc_sock.exists());

    let version = containerd.ctr_ok(&["version"]);
    assert!(
        version.contains("Server:"),
        "no server section in:\n{version}"
    );
    assert!(version.contains("1.6."), "not containerd 1.6:\n{version}");

    containerd.ctr(&["namespaces", "create", "t1"]);
    let namespaces = containerd.ctr_ok(&["namespaces", "ls", "-q"]);
    assert!(
        namespaces.lines().any(|l| l == "t1"),
        "t1 missing from:\n{namespaces}"
    );

    let scratch = short_tempdir("oci");
    let tar = busybox_oci(scratch.path());
    let tar = tar.to_str().expect("temp path is UTF-8");
    let imported = containerd.ctr(&["-n", "t1", "images", "import", tar]);
    let imported = String::from_utf8_lossy(&imported.stdout);
    assert!(
        imported.contains(IMAGE),
        "import did not name the image:\n{imported}"
    );
    let images = containerd.ctr_ok(&["-n", "t1", "images", "ls", "-q"]);
    assert!(
        images.lines().any(|l| l == IMAGE),
        "{IMAGE} missing from:\n{images}"
    );

    containerd.ctr(&["-n", "t1", "run", "--rm", IMAGE, "c1", "/bin/true"]);
    let echoed = containerd.ctr_ok(&["-n", "t1", "run", "--rm", IMAGE, "c2", "/bin/echo", "hi"]);
    assert_eq!(echoed.trim_end(), "hi");
    let failed = containerd.try_ctr(&[
        "-n", "t1", "run", "--rm", IMAGE, "c3", "/bin/sh", "-c", "exit 3",
    ]);
    assert_eq!(
        failed.status.code(),
        Some(3),
        "ctr run should pass the exit code on"
    );

    let left = containerd.ctr_ok(&["-n", "t1", "containers", "ls", "-q"]);
    assert!(left.trim().is_empty(), "--rm left containers:\n{left}");
}

#[test]
fn busybox_oci_is_reproducible() {
    let a = short_tempdir("oci");
    let b = short_tempdir("oci");
    let first = std::fs::read(busybox_oci(a.path())).unwrap();
    let second = std::fs::read(busybox_oci(b.path())).unwrap();
    assert!(
        first == second,
        "two builds of the busybox OCI tarball differ"
    );
}

#[test]
fn tshark_runs_with_an_empty_config() {
    let version = tshark(["--version"]);
    assert!(
        version.starts_with("TShark"),
        "unexpected tshark output:\n{version}"
    );
}

/// Seconds since the epoch, as `docker events --since/--until` take them.
fn unix_now() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn dockerd_and_a_grpcio_cri_client_on_one_containerd() {
    require_root();
    require_file("/usr/sbin/dockerd", "docker.io");
    require_file("/usr/bin/python3", "python3-grpcio");
    let containerd = Containerd::start_with_cri();

    let started = Instant::now();
    let dockerd = Dockerd::start(&containerd);
    eprintln!(
        "dockerd answered after {:?} (storage driver {})",
        started.elapsed(),
        dockerd.storage_driver
    );
    // Its two containerd clients (namespaces moby and plugins.moby) connect at start and stay
    // connected.
    let dockerd_conns = || {
        connected_pids(&containerd.sock)
            .into_iter()
            .filter(|&p| p == dockerd.pid())
            .count()
    };
    let at_start = dockerd_conns();
    assert_eq!(at_start, 2, "dockerd's connections to containerd");

    let scratch = short_tempdir("img");
    let tar = busybox_docker_archive(scratch.path());
    let loaded = dockerd.docker_ok(&["load", "-i", tar.to_str().expect("UTF-8 path")]);
    assert!(
        loaded.contains(&format!("Loaded image: {DOCKER_IMAGE}")),
        "docker load said:\n{loaded}"
    );

    let since = unix_now();
    let started = Instant::now();
    dockerd.docker(&["run", "--rm", DOCKER_IMAGE, "/bin/true"]);
    eprintln!("docker run --rm /bin/true took {:?}", started.elapsed());
    let echoed = dockerd.docker_ok(&["run", "--rm", DOCKER_IMAGE, "/bin/echo", "hi"]);
    assert_eq!(echoed.trim_end(), "hi");
    let failed = dockerd.try_docker(&["run", "--rm", DOCKER_IMAGE, "/bin/sh", "-c", "exit 3"]);
    assert_eq!(
        failed.status.code(),
        Some(3),
        "docker run should pass the exit code on"
    );
    let until = unix_now();

    let ps = dockerd.docker_ok(&["ps", "-a", "-q"]);
    assert!(ps.trim().is_empty(), "--rm left containers:\n{ps}");
    let events = dockerd.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=container",
        "--format",
        "{{.Action}}",
    ]);
    for action in ["create", "start", "die", "destroy"] {
        let n = events.lines().filter(|l| *l == action).count();
        assert_eq!(n, 3, "{action} seen {n} times, not once per run:\n{events}");
    }
    let namespaces = containerd.ctr_ok(&["namespaces", "ls", "-q"]);
    assert!(
        namespaces.lines().any(|l| l == Dockerd::NAMESPACE),
        "no {} namespace in:\n{namespaces}",
        Dockerd::NAMESPACE
    );
    assert_eq!(
        dockerd_conns(),
        at_start,
        "dockerd's connections to containerd changed while it ran containers"
    );

    let client = CriClient::start(&containerd.sock);
    let held = connected_pids(&containerd.sock)
        .into_iter()
        .filter(|&p| p == client.pid())
        .count();
    assert_eq!(
        held, 1,
        "the CRI client should hold one connection once ready"
    );
    let results = client.run();
    let methods: Vec<&str> = results.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "/runtime.v1.RuntimeService/Version",
            "/runtime.v1.ImageService/ListImages",
            "/runtime.v1.RuntimeService/ListPodSandbox",
            "/runtime.v1.RuntimeService/ListContainers",
            "/runtime.v1.RuntimeService/Status",
            "/runtime.v1.RuntimeService/ContainerStatus",
        ]
    );
    let codes: Vec<u32> = results.iter().map(|r| r.code).collect();
    // gRPC status 5 is NotFound.
    assert_eq!(codes, [0, 0, 0, 0, 0, 5], "results: {results:#?}");
    let version = String::from_utf8_lossy(&results[0].response);
    assert!(
        version.contains("containerd") && version.contains("v1"),
        "VersionResponse: {version:?}"
    );
    assert!(
        results[5].details.contains("not found"),
        "ContainerStatus details: {:?}",
        results[5].details
    );
}
