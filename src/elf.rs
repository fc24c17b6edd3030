//! A minimal read-only reader of 64-bit little-endian ELF files: section
//! headers, `PT_LOAD` program headers, the symbols of `.symtab` and
//! `.dynsym`, notes, and the mapping from a virtual address to its file
//! offset (what a uprobe is attached at).
//!
//! Written by hand because the project needs only these few fields of the
//! format (ELF-64 Object File Format, version 1.5, and the System V gABI),
//! and every read is bounds-checked: a truncated or hostile file gives
//! `None` or an [`ElfError`], never a panic. Big-endian and 32-bit files are
//! refused; the Go binaries this project reads are amd64 or arm64.

use std::fmt;

/// Section type of a symbol table (`SHT_SYMTAB`).
pub const SHT_SYMTAB: u32 = 2;
/// Section type of the dynamic symbol table (`SHT_DYNSYM`).
pub const SHT_DYNSYM: u32 = 11;
/// Section type of a section that occupies no file space (`SHT_NOBITS`).
pub const SHT_NOBITS: u32 = 8;
/// Symbol type of a function (`STT_FUNC`, the low 4 bits of `st_info`).
pub const STT_FUNC: u8 = 2;
/// Segment flag: executable (`PF_X`).
pub const PF_X: u32 = 1;

const PT_LOAD: u32 = 1;
/// `e_ident`: the magic, then `ELFCLASS64` and `ELFDATA2LSB`.
const IDENT: &[u8] = b"\x7fELF\x02\x01";
/// Size of a section header, program header and symbol in ELF-64.
const SHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const SYM_SIZE: usize = 24;
/// Most section or program headers read: real executables have a few
/// dozen, and the bound keeps a hostile header count from costing memory.
const MAX_HEADERS: usize = 4096;
/// Largest note section read.
const NOTE_MAX: usize = 64 << 10;

/// Why a file could not be read as ELF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The file does not start with the ELF magic of a 64-bit
    /// little-endian file.
    NotElf64,
    /// A header table (`"section"` or `"program"`) has an entry size too
    /// small, too many entries, or lies partly outside the file.
    BadTable(&'static str),
    /// The section name table (`e_shstrndx`) is missing or outside the file.
    BadNameTable,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf64 => f.write_str("not a 64-bit little-endian ELF file"),
            ElfError::BadTable(which) => {
                write!(f, "the ELF {which} header table is damaged or truncated")
            }
            ElfError::BadNameTable => f.write_str("the ELF section name table is damaged"),
        }
    }
}

impl std::error::Error for ElfError {}

/// One section header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section<'a> {
    /// The name, such as `.gopclntab` (empty if the name table lacks it).
    pub name: &'a [u8],
    /// `sh_type`, such as [`SHT_SYMTAB`].
    pub kind: u32,
    /// `sh_addr`: the virtual address at run time, 0 if not loaded.
    pub addr: u64,
    /// `sh_offset`: where the bytes start in the file.
    pub offset: u64,
    /// `sh_size`, in bytes.
    pub size: u64,
    /// `sh_link`: for a symbol table, the index of its string table.
    pub link: u32,
}

/// One `PT_LOAD` program header: a part of the file mapped into memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// `p_vaddr`: the virtual address of the first byte.
    pub vaddr: u64,
    /// `p_offset`: where the bytes start in the file.
    pub offset: u64,
    /// `p_filesz`: how many bytes come from the file.
    pub filesz: u64,
    /// `p_flags`, such as [`PF_X`].
    pub flags: u32,
}

/// One symbol of a symbol table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol<'a> {
    /// The name (empty if the string table lacks it).
    pub name: &'a [u8],
    /// `st_value`: for a defined function, its virtual address.
    pub value: u64,
    /// `st_size`, in bytes.
    pub size: u64,
    /// The symbol type, the low 4 bits of `st_info`, such as [`STT_FUNC`].
    pub kind: u8,
    /// `st_shndx`: the section it is defined in, 0 if undefined.
    pub section: u16,
}

