//! Writing descriptors back as `.proto` source, for tools that read only
//! source (Wireshark's protobuf search path, `protoc`, `buf`).
//!
//! The text defines what the wire format and the JSON mapping depend on:
//! syntax, package, imports (`public`, `weak`), messages with nested
//! messages and enums, fields with their labels (proto3 `optional`
//! included), `oneof`s, `map<K, V>` fields, groups, `[packed = ...]` where
//! it differs from the syntax's default, proto2 defaults, extension ranges,
//! `extend` blocks, reserved numbers and names, enums (`allow_alias`), and
//! services with streaming markers. Other options (`go_package`, gogoproto
//! extensions, deprecation) and comments are left out. Type names are
//! written fully qualified (`.containerd.types.Mount`), which needs no
//! scope resolution to read back.
//!
//! Names come from the binary, so they are checked: a file whose name is
//! not a plain relative path, or whose identifiers are not identifiers, is
//! not written.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::Context as _;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    ServiceDescriptorProto,
};
use prost_reflect::DescriptorPool;

/// Deepest message nesting written.
const MAX_NESTING: usize = 64;
/// Highest field number (`max` in ranges).
const FIELD_MAX: i32 = 536_870_911;

/// What [`export`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// The names of the files written, each relative to the directory
    /// given.
    pub written: Vec<String>,
    /// Files not written, each with the reason, as sentences.
    pub skipped: Vec<String>,
}

/// Writes every file of `pool` as `.proto` source under `dir`, each at its
/// own name (`DIR/github.com/containerd/containerd/api/types/mount.proto`),
/// creating directories as needed and replacing files already there.
///
/// # Errors
///
/// A directory or file that cannot be created or written.
pub fn export(pool: &DescriptorPool, dir: &Path) -> anyhow::Result<Exported> {
    let mut done = Exported::default();
    for file in pool.file_descriptor_protos() {
        let name = file.name();
        let text = match to_source(file) {
            Ok(text) => text,
            Err(why) => {
                done.skipped.push(format!("{name}: {why}"));
                continue;
            }
        };
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| {
                format!(
                    "cannot create directory {}; give --export a writable directory",
                    parent.display()
                )
            })?;
        }
        fs::write(&path, text).with_context(|| {
            format!(
                "cannot write {}; give --export a writable directory",
                path.display()
            )
        })?;
        done.written.push(name.to_owned());
    }
    Ok(done)
}

/// `file` as `.proto` source, or why it cannot be written.
pub fn to_source(file: &FileDescriptorProto) -> Result<String, String> {
    let name = file.name();
    if !safe_relative_path(name) {
        return Err("its name is not a plain relative path ending in .proto".into());
    }
    let proto3 = match file.syntax() {
        "" | "proto2" => false,
        "proto3" => true,
        other => return Err(format!("syntax {other:?} is not supported")),
    };
    let mut p = Printer {
        out: String::new(),
        proto3,
    };
    let _ = writeln!(
        p.out,
        "// {name}: written by containerdsnoop from the descriptor compiled into a binary.\n\
         // Options that do not change the wire format are left out.\n"
    );
    let _ = writeln!(
        p.out,
        "syntax = \"{}\";\n",
        if proto3 { "proto3" } else { "proto2" }
    );
    if !file.package().is_empty() {
        check_dotted(file.package())?;
        let _ = writeln!(p.out, "package {};\n", file.package());
    }
    for (i, dep) in file.dependency.iter().enumerate() {
        let kind = if file.public_dependency.iter().any(|&k| k as usize == i) {
            "public "
        } else if file.weak_dependency.iter().any(|&k| k as usize == i) {
            "weak "
        } else {
            ""
        };
        let _ = writeln!(p.out, "import {kind}{};", quote(dep));
    }
    if !file.dependency.is_empty() {
        p.out.push('\n');
    }
    let scope = if file.package().is_empty() {
        String::new()
    } else {
        format!(".{}", file.package())
    };
    for e in &file.enum_type {
        p.enumeration(e, 0)?;
    }
    for m in &file.message_type {
        p.message(m, &scope, 0)?;
    }
    p.extends(&file.extension, &scope, 0)?;
    for s in &file.service {
        p.service(s)?;
    }
    Ok(p.out)
}

struct Printer {
    out: String,
    proto3: bool,
}

