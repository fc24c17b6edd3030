//! Unit tests on small synthetic inputs, one file per concern; here the
//! descriptor builders and byte helpers they share. tests/schemas_from_binary.rs
//! reads the real binaries.

mod export;
mod hostile;
mod info;
mod pool;
mod scan;

use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, MethodDescriptorProto,
    ServiceDescriptorProto,
};

use super::pool::build_pool;
use super::scan::{scan, scan_detailed, Form, Found, ScanLimits};
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
