//! Unit tests on small synthetic inputs; tests/schemas_from_binary.rs
//! reads the real binaries.

use std::io::Write as _;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FieldOptions, FileDescriptorProto, FileOptions, MessageOptions, MethodDescriptorProto,
    OneofDescriptorProto, ServiceDescriptorProto,
};

use super::export::{export, to_source};
use super::info::BinaryInfo;
use super::pool::{build_pool, Origin};
use super::scan::{scan, scan_detailed, Form, Found, ScanLimits};
use super::verify::verify;
use crate::elf::fixture::ElfBuilder;
use crate::protobuf::Schemas;

fn field(name: &str, number: i32, ty: Type, label: Label, type_name: &str) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(label as i32),
        r#type: Some(ty as i32),
        type_name: (!type_name.is_empty()).then(|| type_name.into()),
        ..Default::default()
    }
}

fn message(name: &str, fields: Vec<FieldDescriptorProto>) -> DescriptorProto {
    DescriptorProto {
        name: Some(name.into()),
        field: fields,
        ..Default::default()
    }
}

/// A proto3 file with one message `M { string name = 1; }` and whatever
/// `edit` adds.
fn file(
    name: &str,
    package: &str,
    edit: impl FnOnce(&mut FileDescriptorProto),
) -> FileDescriptorProto {
    let mut f = FileDescriptorProto {
        name: Some(name.into()),
        package: Some(package.into()),
        syntax: Some("proto3".into()),
        message_type: vec![message(
            "M",
            vec![field("name", 1, Type::String, Label::Optional, "")],
        )],
        ..Default::default()
    };
    edit(&mut f);
    f
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn found(files: Vec<FileDescriptorProto>) -> Vec<Found> {
    files
        .into_iter()
        .enumerate()
        .map(|(i, file)| Found {
            file,
            form: Form::Gzip,
            offset: i * 100,
            len: 100,
            copies: 0,
        })
        .collect()
}

/// Deterministic noise.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn gzip_member_is_found_where_it_is() {
    let f = file("a/b.proto", "a.b", |_| {});
    let member = gzip(&f.encode_to_vec());
    let mut bytes = noise(1000, 7);
    bytes.extend_from_slice(&[0x1f, 0x8b, 0x08, 0, 0]);
    let at = bytes.len();
    bytes.extend_from_slice(&member);
    bytes.extend(noise(500, 8));
    let got = scan(&bytes, &ScanLimits::default());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].file, f);
    assert_eq!(
        (got[0].form, got[0].offset, got[0].len),
        (Form::Gzip, at, member.len())
    );
}

#[test]
fn raw_descriptors_are_delimited_exactly() {
    let a = file("a.proto", "a", |_| {});
    let b = file("dir/b.proto", "b", |f| {
        f.dependency = vec!["a.proto".into()]
    });
    let (ra, rb) = (a.encode_to_vec(), b.encode_to_vec());
    let mut bytes = noise(300, 1);
    let at = bytes.len();
    // Back to back, as in a data section, then zeros.
    bytes.extend_from_slice(&ra);
    bytes.extend_from_slice(&rb);
    bytes.extend_from_slice(&[0; 16]);
    let got = scan(&bytes, &ScanLimits::default());
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].form, got[0].offset, got[0].len),
        (Form::Raw, at, ra.len())
    );
    assert_eq!((got[1].offset, got[1].len), (at + ra.len(), rb.len()));
    assert_eq!((&got[0].file, &got[1].file), (&a, &b));
}

#[test]
fn a_bare_name_is_not_a_descriptor() {
    let bytes = b"\x0a\x07a.proto\x00\x00\x0a\x07b.proto\x1a\x01";
    assert!(scan(bytes, &ScanLimits::default()).is_empty());
}

