//! Checking an export: the `.proto` files written by [`super::export`],
//! compiled again with protox, must define the same messages (fields with
//! the same names, numbers, types, labels, packing, oneofs and map-ness),
//! enum values and service methods as the descriptors they came from.

use std::path::Path;

use anyhow::anyhow;
use prost_reflect::{
    Cardinality, DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, ServiceDescriptor,
};
use protox::file::IncludeFileResolver;

/// Most differences listed; past it, one line says how many more.
const MAX_LISTED: usize = 50;

/// Compiles the files `names` (relative to `dir`) with protox, imports
/// resolved under `dir` only, and compares them with `original`: the
/// differences, as sentences (none when the export is faithful).
///
/// # Errors
///
/// A file that does not compile (protox's message names it, with line and
/// column).
pub fn verify(
    original: &DescriptorPool,
    dir: &Path,
    names: &[String],
) -> anyhow::Result<Vec<String>> {
    // Only the exported directory: protox's built-in google/protobuf files
    // must not stand in for the exported ones.
    let resolver = IncludeFileResolver::new(dir.to_owned());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    for name in names {
        compiler.open_file(dir.join(name)).map_err(|e| {
            anyhow!("the exported {name} does not compile ({e:?}); please report it with the binary's name and version")
        })?;
    }
    // Through bytes: a pool straight from protox has its `[packed = ...]`
    // options resolved after prost-reflect decided packing, so
    // `is_packed()` would say proto3's default whatever the option says.
    let reread =
        DescriptorPool::decode(compiler.encode_file_descriptor_set().as_slice()).map_err(|e| {
            anyhow!("the exported files read back as an invalid pool ({e}); please report it")
        })?;
    Ok(differences(original, &reread, names))
}

/// What `reread` defines differently from `original`, in the files `names`.
pub fn differences(
    original: &DescriptorPool,
    reread: &DescriptorPool,
    names: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        let Some(file) = original.get_file_by_name(name) else {
            continue;
        };
        let mut messages: Vec<MessageDescriptor> = file.messages().collect();
        while let Some(m) = messages.pop() {
            messages.extend(m.child_messages());
            match reread.get_message_by_name(m.full_name()) {
                Some(r) => compare_messages(&m, &r, &mut out),
                None => out.push(format!("message {} is missing", m.full_name())),
            }
            for e in m.child_enums() {
                compare_enum(&e, reread, &mut out);
            }
        }
        for e in file.enums() {
            compare_enum(&e, reread, &mut out);
        }
        for s in file.services() {
            compare_service(&s, reread, &mut out);
        }
    }
    if out.len() > MAX_LISTED {
        let more = out.len() - MAX_LISTED;
        out.truncate(MAX_LISTED);
        out.push(format!("... and {more} more differences"));
    }
    out
}

fn compare_messages(a: &MessageDescriptor, b: &MessageDescriptor, out: &mut Vec<String>) {
    let name = a.full_name();
    for fa in a.fields() {
        match b.get_field(fa.number()) {
            Some(fb) => {
                let (sa, sb) = (field_summary(&fa), field_summary(&fb));
                if sa != sb {
                    out.push(format!("{name} field {}: {sa} became {sb}", fa.number()));
                }
            }
            None => out.push(format!(
                "{name} field {} ({}) is missing",
                fa.number(),
                fa.name()
            )),
        }
    }
    for fb in b.fields() {
        if a.get_field(fb.number()).is_none() {
            out.push(format!(
                "{name} field {} ({}) appeared",
                fb.number(),
                fb.name()
            ));
        }
    }
}

/// Everything about a field that decoding depends on, as text.
fn field_summary(f: &FieldDescriptor) -> String {
    let label = match f.cardinality() {
        Cardinality::Optional if f.supports_presence() => "optional",
        Cardinality::Optional => "singular",
        Cardinality::Required => "required",
        Cardinality::Repeated => "repeated",
    };
    let kind = match f.kind() {
        Kind::Message(m) => m.full_name().to_owned(),
        Kind::Enum(e) => e.full_name().to_owned(),
        other => format!("{other:?}").to_lowercase(),
    };
    let oneof = f
        .containing_oneof()
        .filter(|o| !o.is_synthetic())
        .map(|o| format!(" in oneof {}", o.name()))
        .unwrap_or_default();
    format!(
        "{label} {kind} {}{}{}{}{oneof}",
        f.name(),
        if f.is_packed() { " packed" } else { "" },
        if f.is_map() { " map" } else { "" },
        if f.is_group() { " group" } else { "" },
    )
}

fn compare_enum(a: &prost_reflect::EnumDescriptor, reread: &DescriptorPool, out: &mut Vec<String>) {
    let Some(b) = reread.get_enum_by_name(a.full_name()) else {
        out.push(format!("enum {} is missing", a.full_name()));
        return;
    };
    let values = |e: &prost_reflect::EnumDescriptor| -> Vec<(String, i32)> {
        e.values()
            .map(|v| (v.name().to_owned(), v.number()))
            .collect()
    };
    if values(a) != values(&b) {
        out.push(format!("enum {} has other values", a.full_name()));
    }
}

fn compare_service(a: &ServiceDescriptor, reread: &DescriptorPool, out: &mut Vec<String>) {
    let Some(b) = reread.get_service_by_name(a.full_name()) else {
        out.push(format!("service {} is missing", a.full_name()));
        return;
    };
    let methods = |s: &ServiceDescriptor| -> Vec<String> {
        s.methods()
            .map(|m| {
                format!(
                    "{}({}{}) -> {}{}",
                    m.name(),
                    if m.is_client_streaming() {
                        "stream "
                    } else {
                        ""
                    },
                    m.input().full_name(),
                    if m.is_server_streaming() {
                        "stream "
                    } else {
                        ""
                    },
                    m.output().full_name()
                )
            })
            .collect()
    };
    if methods(a) != methods(&b) {
        out.push(format!("service {} has other methods", a.full_name()));
    }
}