impl Symbol<'_> {
    /// Whether this is a function defined in this file.
    pub fn is_defined_function(&self) -> bool {
        self.kind == STT_FUNC && self.section != 0
    }
}

/// Which symbol table to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolTable {
    /// `.symtab` (`SHT_SYMTAB`): all symbols; removed by `strip`.
    Symtab,
    /// `.dynsym` (`SHT_DYNSYM`): the symbols the dynamic linker sees; kept
    /// by `strip`.
    Dynsym,
}

/// An ELF file's headers over its bytes.
#[derive(Clone, Debug)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    sections: Vec<Section<'a>>,
    segments: Vec<Segment>,
}

impl<'a> Elf<'a> {
    /// Reads the section and program header tables of `bytes`, a whole ELF
    /// file. A file with no section headers (`e_shnum` 0) has no sections.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if bytes.get(..IDENT.len()) != Some(IDENT) {
            return Err(ElfError::NotElf64);
        }
        let header = |at| u64_at(bytes, at).ok_or(ElfError::NotElf64);
        let half = |at| u16_at(bytes, at).map(usize::from).ok_or(ElfError::NotElf64);
        let (phoff, shoff) = (header(0x20)?, header(0x28)?);
        let (phentsize, phnum) = (half(0x36)?, half(0x38)?);
        let (shentsize, shnum, shstrndx) = (half(0x3a)?, half(0x3c)?, half(0x3e)?);

        let program = table(bytes, phoff, phentsize, phnum, PHDR_SIZE)
            .ok_or(ElfError::BadTable("program"))?;
        let segments = program
            .filter(|h| u32_at(h, 0) == Some(PT_LOAD))
            .map(|h| {
                Some(Segment {
                    flags: u32_at(h, 4)?,
                    offset: u64_at(h, 8)?,
                    vaddr: u64_at(h, 16)?,
                    filesz: u64_at(h, 32)?,
                })
            })
            .collect::<Option<_>>()
            .ok_or(ElfError::BadTable("program"))?;

        let raw: Vec<(u32, Section)> = table(bytes, shoff, shentsize, shnum, SHDR_SIZE)
            .ok_or(ElfError::BadTable("section"))?
            .map(|h| {
                let section = Section {
                    name: &[],
                    kind: u32_at(h, 4)?,
                    addr: u64_at(h, 16)?,
                    offset: u64_at(h, 24)?,
                    size: u64_at(h, 32)?,
                    link: u32_at(h, 40)?,
                };
                Some((u32_at(h, 0)?, section))
            })
            .collect::<Option<_>>()
            .ok_or(ElfError::BadTable("section"))?;
        let mut elf = Elf {
            bytes,
            sections: Vec::new(),
            segments,
        };
        if raw.is_empty() {
            return Ok(elf);
        }
        let names = raw
            .get(shstrndx)
            .and_then(|(_, s)| elf.data(s))
            .ok_or(ElfError::BadNameTable)?;
        elf.sections = raw
            .into_iter()
            .map(|(name, section)| Section {
                name: c_string(names, name as usize).unwrap_or_default(),
                ..section
            })
            .collect();
        Ok(elf)
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// All section headers, in file order (the first is the null section).
    pub fn sections(&self) -> &[Section<'a>] {
        &self.sections
    }

    /// The first section with this name.
    pub fn section(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name == name.as_bytes())
    }

    /// The bytes of the section with this name, if it has any in the file.
    pub fn section_data(&self, name: &str) -> Option<&'a [u8]> {
        self.data(self.section(name)?)
    }

    /// The bytes of `section` in the file: `None` for a section without
    /// any (`SHT_NOBITS`) or one that lies outside the file.
    pub fn data(&self, section: &Section<'_>) -> Option<&'a [u8]> {
        if section.kind == SHT_NOBITS {
            return None;
        }
        slice(self.bytes, section.offset, section.size)
    }

    /// The `PT_LOAD` segments, in file order.
    pub fn load_segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The file offset of the byte loaded at virtual address `vaddr`, if a
    /// `PT_LOAD` segment maps it from the file. This is the offset that
    /// uprobes take (libbpf's `func_offset` for a path without a symbol).
    pub fn file_offset(&self, vaddr: u64) -> Option<u64> {
        self.segments.iter().find_map(|s| {
            let delta = vaddr.checked_sub(s.vaddr).filter(|&d| d < s.filesz)?;
            s.offset.checked_add(delta)
        })
    }

    /// The symbols of one table, in order; none if the file lacks it. The
    /// first, null symbol is left out. Entries that fall outside the file
    /// end the iteration.
    pub fn symbols(&self, table: SymbolTable) -> impl Iterator<Item = Symbol<'a>> + 'a {
        let kind = match table {
            SymbolTable::Symtab => SHT_SYMTAB,
            SymbolTable::Dynsym => SHT_DYNSYM,
        };
        let section = self.sections.iter().find(|s| s.kind == kind);
        let entries = section.and_then(|s| self.data(s)).unwrap_or_default();
        let names = section
            .and_then(|s| self.sections.get(s.link as usize))
            .and_then(|s| self.data(s))
            .unwrap_or_default();
        entries.chunks_exact(SYM_SIZE).skip(1).map_while(move |e| {
            Some(Symbol {
                name: c_string(names, u32_at(e, 0)? as usize).unwrap_or_default(),
                kind: e.get(4)? & 0xf,
                section: u16_at(e, 6)?,
                value: u64_at(e, 8)?,
                size: u64_at(e, 16)?,
            })
        })
    }
}