#[test]
fn identical_copies_are_counted_once() {
    let f = file("x.proto", "x", |_| {});
    let raw = f.encode_to_vec();
    let member = gzip(&raw);
    let mut bytes = member.clone();
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&member);
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&raw);
    bytes.extend_from_slice(&[0; 8]);
    let s = scan_detailed(&bytes, &ScanLimits::default());
    assert_eq!(s.found.len(), 1);
    assert_eq!((s.found[0].offset, s.found[0].copies), (0, 2));
    assert_eq!(s.stats.duplicates, 2);
    assert_eq!((s.stats.gzip_descriptors, s.stats.raw_descriptors), (2, 1));
}

#[test]
fn garbage_finds_nothing() {
    for seed in 1..20 {
        assert!(scan(&noise(64 << 10, seed), &ScanLimits::default()).is_empty());
    }
}

#[test]
fn truncated_and_corrupt_members_are_skipped() {
    let f = file("t.proto", "t", |_| {});
    let member = gzip(&f.encode_to_vec());
    for cut in 0..member.len() {
        let got = scan(&member[..cut], &ScanLimits::default());
        assert!(got.is_empty(), "a member cut at {cut} of {}", member.len());
    }
    assert_eq!(scan(&member, &ScanLimits::default()).len(), 1);
    // A wrong CRC-32 in the trailer.
    let mut bad = member.clone();
    let crc_at = bad.len() - 8;
    bad[crc_at] ^= 1;
    assert!(scan(&bad, &ScanLimits::default()).is_empty());
    // Every prefix of a raw descriptor followed by zeros, for panics only.
    let raw = f.encode_to_vec();
    for cut in 0..raw.len() {
        let mut b = raw[..cut].to_vec();
        b.extend_from_slice(&[0; 4]);
        let _ = scan(&b, &ScanLimits::default());
    }
}

#[test]
fn hostile_repetitions_are_cheap() {
    let magic: Vec<u8> = [0x1f, 0x8b, 0x08].repeat(1 << 20);
    let names: Vec<u8> = b"\x0a\x07a.proto".repeat(300_000);
    // A valid empty deflate stream of stored blocks that never ends.
    let mut stored = vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
    stored.extend([0x00, 0x00, 0x00, 0xff, 0xff].repeat(600_000));
    for bytes in [magic, names, stored] {
        let start = Instant::now();
        assert!(scan(&bytes, &ScanLimits::default()).is_empty());
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }
}

#[test]
fn deep_nesting_is_refused() {
    let mut m = message("Leaf", vec![]);
    for i in 0..200 {
        m = DescriptorProto {
            name: Some(format!("N{i}")),
            nested_type: vec![m],
            ..Default::default()
        };
    }
    let f = file("deep.proto", "deep", |f| f.message_type = vec![m]);
    let mut bytes = gzip(&f.encode_to_vec());
    bytes.extend(f.encode_to_vec());
    let got = scan(&bytes, &ScanLimits::default());
    assert!(got.is_empty(), "prost's recursion limit refuses it");
}

#[test]
fn spent_budgets_are_reported() {
    let f = file("b.proto", "b", |_| {});
    let mut bytes = gzip(&f.encode_to_vec());
    bytes.extend(f.encode_to_vec());
    let limits = ScanLimits {
        gzip_work: 10,
        raw_work: 10,
        ..ScanLimits::default()
    };
    let s = scan_detailed(&bytes, &limits);
    assert!(s.found.is_empty());
    assert_eq!(s.stats.limits_hit.len(), 2, "{:?}", s.stats.limits_hit);
    let one = ScanLimits {
        max_files: 1,
        ..ScanLimits::default()
    };
    let mut two = gzip(&f.encode_to_vec());
    two.extend(gzip(&file("c.proto", "c", |_| {}).encode_to_vec()));
    let s = scan_detailed(&two, &one);
    assert_eq!((s.found.len(), s.stats.limits_hit.len()), (1, 1));
}

