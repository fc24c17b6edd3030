//! The registry on synthetic binaries: learned in the background, bundled
//! meanwhile, one scan per file, and truncated, hostile or unreadable
//! binaries warned about and decoded with the bundled schemas.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message as _;
use prost_reflect::DynamicMessage;

use super::{Locate, SchemaRegistry};
use crate::protobuf::binary::CacheKey;
use crate::protobuf::{Forms, SchemaSource, SchemaUse, Schemas};

const NAMESPACES: &str = "containerd.services.namespaces.v1.Namespaces";
const CREATE: &str = "/containerd.services.namespaces.v1.Namespaces/Create";

/// Pids mapped to files; a pid not in the map is a process that is gone.
struct Fake(HashMap<u32, PathBuf>);

impl Locate for Fake {
    fn locate(&self, pid: u32) -> Result<(PathBuf, String, CacheKey)> {
        let Some(path) = self.0.get(&pid) else {
            bail!("process {pid} is gone");
        };
        let key = CacheKey::of(path).unwrap_or(CacheKey {
            dev: 0,
            ino: u64::from(pid),
            mtime_ns: 0,
            size: 0,
        });
        Ok((path.clone(), path.display().to_string(), key))
    }
}

/// The gzipped descriptor of the file defining the Namespaces service, as
/// a Go binary registers it, between bytes of noise.
fn go_like_binary() -> Vec<u8> {
    let pool = Schemas::embedded().pool().clone();
    let file = pool.get_service_by_name(NAMESPACES).unwrap().parent_file();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&file.file_descriptor_proto().encode_to_vec())
        .unwrap();
    let mut bytes = vec![0x55; 4096];
    bytes.extend(gz.finish().unwrap());
    bytes.extend(vec![0x66; 4096]);
    bytes
}

fn create_request() -> Vec<u8> {
    let desc = Schemas::embedded()
        .pool()
        .get_message_by_name("containerd.services.namespaces.v1.CreateNamespaceRequest")
        .unwrap();
    DynamicMessage::parse_text_format(
        desc,
        r#"namespace { name: "k8s.io" labels { key: "a" value: "b" } }"#,
    )
    .unwrap()
    .encode_to_vec()
}

/// Polls `done` for up to 20 seconds (a scan runs in another thread).
fn wait(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn registry(files: &[(u32, &Path)], bundled: Schemas) -> SchemaRegistry {
    let map = files.iter().map(|(p, f)| (*p, f.to_path_buf())).collect();
    SchemaRegistry::live_with(bundled, Arc::new(Fake(map)))
}

/// Waits for the registry's first note about a binary.
fn notes(r: &SchemaRegistry) -> Vec<String> {
    let mut got = Vec::new();
    wait("a note", || {
        got.extend(r.take_notes());
        !got.is_empty()
    });
    got
}

#[test]
fn a_servers_binary_decodes_once_scanned_and_bundled_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("containerd");
    std::fs::write(&exe, go_like_binary()).unwrap();
    // Without Namespaces in the bundled set, only the binary can name it.
    let bundled = Schemas::embedded().without_services(&[NAMESPACES.to_string()]);
    let r = registry(&[(7, &exe), (8, &exe)], bundled);
    let payload = create_request();

    let before = r
        .set_for(Some(7))
        .decode_forms(Some(CREATE), true, &payload, Forms::BOTH);
    assert_eq!(
        before.schema,
        SchemaUse::SchemaLess,
        "bundled until scanned"
    );

    wait("the scan", || r.learned_count() == 1);
    let after = r
        .set_for(Some(7))
        .decode_forms(Some(CREATE), true, &payload, Forms::BOTH);
    let reference = Schemas::embedded().decode(Some(CREATE), true, &payload);
    assert_eq!(after.schema, SchemaUse::Typed);
    assert_eq!(
        after.source,
        Some(SchemaSource::Binary(exe.display().to_string().into()))
    );
    assert_eq!(
        (&after.json, &after.text),
        (&reference.json, &reference.text)
    );
    assert!(r.take_notes().iter().any(|n| n.contains("1 services")));

    // Another process of the same file: no second scan, the same schemas.
    wait("pid 8", || r.ask(8).is_some());
    assert!(Arc::ptr_eq(&r.ask(7).unwrap(), &r.ask(8).unwrap()));
    assert_eq!(r.learned_count(), 1);
    // Methods the binary lacks still decode with the bundled schemas.
    let version = r.set_for(Some(7)).decode_forms(
        Some("/containerd.services.version.v1.Version/Version"),
        false,
        &[0x0a, 1, b'1'],
        Forms::JSON,
    );
    assert_eq!(version.source, Some(SchemaSource::Bundled));
}

