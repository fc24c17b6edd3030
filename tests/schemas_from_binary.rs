//! Schemas read from the real Go binaries of Debian's packages (no root):
//! containerd 1.6.20 and its runc v2 shim (package containerd), dockerd
//! (package docker.io). Each test skips when its binary is missing, except
//! under CI=true, where it fails.

mod common;

use std::path::Path;
use std::process::Command;

use containerdsnoop::protobuf::binary::export::export;
use containerdsnoop::protobuf::binary::pool::Origin;
use containerdsnoop::protobuf::binary::scan::Form;
use containerdsnoop::protobuf::binary::verify::verify;
use containerdsnoop::protobuf::binary::{BinarySchemas, CacheKey};
use containerdsnoop::protobuf::Schemas;
use prost_reflect::{prost::Message, DynamicMessage};

use common::{bin, require_file};

const CONTAINERD: &str = "/usr/bin/containerd";
const SHIM: &str = "/usr/bin/containerd-shim-runc-v2";
const DOCKERD: &str = "/usr/sbin/dockerd";

fn read(path: &str) -> BinarySchemas {
    BinarySchemas::from_path(Path::new(path)).unwrap_or_else(|e| panic!("{path}: {e:#}"))
}

fn has_service(s: &BinarySchemas, name: &str) -> bool {
    s.pool.get_service_by_name(name).is_some()
}

#[test]
fn containerd_carries_its_services_and_cri() {
    if !require_file(CONTAINERD, "containerd") {
        return;
    }
    let s = read(CONTAINERD);
    let files: Vec<_> = s.report.binary_files().collect();
    eprintln!(
        "{CONTAINERD}: {} files, {} packages, {} services; {} dropped; scan {:?}",
        files.len(),
        s.report.packages().len(),
        s.report.services().count(),
        s.report.dropped.len(),
        s.scan
    );
    assert!(files.len() >= 40, "dozens of files, got {}", files.len());
    for service in [
        "containerd.services.tasks.v1.Tasks",
        "containerd.services.namespaces.v1.Namespaces",
        "runtime.v1.RuntimeService",
        "runtime.v1alpha2.RuntimeService",
        "runtime.v1.ImageService",
    ] {
        assert!(has_service(&s, service), "{service} missing");
    }
    // Both CRI versions register "api.proto": one is renamed, not lost.
    assert!(s
        .report
        .warnings
        .iter()
        .any(|w| w.contains("api.proto is registered for packages")));
    assert!(files.iter().any(|f| matches!(
        f.origin,
        Origin::Binary {
            form: Form::Gzip,
            ..
        }
    )));
    assert!(s.scan.limits_hit.is_empty(), "{:?}", s.scan.limits_hit);
    assert!(s
        .info
        .go_version
        .as_deref()
        .is_some_and(|v| v.starts_with("go1.")));
    assert!(s.info.go_build_id.is_some() && s.info.gnu_build_id.is_some());
    assert_eq!(
        s.info.path.as_deref(),
        Some("github.com/containerd/containerd/cmd/containerd")
    );
    assert_eq!(s.key, Some(CacheKey::of(Path::new(CONTAINERD)).unwrap()));
}

/// A message encoded with the bundled schemas decodes to the same text and
/// JSON with the binary's own.
#[test]
fn containerd_schemas_decode_like_the_bundled_ones() {
    if !require_file(CONTAINERD, "containerd") {
        return;
    }
    let bundled = Schemas::embedded();
    let own = read(CONTAINERD).schemas();
    let cases = [
        (
            "/containerd.services.namespaces.v1.Namespaces/Create",
            "containerd.services.namespaces.v1.CreateNamespaceRequest",
            r#"namespace { name: "k8s.io" labels { key: "a" value: "b" } }"#,
        ),
        (
            "/runtime.v1.ImageService/PullImage",
            "runtime.v1.PullImageRequest",
            r#"image { image: "docker.io/library/busybox:1" annotations { key: "k" value: "v" } }
               auth { username: "u" password: "p" } sandbox_config { metadata { name: "pod" uid: "1" } }"#,
        ),
        (
            "/containerd.services.tasks.v1.Tasks/Create",
            "containerd.services.tasks.v1.CreateTaskRequest",
            r#"container_id: "c1" rootfs { type: "overlay" source: "overlay" options: "lowerdir=/a" }
               stdin: "/run/fifo0" terminal: true checkpoint { media_type: "m" digest: "sha256:00" size: 3 }"#,
        ),
    ];
    for (path, type_name, text) in cases {
        let desc = bundled.pool().get_message_by_name(type_name).unwrap();
        let payload = DynamicMessage::parse_text_format(desc, text)
            .unwrap()
            .encode_to_vec();
        let a = bundled.decode(Some(path), true, &payload);
        let b = own.decode(Some(path), true, &payload);
        assert_eq!(b.type_name.as_deref(), Some(type_name));
        assert_eq!(a.json, b.json, "{path}");
        assert_eq!(a.text, b.text, "{path}");
    }
}