#[test]
fn one_name_two_packages_keeps_both() {
    let svc = |name: &str| ServiceDescriptorProto {
        name: Some(name.into()),
        method: vec![MethodDescriptorProto {
            name: Some("Get".into()),
            input_type: Some(".google.protobuf.Empty".into()),
            output_type: Some(".google.protobuf.Empty".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let with = |package: &str| {
        file("api.proto", package, |f| {
            f.dependency = vec!["google/protobuf/empty.proto".into()];
            f.service = vec![svc("RuntimeService")];
        })
    };
    let (pool, report) = build_pool(
        &found(vec![with("runtime.v1alpha2"), with("runtime.v1")]),
        Schemas::embedded().pool(),
    );
    assert!(pool
        .get_service_by_name("runtime.v1alpha2.RuntimeService")
        .is_some());
    assert!(pool
        .get_service_by_name("runtime.v1.RuntimeService")
        .is_some());
    let renamed = report
        .files
        .iter()
        .find(|f| f.package == "runtime.v1")
        .unwrap();
    assert_eq!(renamed.name, "runtime/v1/api.proto");
    assert_eq!(renamed.registered_as.as_deref(), Some("api.proto"));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("runtime/v1/api.proto")));
    // empty.proto is not in the binary: taken from the bundled schemas.
    let empty = report
        .files
        .iter()
        .find(|f| f.name == "google/protobuf/empty.proto");
    assert_eq!(empty.map(|f| f.origin), Some(Origin::Bundled));
    assert!(report.dropped.is_empty(), "{:?}", report.dropped);
    assert_eq!(report.services().count(), 2);
}

#[test]
fn one_name_one_package_keeps_the_first() {
    let a = file("x.proto", "p", |_| {});
    let b = file("x.proto", "p", |f| {
        f.options = Some(FileOptions {
            go_package: Some("example.com/p".into()),
            ..Default::default()
        })
    });
    let c = file("x.proto", "p", |f| {
        f.message_type[0].name = Some("N".into())
    });
    let (pool, report) = build_pool(&found(vec![a, b, c]), Schemas::embedded().pool());
    assert!(pool.get_message_by_name("p.M").is_some());
    assert_eq!(report.dropped.len(), 2);
    assert!(report.dropped[0]
        .reason
        .contains("same types with other options"));
    assert!(report.dropped[1].reason.contains("other types"));
}

#[test]
fn missing_imports_are_left_out_or_drop_the_file() {
    let unused = file("uses_nothing.proto", "u", |f| {
        f.dependency = vec!["nowhere/options.proto".into()];
    });
    let used = file("needs.proto", "n", |f| {
        f.dependency = vec!["nowhere/dep.proto".into()];
        f.message_type[0].field.push(field(
            "d",
            2,
            Type::Message,
            Label::Optional,
            ".nowhere.Dep",
        ));
    });
    let (pool, report) = build_pool(&found(vec![unused, used]), Schemas::embedded().pool());
    assert!(pool.get_message_by_name("u.M").is_some());
    assert!(pool
        .get_file_by_name("uses_nothing.proto")
        .unwrap()
        .dependencies()
        .next()
        .is_none());
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("nowhere/options.proto")));
    assert!(pool.get_message_by_name("n.M").is_none());
    assert_eq!(report.dropped.len(), 1);
    assert!(
        report.dropped[0].reason.contains("nowhere/dep.proto"),
        "{:?}",
        report.dropped
    );
}

#[test]
fn imports_by_another_path_are_resolved() {
    let gogo = file("gogo.proto", "gogoproto", |f| {
        f.dependency = vec!["google/protobuf/descriptor.proto".into()];
        f.message_type.clear();
        f.syntax = None;
        let mut ext = field("nullable", 65001, Type::Bool, Label::Optional, "");
        ext.extendee = Some(".google.protobuf.FieldOptions".into());
        f.extension = vec![ext];
    });
    let user = file("github.com/x/user.proto", "x", |f| {
        f.dependency = vec![
            "github.com/gogo/protobuf/gogoproto/gogo.proto".into(),
            "gogoproto/gogo.proto".into(),
        ];
        f.public_dependency = vec![1];
    });
    let (pool, report) = build_pool(&found(vec![gogo, user]), Schemas::embedded().pool());
    let deps: Vec<String> = pool
        .get_file_by_name("github.com/x/user.proto")
        .unwrap()
        .dependencies()
        .map(|d| d.name().to_owned())
        .collect();
    assert_eq!(deps, ["gogo.proto"]);
    assert_eq!(
        pool.get_file_by_name("github.com/x/user.proto")
            .unwrap()
            .file_descriptor_proto()
            .public_dependency,
        [0]
    );
    // descriptor.proto: from the well-known types.
    let wkt = report
        .files
        .iter()
        .find(|f| f.name == "google/protobuf/descriptor.proto");
    assert_eq!(wkt.map(|f| f.origin), Some(Origin::WellKnown));
    assert_eq!(
        report
            .warnings
            .iter()
            .filter(|w| w.contains("resolved to gogo.proto"))
            .count(),
        2
    );
}

