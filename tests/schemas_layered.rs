//! A binary's schemas before the bundled ones (no root): layered look-ups
//! and source labels with Debian's containerd, runc v2 shim and dockerd,
//! `decode --schemas-from` on a recorded session, and the note `record`
//! leaves in a capture. Each test skips when its binary is missing, except
//! under CI=true, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use containerdsnoop::flow::{Comm, Conn, Dir, FlowEvent, Process, Side, Sink};
use containerdsnoop::pcapng::comment::{self, SchemaNote};
use containerdsnoop::pcapng::PcapngWriter;
use containerdsnoop::protobuf::binary::BinarySchemas;
use containerdsnoop::protobuf::{SchemaSet, SchemaSource, SchemaUse, Schemas};
use containerdsnoop::testsupport::h2::Conv;
use prost_reflect::{prost::Message, DescriptorPool, DynamicMessage};
use serde_json::Value;

use common::{bin, require_file};

const CONTAINERD: &str = "/usr/bin/containerd";
const SHIM: &str = "/usr/bin/containerd-shim-runc-v2";
const DOCKERD: &str = "/usr/sbin/dockerd";
const NAMESPACES: &str = "containerd.services.namespaces.v1.Namespaces";

fn own(path: &str) -> (BinarySchemas, Schemas) {
    let b = BinarySchemas::from_path(Path::new(path)).unwrap_or_else(|e| panic!("{path}: {e:#}"));
    let s = b.schemas(path);
    (b, s)
}

fn encode(pool: &DescriptorPool, type_name: &str, text: &str) -> Vec<u8> {
    let desc = pool.get_message_by_name(type_name).unwrap();
    DynamicMessage::parse_text_format(desc, text)
        .unwrap()
        .encode_to_vec()
}

fn binary(path: &str) -> Option<SchemaSource> {
    Some(SchemaSource::Binary(Arc::from(path)))
}

#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn containerd_first_then_bundled_per_method() {
    require_file(CONTAINERD, "containerd");
    let bundled = Schemas::embedded();
    let (_, containerd) = own(CONTAINERD);
    // The binary without Tasks: its methods fall back to the bundled set.
    let tasks = "containerd.services.tasks.v1.Tasks".to_string();
    let set = SchemaSet::layered(containerd.without_services(&[tasks]), &bundled);
    let cases = [
        (
            "/containerd.services.namespaces.v1.Namespaces/Create",
            "containerd.services.namespaces.v1.CreateNamespaceRequest",
            r#"namespace { name: "k8s.io" labels { key: "a" value: "b" } }"#,
            binary(CONTAINERD),
        ),
        (
            "/runtime.v1.RuntimeService/RunPodSandbox",
            "runtime.v1.RunPodSandboxRequest",
            r#"config { metadata { name: "pod" uid: "u" namespace: "default" } hostname: "h" }"#,
            binary(CONTAINERD),
        ),
        (
            "/runtime.v1alpha2.ImageService/PullImage",
            "runtime.v1alpha2.PullImageRequest",
            r#"image { image: "busybox" } auth { username: "u" password: "secret" }"#,
            binary(CONTAINERD),
        ),
        (
            "/containerd.services.tasks.v1.Tasks/Start",
            "containerd.services.tasks.v1.StartRequest",
            r#"container_id: "c1" exec_id: "e1""#,
            Some(SchemaSource::Bundled),
        ),
    ];
    for (path, type_name, text, source) in cases {
        let payload = encode(bundled.pool(), type_name, text);
        let want = bundled.decode(Some(path), true, &payload);
        let got = set.decode(Some(path), true, &payload);
        assert_eq!(got.schema, SchemaUse::Typed, "{path}");
        assert_eq!(got.source, source, "{path}");
        assert_eq!(got.type_name.as_deref(), Some(type_name));
        // Same names, same values, secrets hidden alike.
        assert_eq!((&got.json, &got.text), (&want.json, &want.text), "{path}");
        assert_eq!(set.method(path).map(|(_, s)| s), source, "{path}");
        assert_eq!(
            set.secret_ranges(Some(path), true, &payload),
            bundled.secret_ranges(Some(path), true, &payload),
            "{path}"
        );
    }
    assert!(set.method("/no.Such/Method").is_none());
}

#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn the_shim_decodes_task_v2_like_the_bundled_schemas() {
    require_file(SHIM, "containerd");
    let bundled = Schemas::embedded();
    let (_, shim) = own(SHIM);
    let set = SchemaSet::layered(shim, &bundled);
    let path = "/containerd.task.v2.Task/Create";
    let payload = encode(
        bundled.pool(),
        "containerd.task.v2.CreateTaskRequest",
        r#"id: "c1" bundle: "/run/b" terminal: true stdout: "/run/fifo1" rootfs { type: "overlay" source: "overlay" }"#,
    );
    let got = set.decode(Some(path), true, &payload);
    let want = bundled.decode(Some(path), true, &payload);
    assert_eq!(got.source, binary(SHIM));
    assert_eq!((&got.json, &got.text), (&want.json, &want.text));
}

