//! Checks the test harness itself against the real peers, without containerdsnoop: a private
//! containerd answers ctr, the busybox OCI tarball imports and runs, tshark runs unconfigured.

mod common;

use common::{busybox_oci, require_root, short_tempdir, tshark, Containerd};

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