#[test]
fn conflicts_and_cycles_are_dropped_with_their_importers() {
    let a = file("a.proto", "p", |_| {});
    let b = file("b.proto", "p", |_| {}); // p.M again
    let c = file("c.proto", "c", |f| f.dependency = vec!["b.proto".into()]);
    let x = file("x.proto", "x", |f| f.dependency = vec!["y.proto".into()]);
    let y = file("y.proto", "y", |f| f.dependency = vec!["x.proto".into()]);
    // prost-reflect 0.16 panics on an unknown syntax: refused before.
    let e = file("e.proto", "e", |f| f.syntax = Some("editions".into()));
    let empty = file("empty.proto", "empty", |f| f.syntax = Some(String::new()));
    let files = vec![a, b, c, x, y, e, empty];
    let (pool, report) = build_pool(&found(files), Schemas::embedded().pool());
    assert!(pool.get_file_by_name("a.proto").is_some());
    let reason = |name: &str| {
        report
            .dropped
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.reason.clone())
            .unwrap_or_default()
    };
    assert!(
        reason("b.proto").contains("already defined"),
        "{}",
        reason("b.proto")
    );
    assert!(reason("c.proto").contains("b.proto, which was left out"));
    assert!(reason("x.proto").contains("cycle") || reason("y.proto").contains("cycle"));
    assert!(reason("e.proto").contains("syntax \"editions\" is not supported"));
    assert!(pool.get_message_by_name("empty.M").is_some());
    assert_eq!(pool.files().len(), 2);
}

/// Go's build information framing around the module text.
const MOD_START: &[u8] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
const MOD_END: &[u8] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";

fn buildinfo(flags: u8, version: &str, modinfo: &str) -> Vec<u8> {
    let mut b = noise(77, 3);
    b.extend_from_slice(b"\xff Go buildinf:");
    b.extend_from_slice(&[8, flags]);
    b.extend_from_slice(&[0; 16]);
    b.push(version.len() as u8);
    b.extend_from_slice(version.as_bytes());
    let mut m = MOD_START.to_vec();
    m.extend_from_slice(modinfo.as_bytes());
    m.extend_from_slice(MOD_END);
    let mut len = m.len();
    while len >= 0x80 {
        b.push(len as u8 | 0x80);
        len >>= 7;
    }
    b.push(len as u8);
    b.extend(m);
    b
}