impl Printer {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
        // A blank line after each top-level definition.
        if depth == 0 && text == "}" {
            self.out.push('\n');
        }
    }

    fn message(&mut self, m: &DescriptorProto, scope: &str, depth: usize) -> Result<(), String> {
        check_ident(m.name())?;
        self.line(depth, &format!("message {} {{", m.name()));
        self.message_body(m, scope, depth + 1)?;
        self.line(depth, "}");
        Ok(())
    }

    fn message_body(
        &mut self,
        m: &DescriptorProto,
        scope: &str,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_NESTING {
            return Err("its messages nest too deeply".into());
        }
        let full = format!("{scope}.{}", m.name());
        if m.options.as_ref().and_then(|o| o.message_set_wire_format) == Some(true) {
            self.line(depth, "option message_set_wire_format = true;");
        }
        let mut oneofs_done = vec![false; m.oneof_decl.len()];
        for f in &m.field {
            match f.oneof_index.and_then(|k| usize::try_from(k).ok()) {
                Some(k) if f.proto3_optional != Some(true) => {
                    let Some(done) = oneofs_done.get_mut(k) else {
                        return Err(format!(
                            "field {} names a oneof that is not there",
                            f.name()
                        ));
                    };
                    if *done {
                        continue;
                    }
                    *done = true;
                    let oneof = &m.oneof_decl[k];
                    check_ident(oneof.name())?;
                    self.line(depth, &format!("oneof {} {{", oneof.name()));
                    for g in m.field.iter().filter(|g| g.oneof_index == f.oneof_index) {
                        self.field(g, m, &full, depth + 1, false)?;
                    }
                    self.line(depth, "}");
                }
                _ => self.field(f, m, &full, depth, true)?,
            }
        }
        for n in &m.nested_type {
            let is_map = n.options.as_ref().and_then(|o| o.map_entry) == Some(true);
            let is_group = m.field.iter().any(|f| {
                f.r#type() == Type::Group && f.type_name() == format!("{full}.{}", n.name())
            });
            if !is_map && !is_group {
                self.message(n, &full, depth)?;
            }
        }
        for e in &m.enum_type {
            self.enumeration(e, depth)?;
        }
        self.extends(&m.extension, &full, depth)?;
        for r in &m.extension_range {
            let (start, end) = (r.start(), r.end().saturating_sub(1));
            self.line(
                depth,
                &format!("extensions {};", range(start, end, FIELD_MAX)),
            );
        }
        let mut reserved: Vec<String> = m
            .reserved_range
            .iter()
            .map(|r| range(r.start(), r.end().saturating_sub(1), FIELD_MAX))
            .collect();
        if !reserved.is_empty() {
            self.line(depth, &format!("reserved {};", reserved.join(", ")));
        }
        reserved = m.reserved_name.iter().map(|n| quote(n)).collect();
        if !reserved.is_empty() {
            self.line(depth, &format!("reserved {};", reserved.join(", ")));
        }
        Ok(())
    }

    /// One field of message `m` (full name `full`), with its label unless
    /// it is in a oneof.
    fn field(
        &mut self,
        f: &FieldDescriptorProto,
        m: &DescriptorProto,
        full: &str,
        depth: usize,
        labelled: bool,
    ) -> Result<(), String> {
        check_ident(f.name())?;
        if let Some(entry) = map_entry(f, m, full) {
            let key = entry.field.iter().find(|k| k.number() == 1);
            let value = entry.field.iter().find(|k| k.number() == 2);
            let (Some(key), Some(value)) = (key, value) else {
                return Err(format!("map field {} has no key or value", f.name()));
            };
            let text = format!(
                "map<{}, {}> {} = {};",
                type_name(key)?,
                type_name(value)?,
                f.name(),
                f.number()
            );
            self.line(depth, &text);
            return Ok(());
        }
        let label = if !labelled {
            ""
        } else {
            match (f.label(), self.proto3) {
                (Label::Repeated, _) => "repeated ",
                (Label::Required, false) => "required ",
                (_, true) if f.proto3_optional == Some(true) => "optional ",
                (_, true) => "",
                (_, false) => "optional ",
            }
        };
        if f.r#type() == Type::Group {
            let group = m
                .nested_type
                .iter()
                .find(|n| f.type_name() == format!("{full}.{}", n.name()))
                .ok_or_else(|| format!("group field {} has no message", f.name()))?;
            check_ident(group.name())?;
            let head = format!("{label}group {} = {} {{", group.name(), f.number());
            self.line(depth, &head);
            self.message_body(group, full, depth + 1)?;
            self.line(depth, "}");
            return Ok(());
        }
        let options = self.field_options(f)?;
        let text = format!(
            "{label}{} {} = {}{options};",
            type_name(f)?,
            f.name(),
            f.number()
        );
        self.line(depth, &text);
        Ok(())
    }

    /// ` [packed = ..., default = ...]`, or nothing.
    fn field_options(&self, f: &FieldDescriptorProto) -> Result<String, String> {
        let mut options = Vec::new();
        let packable = !matches!(
            f.r#type(),
            Type::String | Type::Bytes | Type::Message | Type::Group
        );
        if f.label() == Label::Repeated && packable {
            match f.options.as_ref().and_then(|o| o.packed) {
                Some(true) if !self.proto3 => options.push("packed = true".to_owned()),
                Some(false) if self.proto3 => options.push("packed = false".to_owned()),
                _ => {}
            }
        }
        if let Some(default) = &f.default_value {
            let value = match f.r#type() {
                Type::String => quote(default),
                // Already escaped, as protoc writes it.
                Type::Bytes if !default.contains(['"', '\n']) => format!("\"{default}\""),
                Type::Bytes => return Err(format!("field {} has an unreadable default", f.name())),
                Type::Enum => {
                    check_ident(default)?;
                    default.clone()
                }
                _ if default
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
                {
                    default.clone()
                }
                _ => return Err(format!("field {} has an unreadable default", f.name())),
            };
            options.push(format!("default = {value}"));
        }
        Ok(if options.is_empty() {
            String::new()
        } else {
            format!(" [{}]", options.join(", "))
        })
    }

    /// `extend` blocks for `fields`, one per extendee, in order of first
    /// appearance.
    fn extends(
        &mut self,
        fields: &[FieldDescriptorProto],
        scope: &str,
        depth: usize,
    ) -> Result<(), String> {
        let mut extendees: Vec<&str> = Vec::new();
        for f in fields {
            if !extendees.contains(&f.extendee()) {
                extendees.push(f.extendee());
            }
        }
        for extendee in extendees {
            check_type_name(extendee)?;
            self.line(depth, &format!("extend {extendee} {{"));
            for f in fields.iter().filter(|f| f.extendee() == extendee) {
                if f.r#type() == Type::Group {
                    return Err(format!("extension {} is a group", f.name()));
                }
                let empty = DescriptorProto::default();
                self.field(f, &empty, scope, depth + 1, true)?;
            }
            self.line(depth, "}");
        }
        Ok(())
    }

    fn enumeration(&mut self, e: &EnumDescriptorProto, depth: usize) -> Result<(), String> {
        check_ident(e.name())?;
        self.line(depth, &format!("enum {} {{", e.name()));
        if e.options.as_ref().and_then(|o| o.allow_alias) == Some(true) {
            self.line(depth + 1, "option allow_alias = true;");
        }
        for v in &e.value {
            check_ident(v.name())?;
            self.line(depth + 1, &format!("{} = {};", v.name(), v.number()));
        }
        let reserved: Vec<String> = e
            .reserved_range
            .iter()
            .map(|r| range(r.start(), r.end(), i32::MAX))
            .collect();
        if !reserved.is_empty() {
            self.line(depth + 1, &format!("reserved {};", reserved.join(", ")));
        }
        let names: Vec<String> = e.reserved_name.iter().map(|n| quote(n)).collect();
        if !names.is_empty() {
            self.line(depth + 1, &format!("reserved {};", names.join(", ")));
        }
        self.line(depth, "}");
        Ok(())
    }

    fn service(&mut self, s: &ServiceDescriptorProto) -> Result<(), String> {
        check_ident(s.name())?;
        self.line(0, &format!("service {} {{", s.name()));
        for m in &s.method {
            check_ident(m.name())?;
            check_type_name(m.input_type())?;
            check_type_name(m.output_type())?;
            let stream = |on: bool| if on { "stream " } else { "" };
            let text = format!(
                "rpc {} ({}{}) returns ({}{});",
                m.name(),
                stream(m.client_streaming()),
                m.input_type(),
                stream(m.server_streaming()),
                m.output_type()
            );
            self.line(1, &text);
        }
        self.line(0, "}");
        Ok(())
    }
}