/// The entries of a header table at `offset`, `count` entries `entsize`
/// apart, each at least `min` bytes; `None` unless all of them lie in the
/// file.
fn table(
    bytes: &[u8],
    offset: u64,
    entsize: usize,
    count: usize,
    min: usize,
) -> Option<impl Iterator<Item = &[u8]>> {
    if count == 0 {
        // An absent table: its offset and entry size mean nothing.
        return Some(bytes[..0].chunks(min).take(0));
    }
    if entsize < min || count > MAX_HEADERS {
        return None;
    }
    let all = slice(bytes, offset, (entsize * count) as u64)?;
    Some(all.chunks(entsize).take(count))
}

/// `len` bytes of `bytes` from `offset`, if all of them are there.
fn slice(bytes: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    bytes.get(start..end)
}

/// The NUL-terminated string at `at` in a string table (up to the table's
/// end if it has no NUL).
pub(crate) fn c_string(table: &[u8], at: usize) -> Option<&[u8]> {
    let s = table.get(at..)?;
    Some(&s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())])
}

/// The descriptor of the first note in `section` with this owner name and
/// type (ELF note: namesz, descsz, type, then name and descriptor, each
/// padded to 4 bytes).
pub fn note_desc<'a>(section: &'a [u8], owner: &[u8], kind: u32) -> Option<&'a [u8]> {
    let mut rest = section.get(..section.len().min(NOTE_MAX))?;
    while rest.len() >= 12 {
        let namesz = u32_at(rest, 0)? as usize;
        let descsz = u32_at(rest, 4)? as usize;
        let ty = u32_at(rest, 8)?;
        let name_end = 12usize.checked_add(namesz)?;
        let desc_start = name_end.checked_add(3)? & !3;
        let desc_end = desc_start.checked_add(descsz)?;
        let name = rest.get(12..name_end)?;
        let desc = rest.get(desc_start..desc_end)?;
        if c_string(name, 0)? == owner && ty == kind {
            return Some(desc);
        }
        rest = rest.get(desc_end.checked_add(3)? & !3..)?;
    }
    None
}

/// The little-endian `u16` at `at`, if `b` holds it.
pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// The little-endian `u32` at `at`, if `b` holds it.
pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The little-endian `u64` at `at`, if `b` holds it.
pub(crate) fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests;