#[test]
fn go_build_information_is_read() {
    let modinfo = "path\texample.com/cmd/d\n\
        mod\texample.com\tv1.2.3\th1:abc=\n\
        dep\tgithub.com/gogo/protobuf\tv1.3.2\th1:x=\n\
        =>\tgithub.com/x/protobuf\tv1.3.3\th1:y=\n\
        build\t-ldflags=\"-w -X example.com/version.Version=1.2.3+ds\"\n\
        build\tGOARCH=amd64\n";
    let info = BinaryInfo::parse(&buildinfo(2, "go1.22.1", modinfo));
    assert!(!info.elf);
    assert_eq!(info.go_version.as_deref(), Some("go1.22.1"));
    assert_eq!(info.path.as_deref(), Some("example.com/cmd/d"));
    let main = info.main_module.as_ref().unwrap();
    assert_eq!(
        (main.path.as_str(), main.version.as_str()),
        ("example.com", "v1.2.3")
    );
    assert_eq!(info.deps.len(), 1);
    let replaced = info.deps[0].replaced_by.as_ref().unwrap();
    assert_eq!(replaced.path, "github.com/x/protobuf");
    assert_eq!(info.settings[1], ("GOARCH".to_owned(), "amd64".to_owned()));
    assert_eq!(info.ldflags_version().as_deref(), Some("1.2.3+ds"));

    let old = BinaryInfo::parse(&buildinfo(0, "go1.16", ""));
    assert_eq!(
        (old.buildinfo_form, old.go_version),
        (Some("pointers"), None)
    );
    assert_eq!(BinaryInfo::parse(&noise(4096, 5)), BinaryInfo::default());
    // Cut anywhere: never a panic.
    let whole = buildinfo(2, "go1.22.1", modinfo);
    for cut in 0..whole.len() {
        let _ = BinaryInfo::parse(&whole[..cut]);
    }
}

/// A 64-bit little-endian ELF file with only these note sections and the
/// section name table.
fn tiny_elf(notes: &[(&str, &[u8], u32, &[u8])]) -> Vec<u8> {
    let pad = |v: &mut Vec<u8>| v.resize(v.len().next_multiple_of(4), 0);
    let mut elf = ElfBuilder::default();
    for (section, owner, kind, desc) in notes {
        let mut note = Vec::new();
        note.extend((owner.len() as u32 + 1).to_le_bytes());
        note.extend((desc.len() as u32).to_le_bytes());
        note.extend(kind.to_le_bytes());
        note.extend_from_slice(owner);
        note.push(0);
        pad(&mut note);
        note.extend_from_slice(desc);
        pad(&mut note);
        elf.section(section, 7, 0, &note);
    }
    elf.build()
}

#[test]
fn elf_build_ids_are_read() {
    let elf = tiny_elf(&[
        (".note.go.buildid", b"Go\0", 4, b"abc/def"),
        (".note.gnu.build-id", b"GNU", 3, &[0xde, 0xad, 0xbe, 0xef]),
    ]);
    let info = BinaryInfo::parse(&elf);
    assert!(info.elf);
    assert_eq!(info.go_build_id.as_deref(), Some("abc/def"));
    assert_eq!(info.gnu_build_id.as_deref(), Some("deadbeef"));
    for cut in 0..elf.len() {
        let _ = BinaryInfo::parse(&elf[..cut]);
    }
}