#[test]
fn a_truncated_binary_warns_and_leaves_the_bundled_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("cut");
    let mut bytes = go_like_binary();
    bytes.truncate(4096 + 200);
    std::fs::write(&exe, bytes).unwrap();
    let r = registry(&[(9, &exe)], Schemas::embedded());
    assert!(r.ask(9).is_none());
    let notes = notes(&r);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("warning: ")
            && notes[0].contains("cut short or corrupt: the file is truncated or damaged")
            && notes[0].ends_with("decoded with the bundled schemas"),
        "{notes:?}"
    );
    assert!(r.ask(9).is_none());
    assert_eq!(r.learned_count(), 0);
    let d = r
        .set_for(Some(9))
        .decode(Some(CREATE), true, &create_request());
    assert_eq!(d.source, Some(SchemaSource::Bundled));
}

#[test]
fn a_hostile_binary_warns_and_leaves_the_bundled_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("hostile");
    // A gzip member whose content names a .proto file, then is no
    // descriptor at all (a field of wire type 7), with a right checksum.
    let mut content = vec![0x0a, 7];
    content.extend(b"x.proto");
    content.extend([0x0f; 64]);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&content).unwrap();
    let member = gz.finish().unwrap();
    let mut bytes = Vec::new();
    for _ in 0..1000 {
        bytes.extend(&member);
        bytes.extend([0x1f, 0x8b, 0x08, 0xff]);
    }
    std::fs::write(&exe, bytes).unwrap();
    let r = registry(&[(10, &exe)], Schemas::embedded());
    r.ask(10);
    let notes = notes(&r);
    assert!(
        notes[0].contains("gave no usable schemas")
            && notes[0].contains("1000 compressed schema files cut short or corrupt"),
        "{notes:?}"
    );
    assert!(r.ask(10).is_none());
}

#[test]
fn unreadable_binaries_warn_and_gone_processes_are_quiet() {
    let r = registry(
        &[(11, Path::new("/nonexistent/containerd"))],
        Schemas::embedded(),
    );
    r.ask(11);
    let notes = notes(&r);
    assert!(
        notes[0].starts_with("warning: cannot read the schemas of /nonexistent/containerd"),
        "{notes:?}"
    );
    // Pid 12 is not in the map: gone. Nothing to say, bundled schemas.
    r.ask(12);
    std::thread::sleep(Duration::from_millis(100));
    assert!(r.take_notes().is_empty());
    assert!(r.ask(12).is_none());
}

#[test]
fn offline_binaries_decode_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("containerd");
    std::fs::write(&exe, go_like_binary()).unwrap();
    let bundled = Schemas::embedded().without_services(&[NAMESPACES.to_string()]);
    let r = SchemaRegistry::from_binaries(std::slice::from_ref(&exe), bundled).unwrap();
    assert!(r.take_notes()[0].starts_with("schemas from "));
    for pid in [Some(1), None] {
        let d = r.set_for(pid).decode(Some(CREATE), true, &create_request());
        assert_eq!(d.schema, SchemaUse::Typed);
        assert!(matches!(d.source, Some(SchemaSource::Binary(_))));
    }
    let missing = SchemaRegistry::from_binaries(&[dir.path().join("nope")], Schemas::embedded());
    let e = format!("{:#}", missing.err().unwrap());
    assert!(e.starts_with("cannot read the schemas of "), "{e}");
}
