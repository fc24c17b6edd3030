//! Go functions in an ELF executable, found by their Go symbol names (such
//! as `golang.org/x/net/http2.(*Framer).readMetaFrame`) so that uprobes can
//! be attached to them.
//!
//! A function is looked up in `.symtab`, then `.dynsym` (which `strip`
//! keeps: Debian's containerd and dockerd export every Go function there),
//! then the Go function table ([`pclntab`]), which every Go binary carries
//! for its own stack traces. Names match exactly: net/http's bundled copy of
//! x/net is a different function (`vendor/golang.org/x/net/...`,
//! `net/http.(*http2Framer)...`).

pub mod pclntab;

use std::ops::Range;
use std::path::Path;

use anyhow::Context as _;

use crate::elf::{Elf, SymbolTable};
use crate::protobuf::binary::read_binary;
use pclntab::{Pclntab, PclntabError};

/// Where a function's address was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The full symbol table, `.symtab`.
    SymTab,
    /// The dynamic symbol table, `.dynsym`.
    DynSym,
    /// The Go function table.
    Pclntab,
}

/// A function found in the binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// The Go symbol name looked up.
    pub name: String,
    /// The entry's virtual address at link time.
    pub vaddr: u64,
    /// The entry's offset in the file: what a uprobe is attached at.
    pub file_offset: u64,
    /// Which table gave the address.
    pub source: Source,
}

/// An ELF executable, read whole, with its Go function table located.
pub struct GoBinary {
    bytes: Vec<u8>,
    /// From the function table's header to the end of the section (or
    /// file) that holds it.
    pclntab: Result<Range<usize>, PclntabError>,
    /// A `.note.go.buildid` or `.go.buildinfo` section is present.
    go_sections: bool,
}

impl GoBinary {
    /// Reads the executable at `path` (a regular file, such as
    /// `/proc/PID/exe`, of at most
    /// [`MAX_BINARY_BYTES`](crate::protobuf::binary::MAX_BINARY_BYTES)).
    pub fn open(path: impl AsRef<Path>) -> anyhow::Result<GoBinary> {
        let path = path.as_ref();
        let (bytes, _) = read_binary(path)?;
        GoBinary::from_bytes(bytes).with_context(|| format!("cannot read {}", path.display()))
    }

    /// Reads an executable's bytes. Fails only if they are not a 64-bit
    /// little-endian ELF file; a file without a function table is not an
    /// error (see [`GoBinary::pclntab`]).
    pub fn from_bytes(bytes: Vec<u8>) -> anyhow::Result<GoBinary> {
        let elf = Elf::parse(&bytes)?;
        let pclntab = locate_pclntab(&elf);
        let go_sections =
            elf.section(".note.go.buildid").is_some() || elf.section(".go.buildinfo").is_some();
        Ok(GoBinary {
            bytes,
            pclntab,
            go_sections,
        })
    }

    /// Whether this is a Go program: it has a function table, a Go build
    /// ID note or Go build information.
    pub fn is_go(&self) -> bool {
        self.pclntab.is_ok() || self.go_sections
    }

    /// The Go function table, or why there is none.
    pub fn pclntab(&self) -> Result<Pclntab<'_>, PclntabError> {
        let range = self.pclntab.clone()?;
        Pclntab::parse(&self.bytes[range])
    }

    /// The function with exactly this name, from `.symtab`, else
    /// `.dynsym`, else the function table. `None` if none of them has it
    /// at an address that the file maps.
    pub fn function(&self, name: &str) -> Option<Function> {
        [Source::SymTab, Source::DynSym, Source::Pclntab]
            .into_iter()
            .find_map(|source| self.function_from(name, source))
    }

    /// [`GoBinary::function`] for several names at once: one pass over each
    /// symbol table instead of one per name (`.dynsym` of containerd holds
    /// about 115,000 symbols).
    pub fn functions(&self, names: &[&str]) -> Vec<Option<Function>> {
        let elf = self.elf();
        let mut out: Vec<Option<Function>> = vec![None; names.len()];
        for (table, source) in [
            (SymbolTable::Symtab, Source::SymTab),
            (SymbolTable::Dynsym, Source::DynSym),
        ] {
            if out.iter().all(Option::is_some) {
                break;
            }
            for s in elf.symbols(table).filter(|s| s.is_defined_function()) {
                let Some(i) =
                    (0..names.len()).find(|&i| out[i].is_none() && s.name == names[i].as_bytes())
                else {
                    continue;
                };
                out[i] = elf.file_offset(s.value).map(|file_offset| Function {
                    name: names[i].to_owned(),
                    vaddr: s.value,
                    file_offset,
                    source,
                });
            }
        }
        for (i, name) in names.iter().enumerate() {
            if out[i].is_none() {
                out[i] = self.function_from(name, Source::Pclntab);
            }
        }
        out
    }

    /// The function with exactly this name, from one table only.
    pub fn function_from(&self, name: &str, source: Source) -> Option<Function> {
        let elf = self.elf();
        let vaddr = match source {
            Source::SymTab => symbol(&elf, SymbolTable::Symtab, name),
            Source::DynSym => symbol(&elf, SymbolTable::Dynsym, name),
            Source::Pclntab => self.pclntab().ok()?.entry(name.as_bytes()),
        }?;
        Some(Function {
            name: name.to_owned(),
            vaddr,
            file_offset: elf.file_offset(vaddr)?,
            source,
        })
    }

    /// The file's headers. Parsing them again costs microseconds (a few
    /// dozen headers) and spares holding a view into `bytes`.
    fn elf(&self) -> Elf<'_> {
        Elf::parse(&self.bytes).expect("the headers parsed when the binary was read")
    }
}

/// The address of the defined function `name` in one symbol table.
fn symbol(elf: &Elf<'_>, table: SymbolTable, name: &str) -> Option<u64> {
    elf.symbols(table)
        .find(|s| s.is_defined_function() && s.name == name.as_bytes())
        .map(|s| s.value)
}

/// Where the function table lies in the file: the `.gopclntab` section;
/// in an externally linked PIE, inside `.data.rel.ro`; in a file without
/// section headers, anywhere.
fn locate_pclntab(elf: &Elf<'_>) -> Result<Range<usize>, PclntabError> {
    let region = |name| {
        let section = elf.section(name)?;
        let data = elf.data(section)?;
        Some((section.offset as usize, data))
    };
    if let Some((start, data)) = region(".gopclntab") {
        Pclntab::parse(data)?;
        return Ok(start..start + data.len());
    }
    let (start, data) = region(".data.rel.ro").unwrap_or((0, elf.bytes()));
    let at = pclntab::find(data)?;
    Ok(start + at..start + data.len())
}

#[cfg(test)]
mod tests;