/// A proto3 file and a proto2 file using every construct the printer
/// writes.
fn printer_files() -> Vec<FileDescriptorProto> {
    let entry = DescriptorProto {
        name: Some("LabelsEntry".into()),
        field: vec![
            field("key", 1, Type::String, Label::Optional, ""),
            field("value", 2, Type::Int64, Label::Optional, ""),
        ],
        options: Some(MessageOptions {
            map_entry: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut optional = field("maybe", 5, Type::Uint32, Label::Optional, "");
    optional.proto3_optional = Some(true);
    optional.oneof_index = Some(1);
    let mut choice_a = field("a", 6, Type::String, Label::Optional, "");
    choice_a.oneof_index = Some(0);
    let mut choice_b = field("b", 7, Type::Enum, Label::Optional, ".p3.Outer.Kind");
    choice_b.oneof_index = Some(0);
    let mut unpacked = field("nums", 8, Type::Sint64, Label::Repeated, "");
    unpacked.options = Some(FieldOptions {
        packed: Some(false),
        ..Default::default()
    });
    let outer = DescriptorProto {
        name: Some("Outer".into()),
        field: vec![
            field(
                "labels",
                1,
                Type::Message,
                Label::Repeated,
                ".p3.Outer.LabelsEntry",
            ),
            field(
                "inner",
                2,
                Type::Message,
                Label::Optional,
                ".p3.Outer.Inner",
            ),
            field("packed", 3, Type::Fixed32, Label::Repeated, ""),
            field("blob", 4, Type::Bytes, Label::Optional, ""),
            optional,
            choice_a,
            choice_b,
            unpacked,
        ],
        nested_type: vec![
            entry,
            message(
                "Inner",
                vec![field("x", 1, Type::Double, Label::Optional, "")],
            ),
        ],
        enum_type: vec![EnumDescriptorProto {
            name: Some("Kind".into()),
            value: ["ZERO", "ONE"]
                .iter()
                .zip(0..)
                .map(|(n, i)| EnumValueDescriptorProto {
                    name: Some((*n).into()),
                    number: Some(i),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        oneof_decl: vec![
            OneofDescriptorProto {
                name: Some("choice".into()),
                ..Default::default()
            },
            OneofDescriptorProto {
                name: Some("_maybe".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let p3 = file("p3/outer.proto", "p3", |f| {
        f.message_type = vec![outer];
        f.service = vec![ServiceDescriptorProto {
            name: Some("S".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Watch".into()),
                input_type: Some(".p3.Outer".into()),
                output_type: Some(".p3.Outer.Inner".into()),
                client_streaming: Some(true),
                server_streaming: Some(true),
                ..Default::default()
            }],
            ..Default::default()
        }];
    });
    let mut packed = field("ids", 3, Type::Int32, Label::Repeated, "");
    packed.options = Some(FieldOptions {
        packed: Some(true),
        ..Default::default()
    });
    let mut dflt = field("name", 4, Type::String, Label::Optional, "");
    dflt.default_value = Some("say \"hi\"".into());
    let mut ext = field("note", 100, Type::String, Label::Optional, "");
    ext.extendee = Some(".p2.Old".into());
    let old = DescriptorProto {
        name: Some("Old".into()),
        field: vec![
            field("id", 1, Type::Int64, Label::Required, ""),
            field("grp", 2, Type::Group, Label::Optional, ".p2.Old.Grp"),
            packed,
            dflt,
        ],
        nested_type: vec![message(
            "Grp",
            vec![field("v", 1, Type::Int32, Label::Optional, "")],
        )],
        extension_range: vec![
            prost_reflect::prost_types::descriptor_proto::ExtensionRange {
                start: Some(100),
                end: Some(536_870_912),
                options: None,
            },
        ],
        ..Default::default()
    };
    let p2 = file("p2.proto", "p2", |f| {
        f.syntax = None;
        f.message_type = vec![old];
        f.extension = vec![ext];
    });
    vec![p3, p2]
}

#[test]
fn exported_files_read_back_the_same() {
    let (pool, report) = build_pool(&found(printer_files()), Schemas::embedded().pool());
    assert!(report.dropped.is_empty(), "{:?}", report.dropped);
    let dir = tempfile::tempdir().unwrap();
    let done = export(&pool, dir.path()).unwrap();
    assert_eq!(done.written, ["p3/outer.proto", "p2.proto"]);
    let text = std::fs::read_to_string(dir.path().join("p3/outer.proto")).unwrap();
    for expected in [
        "map<string, int64> labels = 1;",
        "optional uint32 maybe = 5;",
        "oneof choice {",
        "repeated sint64 nums = 8 [packed = false];",
        "rpc Watch (stream .p3.Outer) returns (stream .p3.Outer.Inner);",
    ] {
        assert!(text.contains(expected), "{expected} not in:\n{text}");
    }
    let diffs = verify(&pool, dir.path(), &done.written).unwrap();
    assert!(diffs.is_empty(), "{diffs:#?}");
}

#[test]
fn unsafe_names_are_not_written() {
    for name in [
        "../evil.proto",
        "/etc/evil.proto",
        "a//b.proto",
        "a/.hidden.proto",
        "a\\b.proto",
        "x.txt",
    ] {
        let f = file(name, "p", |_| {});
        assert!(to_source(&f).is_err(), "{name}");
    }
    let bad_ident = file("ok.proto", "p", |f| {
        f.message_type[0].name = Some("M {".into())
    });
    assert!(to_source(&bad_ident).is_err());
}
