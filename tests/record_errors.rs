//! Errors a user meets before anything is captured: one clear sentence,
//! exit code 2, no backtrace.

mod common;

use std::process::Command;

use common::{bin, require_root, short_tempdir};

fn assert_clean_failure(out: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn without_privileges_says_what_to_do() {
    require_root();
    let dir = short_tempdir("cs-err");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(bin())
        .args(["record", "-o"])
        .arg(dir.path().join("x.pcapng"))
        .output()
        .expect("setpriv (util-linux) runs");
    assert_clean_failure(
        &out,
        "needs root (or the CAP_BPF and CAP_PERFMON capabilities)",
    );
    assert!(
        !dir.path().join("x.pcapng").exists(),
        "no output file on failure"
    );
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn refuses_to_overwrite_or_follow_links() {
    require_root();
    let dir = short_tempdir("cs-err");
    let existing = dir.path().join("old.pcapng");
    std::fs::write(&existing, b"keep me").unwrap();
    let out = Command::new(bin())
        .args(["record", "--duration", "0.1", "-o"])
        .arg(&existing)
        .output()
        .unwrap();
    assert_clean_failure(&out, "already exists: choose another name or add --force");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let link = dir.path().join("link.pcapng");
    std::os::unix::fs::symlink(dir.path().join("target"), &link).unwrap();
    let out = Command::new(bin())
        .args(["record", "--duration", "0.1", "-o"])
        .arg(&link)
        .output()
        .unwrap();
    assert_clean_failure(&out, "is a symbolic link");
    assert!(!dir.path().join("target").exists());

    // --force overwrites, and the capture is private.
    let out = Command::new(bin())
        .args(["record", "--duration", "0.2", "--force", "-o"])
        .arg(&existing)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = std::fs::metadata(&existing).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    assert_ne!(std::fs::read(&existing).unwrap(), b"keep me");
}

#[test]
fn bad_arguments_are_one_sentence() {
    let out = Command::new(bin())
        .args([
            "record",
            "-o",
            "/tmp/never.pcapng",
            "--socket",
            &"x".repeat(120),
        ])
        .output()
        .unwrap();
    assert_clean_failure(&out, "a unix socket path has at most 108 bytes");
}