#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn dockerd_names_what_the_bundled_schemas_cannot() {
    require_file(DOCKERD, "docker.io");
    let bundled = Schemas::embedded();
    let (b, dockerd) = own(DOCKERD);
    let set = SchemaSet::layered(dockerd, &bundled);
    let path = "/docker.swarmkit.v1.Control/GetNode";
    let payload = encode(
        &b.pool,
        "docker.swarmkit.v1.GetNodeRequest",
        r#"node_id: "n1""#,
    );
    let before = bundled.decode(Some(path), true, &payload);
    assert_eq!(before.schema, SchemaUse::SchemaLess);
    assert_eq!(before.text, r#"1:"n1""#);
    let after = set.decode(Some(path), true, &payload);
    assert_eq!(after.source, binary(DOCKERD));
    assert_eq!(after.text, r#"node_id:"n1""#);
    assert_eq!(after.json["nodeId"], "n1", "{}", after.json);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn decode(args: &[&str]) -> Output {
    let out = Command::new(bin())
        .arg("decode")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "decode {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn objects(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn decode_schemas_from_containerd_gives_the_same_messages_labelled() {
    require_file(CONTAINERD, "containerd");
    let file = fixture("ctr-session.pcapng");
    let file = file.to_str().unwrap();
    let bundled = objects(&decode(&[file, "--json"]));
    let with = decode(&[file, "--json", "--schemas-from", CONTAINERD]);
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert!(
        stderr.starts_with("containerdsnoop: schemas from /usr/bin/containerd (go1.")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    // And with Namespaces left out of the bundled set: the binary's alone.
    let alone = decode(&[
        file,
        "--json",
        "--schemas-from",
        CONTAINERD,
        "--exclude-bundled-service",
        NAMESPACES,
    ]);
    for run in [objects(&with), objects(&alone)] {
        assert_eq!(run.len(), bundled.len());
        let mut typed = 0;
        for (a, mut b) in bundled.iter().cloned().zip(run) {
            if a["schema"] == "typed" {
                typed += 1;
                assert_eq!(a["schema_source"], "bundled");
                assert_eq!(b["schema_source"], "binary:/usr/bin/containerd", "{b}");
            }
            let mut a = a;
            a.as_object_mut().unwrap().remove("schema_source");
            b.as_object_mut().unwrap().remove("schema_source");
            assert_eq!(a, b);
        }
        assert!(typed >= 20, "{typed} typed messages");
    }
    let namespaces = objects(&alone)
        .into_iter()
        .filter(|o| {
            o["method"]
                .as_str()
                .is_some_and(|m| m.contains("Namespaces"))
        })
        .count();
    assert!(namespaces > 0, "the fixture has Namespaces calls");
}

/// A capture whose section names one binary, as `record` writes it, and
/// holds one call served by containerd (decode names a binary only when
/// its schemas could change a message it shows).
fn capture_with_note(dir: &Path, note: &SchemaNote) -> PathBuf {
    let mut w = PcapngWriter::new(Vec::new(), "test").unwrap();
    w.note(&comment::schemas(note)).unwrap();
    let side = |pid, comm| Side {
        ino: u64::from(pid),
        owner: Process {
            pid: Some(pid),
            tid: None,
            comm: Some(Comm::from_name(comm)),
            ..Default::default()
        },
        from_creds: false,
    };
    let conn = Conn {
        id: 0,
        path: Some("/run/containerd/containerd.sock".into()),
        client: side(18397, "ctr"),
        server: side(5600, "containerd"),
        first_ns: 1_700_000_000_000_000_000,
    };
    let mut conv = Conv::new();
    conv.start();
    conv.unary(
        1,
        "/containerd.services.version.v1.Version/Version",
        b"",
        b"",
    );
    w.event(&conn, conn.first_ns, FlowEvent::Open).unwrap();
    let mut offsets = [0u64; 2];
    for (dir, bytes) in &conv.writes {
        let writer = match dir {
            Dir::ToServer => Process::thread(18397, 18397, Comm::from_name("ctr")),
            Dir::ToClient => Process::thread(5600, 5600, Comm::from_name("containerd")),
        };
        let offset = offsets[dir.index()];
        offsets[dir.index()] += bytes.len() as u64;
        let ev = FlowEvent::Data {
            dir: *dir,
            writer: &writer,
            offset,
            bytes,
        };
        w.event(&conn, conn.first_ns, ev).unwrap();
    }
    let path = dir.join("noted.pcapng");
    std::fs::write(&path, w.finish().unwrap()).unwrap();
    path
}

#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn decode_names_the_binary_a_recording_used() {
    require_file(CONTAINERD, "containerd");
    let (b, _) = own(CONTAINERD);
    let id = b.info.gnu_build_id.clone().or(b.info.go_build_id.clone());
    let dir = tempfile::tempdir().unwrap();
    let note = SchemaNote {
        path: CONTAINERD.into(),
        version: "go1.19.8".into(),
        build_id: id,
    };
    let file = capture_with_note(dir.path(), &note);
    let file = file.to_str().unwrap();
    let out = decode(&[file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "containerdsnoop: this capture was decoded live with the schemas of /usr/bin/containerd (go1.19.8, build id {}); add --schemas-from /usr/bin/containerd (that binary or a copy with the same build id) to decode it the same way",
            note.build_id.as_deref().unwrap()
        )
    );
    // Given that very binary, nothing more to say than what it holds.
    let out = decode(&[file, "--schemas-from", CONTAINERD]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("decoded live") && stderr.lines().count() == 1,
        "{stderr}"
    );
    // Another build of the same path: the hint stays.
    let other = capture_with_note(
        dir.path(),
        &SchemaNote {
            build_id: Some("0000".into()),
            ..note
        },
    );
    let out = decode(&[other.to_str().unwrap(), "--schemas-from", CONTAINERD]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("build id 0000"));
}