/// The map entry message that field `f` of `m` (full name `full`) uses, if
/// it is a map field.
fn map_entry<'a>(
    f: &FieldDescriptorProto,
    m: &'a DescriptorProto,
    full: &str,
) -> Option<&'a DescriptorProto> {
    if f.label() != Label::Repeated || f.r#type() != Type::Message {
        return None;
    }
    let name = f.type_name().strip_prefix(full)?.strip_prefix('.')?;
    m.nested_type
        .iter()
        .find(|n| n.name() == name && n.options.as_ref().and_then(|o| o.map_entry) == Some(true))
}

/// The type of a field as written in source.
fn type_name(f: &FieldDescriptorProto) -> Result<String, String> {
    let keyword = match f.r#type() {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Message | Type::Enum | Type::Group => {
            check_type_name(f.type_name())?;
            return Ok(f.type_name().to_owned());
        }
    };
    Ok(keyword.to_owned())
}

/// `start to end`, `start`, or `start to max`.
fn range(start: i32, end: i32, max: i32) -> String {
    if end == max {
        format!("{start} to max")
    } else if end <= start {
        start.to_string()
    } else {
        format!("{start} to {end}")
    }
}

/// A string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{b:03o}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_ident(s: &str) -> Result<(), String> {
    if is_ident(s) {
        Ok(())
    } else {
        Err(format!("{s:?} is not an identifier"))
    }
}

fn check_dotted(s: &str) -> Result<(), String> {
    if s.split('.').all(is_ident) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a dotted name"))
    }
}

/// A fully qualified type name, `.pkg.Type`.
fn check_type_name(s: &str) -> Result<(), String> {
    match s.strip_prefix('.') {
        Some(rest) => check_dotted(rest),
        None => Err(format!("type name {s:?} is not fully qualified")),
    }
}

/// A relative path of plain components ending in `.proto`: no `..`, no
/// empty or hidden components, no backslashes or control characters.
fn safe_relative_path(name: &str) -> bool {
    name.ends_with(".proto")
        && name.len() <= 1024
        && name.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| !c.is_control() && c != '\\' && c != ':')
        })
}
