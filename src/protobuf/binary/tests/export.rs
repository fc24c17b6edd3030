//! Exporting .proto files: the printer read back and verified, unsafe names.

use prost_reflect::prost_types::{
    EnumDescriptorProto, EnumValueDescriptorProto, FieldOptions, MessageOptions,
    OneofDescriptorProto,
};

use super::*;
use crate::protobuf::binary::export::{export, to_source};
use crate::protobuf::binary::verify::verify;

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