#[test]
fn containerd_schemas_export_and_read_back() {
    if !require_file(CONTAINERD, "containerd") {
        return;
    }
    let s = read(CONTAINERD);
    let dir = tempfile::tempdir().unwrap();
    let done = export(&s.pool, dir.path()).unwrap();
    assert!(done.skipped.is_empty(), "{:?}", done.skipped);
    assert_eq!(done.written.len(), s.pool.files().len());
    let tasks = dir
        .path()
        .join("github.com/containerd/containerd/api/services/tasks/v1/tasks.proto");
    let text = std::fs::read_to_string(&tasks).unwrap();
    assert!(text.contains("service Tasks {"), "{text}");
    let diffs = verify(&s.pool, dir.path(), &done.written).unwrap();
    assert!(diffs.is_empty(), "{diffs:#?}");
}

#[test]
fn the_runc_shim_carries_the_task_service() {
    if !require_file(SHIM, "containerd") {
        return;
    }
    let s = read(SHIM);
    eprintln!(
        "{SHIM}: {} files, {} services",
        s.report.binary_files().count(),
        s.report.services().count()
    );
    assert!(has_service(&s, "containerd.task.v2.Task"));
    assert!(has_service(
        &s,
        "containerd.services.events.ttrpc.v1.Events"
    ));
}

#[test]
fn dockerd_carries_services_we_do_not_bundle() {
    if !require_file(DOCKERD, "docker.io") {
        return;
    }
    let s = read(DOCKERD);
    eprintln!(
        "{DOCKERD}: {} files, {} packages, {} services; dropped {:?}",
        s.report.binary_files().count(),
        s.report.packages().len(),
        s.report.services().count(),
        s.report.dropped.iter().map(|d| &d.name).collect::<Vec<_>>()
    );
    let bundled = Schemas::embedded();
    for service in [
        "docker.swarmkit.v1.Control",
        "docker.swarmkit.v1.Dispatcher",
        "moby.filesync.v1.FileSync",
        "moby.buildkit.v1.Control",
    ] {
        assert!(has_service(&s, service), "{service} missing");
        assert!(bundled.pool().get_service_by_name(service).is_none());
    }
    assert!(s.info.ldflags_version().is_some(), "{:?}", s.info.settings);
}

#[test]
fn the_command_lists_exports_and_checks() {
    if !require_file(CONTAINERD, "containerd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["schemas", CONTAINERD, "--export"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "go          go1.",
        "github.com/containerd/containerd/api/services/tasks/v1/tasks.proto",
        "Tasks(",
        "summary: ",
        "checked: read back with protox",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
}

#[test]
fn the_command_takes_a_process_id() {
    // This test's own process: a Rust program, not Go, whose descriptors
    // are the bundled ones, as one serialized FileDescriptorSet (raw).
    let out = Command::new(bin())
        .args(["schemas", &std::process::id().to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("/exe ("), "{stdout}");
    assert!(stdout.contains("go          none"), "{stdout}");
    assert!(
        stdout.contains("runtime.v1 [raw]  RuntimeService("),
        "{stdout}"
    );
    assert!(
        stdout.contains("[raw]") && !stdout.contains("warnings ("),
        "{stdout}"
    );
}

#[test]
fn the_command_explains_bad_targets() {
    for (target, expected) in [
        (
            "/nonexistent/containerd",
            "does not exist; give a Go executable or a process ID",
        ),
        ("999999999", "no process 999999999 is running"),
        ("/tmp", "is not a regular file"),
    ] {
        let out = Command::new(bin())
            .args(["schemas", target])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{target}: {stderr}");
        assert!(stderr.contains(expected), "{target}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
