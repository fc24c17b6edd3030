//! What a Go binary says about itself: the Go build information (toolchain
//! version, main package and module, dependencies, build settings) and its
//! build IDs.
//!
//! The ELF sections are read with [`crate::elf`] (64-bit little-endian
//! only; any other file just has no section information).
//!
//! Build information is the `.go.buildinfo` section, or failing that the
//! magic `\xff Go buildinf:` on a 16-byte boundary of the file. Since Go
//! 1.18 its flags byte has bit 2 set and two varint-length strings follow the
//! 32-byte header: the Go version, then the module information (lines
//! `path P`, `mod PATH VERSION SUM`, `dep PATH VERSION SUM`, `=> PATH
//! VERSION SUM` for a replacement, `build KEY=VALUE`, separated by tabs). The
//! older form holds pointers to Go strings instead; it is reported as
//! unknown.

use super::scan::find;
use crate::elf::{note_desc, Elf};

/// The Go build information magic.
const BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// The linker places the build information on this alignment; the magic
/// elsewhere is data (this very constant, in our own binary).
const BUILDINFO_ALIGN: usize = 16;
/// Flags bit: the strings follow the header inline (Go 1.18 and later).
const FLAG_INLINE: u8 = 0x2;
/// Longest Go version or module information string read.
const BUILDINFO_STRING_MAX: u64 = 1 << 20;

/// The first place of the magic on the build information's alignment.
fn find_aligned(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = find(bytes, from, BUILDINFO_MAGIC)?;
        if at % BUILDINFO_ALIGN == 0 {
            return Some(at);
        }
        from = at + 1;
    }
}

/// A module named in the build information.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Module {
    /// Module path, such as `github.com/containerd/containerd`.
    pub path: String,
    /// Version, such as `v1.6.20`, or `(devel)`.
    pub version: String,
    /// Checksum (`h1:...`), when recorded.
    pub sum: Option<String>,
    /// The module that replaced it (`=>` line), if any.
    pub replaced_by: Option<Box<Module>>,
}

/// What the binary says about itself. Every field is optional: stripped,
/// non-Go and non-ELF files lack some or all of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinaryInfo {
    /// Whether the file is a 64-bit little-endian ELF file, whose sections
    /// were read.
    pub elf: bool,
    /// The Go toolchain, such as `go1.19.8`; `None` if not a Go binary, or
    /// the build information is in the pre-1.18 form (see `buildinfo_form`).
    pub go_version: Option<String>,
    /// `inline` (Go 1.18+), `pointers` (older Go: not decoded), or `None`
    /// when there is no build information.
    pub buildinfo_form: Option<&'static str>,
    /// The main package's import path (`path` line).
    pub path: Option<String>,
    /// The main module (`mod` line); absent in GOPATH builds such as
    /// Debian's.
    pub main_module: Option<Module>,
    /// The dependencies (`dep` lines).
    pub deps: Vec<Module>,
    /// Build settings (`build` lines), such as `-ldflags` or `GOARCH`.
    pub settings: Vec<(String, String)>,
    /// The Go build ID (`.note.go.buildid`).
    pub go_build_id: Option<String>,
    /// The GNU build ID (`.note.gnu.build-id`), in hex.
    pub gnu_build_id: Option<String>,
}

impl BinaryInfo {
    /// Reads what `bytes` (a whole executable) says about itself.
    pub fn parse(bytes: &[u8]) -> BinaryInfo {
        let mut info = BinaryInfo::default();
        let elf = Elf::parse(bytes).ok();
        info.elf = elf.is_some();
        let section = |name: &str| elf.as_ref()?.section_data(name);
        if let Some(note) = section(".note.go.buildid") {
            info.go_build_id = note_desc(note, b"Go", 4).map(|d| text(d).to_owned());
        }
        if let Some(note) = section(".note.gnu.build-id") {
            info.gnu_build_id = note_desc(note, b"GNU", 3).map(hex);
        }
        let header = section(".go.buildinfo")
            .filter(|s| s.starts_with(BUILDINFO_MAGIC))
            .or_else(|| find_aligned(bytes).and_then(|at| bytes.get(at..)));
        if let Some(header) = header {
            info.read_buildinfo(header);
        }
        info
    }

    /// A version for the program from `-ldflags -X pkg.Version=V` (how
    /// Debian and upstream release builds stamp dockerd, containerd and
    /// runc when no main module version is recorded), if any.
    pub fn ldflags_version(&self) -> Option<String> {
        let (_, flags) = self.settings.iter().find(|(k, _)| k == "-ldflags")?;
        let mut words = flags.split(|c: char| c.is_whitespace() || c == '"');
        while let Some(w) = words.next() {
            let assignment = match w {
                "-X" => words.find(|w| !w.is_empty())?,
                _ => match w.strip_prefix("-X=") {
                    Some(rest) => rest,
                    None => continue,
                },
            };
            if let Some((key, value)) = assignment.split_once('=') {
                if key.ends_with(".Version") && !value.is_empty() {
                    return Some(value.to_owned());
                }
            }
        }
        None
    }

    fn read_buildinfo(&mut self, header: &[u8]) {
        let Some(&flags) = header.get(15) else {
            return;
        };
        if flags & FLAG_INLINE == 0 {
            self.buildinfo_form = Some("pointers");
            return;
        }
        self.buildinfo_form = Some("inline");
        let mut rest = header.get(32..).unwrap_or_default();
        let Some(version) = inline_string(&mut rest) else {
            return;
        };
        self.go_version = Some(text(version).to_owned()).filter(|v| !v.is_empty());
        let Some(mut modinfo) = inline_string(&mut rest) else {
            return;
        };
        // The module text is framed by 16 bytes on each side.
        if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
            modinfo = &modinfo[16..modinfo.len() - 16];
        }
        self.read_modinfo(text(modinfo));
    }

    fn read_modinfo(&mut self, modinfo: &str) {
        for line in modinfo.lines() {
            let mut cols = line.split('\t');
            let kind = cols.next().unwrap_or_default();
            let cols: Vec<&str> = cols.collect();
            let module = || Module {
                path: cols.first().copied().unwrap_or_default().to_owned(),
                version: cols.get(1).copied().unwrap_or_default().to_owned(),
                sum: cols.get(2).map(|s| (*s).to_owned()),
                replaced_by: None,
            };
            match kind {
                "path" => self.path = cols.first().map(|s| (*s).to_owned()),
                "mod" => self.main_module = Some(module()),
                "dep" => self.deps.push(module()),
                "=>" => {
                    let last = self.deps.last_mut().or(self.main_module.as_mut());
                    if let Some(m) = last {
                        m.replaced_by = Some(Box::new(module()));
                    }
                }
                "build" => {
                    let setting = cols.join("\t");
                    let (k, v) = setting.split_once('=').unwrap_or((&setting, ""));
                    self.settings.push((k.to_owned(), unquote(v)));
                }
                _ => {}
            }
        }
    }
}

/// A varint-length string at the start of `rest`, which moves past it.
fn inline_string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut len = 0u64;
    let mut used = 0;
    for (i, &byte) in rest.iter().take(10).enumerate() {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            used = i + 1;
            break;
        }
    }
    if used == 0 || len > BUILDINFO_STRING_MAX {
        return None;
    }
    let s = rest.get(used..used + len as usize)?;
    *rest = &rest[used + len as usize..];
    Some(s)
}

/// A build setting's value: Go quotes those with spaces, tabs or quotes
/// (`strconv.Quote`); common escapes are undone, others kept as written.
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return v.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(c @ ('"' | '\\')) => out.push(c),
            Some(c) => {
                out.push('\\');
                out.push(c);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// `b` as text: up to its first NUL, and only if it is UTF-8.
fn text(b: &[u8]) -> &str {
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    std::str::from_utf8(b).unwrap_or_default()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
