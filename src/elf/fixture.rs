//! Small ELF files built in tests: sections with given bytes, `PT_LOAD`
//! segments and symbol tables, laid out one after another.

use super::{SHT_DYNSYM, SHT_SYMTAB};

/// Section type of a string table (`SHT_STRTAB`).
const SHT_STRTAB: u32 = 3;

/// A section to write: name, type, address, bytes, link.
struct Part {
    name: String,
    kind: u32,
    addr: u64,
    data: Vec<u8>,
    link: u32,
}

/// Builds a 64-bit little-endian ELF file.
#[derive(Default)]
pub(crate) struct ElfBuilder {
    sections: Vec<Part>,
    /// (section index, flags) of each `PT_LOAD` segment.
    segments: Vec<(u32, u32)>,
}

impl ElfBuilder {
    /// Adds a section; returns its index (the null section is 0).
    pub(crate) fn section(&mut self, name: &str, kind: u32, addr: u64, data: &[u8]) -> u32 {
        self.sections.push(Part {
            name: name.to_owned(),
            kind,
            addr,
            data: data.to_vec(),
            link: 0,
        });
        self.sections.len() as u32
    }

    /// Adds a `PT_LOAD` segment that maps exactly the bytes of section
    /// `index` at its address.
    pub(crate) fn load(&mut self, index: u32, flags: u32) {
        self.segments.push((index, flags));
    }

    /// Adds `.symtab` or `.dynsym` (by `kind`) with its string table; each
    /// symbol is (name, value, type, section index).
    pub(crate) fn symbols(&mut self, kind: u32, symbols: &[(&str, u64, u8, u16)]) {
        let (table, strings) = match kind {
            SHT_SYMTAB => (".symtab", ".strtab"),
            SHT_DYNSYM => (".dynsym", ".dynstr"),
            _ => panic!("not a symbol table type: {kind}"),
        };
        let mut names = vec![0u8];
        let mut entries = vec![0u8; 24];
        for (name, value, ty, shndx) in symbols {
            entries.extend((names.len() as u32).to_le_bytes());
            entries.extend([*ty, 0]);
            entries.extend(shndx.to_le_bytes());
            entries.extend(value.to_le_bytes());
            entries.extend(16u64.to_le_bytes());
            names.extend_from_slice(name.as_bytes());
            names.push(0);
        }
        let link = self.section(strings, SHT_STRTAB, 0, &names);
        self.section(table, kind, 0, &entries);
        self.sections.last_mut().unwrap().link = link;
    }

    /// The file: header, program headers, section bytes, section name
    /// table, section headers.
    pub(crate) fn build(mut self) -> Vec<u8> {
        let mut shstrtab = vec![0u8];
        for part in &self.sections {
            shstrtab.extend_from_slice(part.name.as_bytes());
            shstrtab.push(0);
        }
        let shstrndx = self.section(".shstrtab", SHT_STRTAB, 0, &[]);
        shstrtab.extend_from_slice(b".shstrtab\0");
        self.sections.last_mut().unwrap().data = shstrtab;

        let mut b = vec![0u8; 64];
        b[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
        let phoff = b.len();
        b.resize(phoff + 56 * self.segments.len(), 0);
        let mut headers = vec![[0u8; 64]];
        let mut name = 1u32;
        for part in &self.sections {
            b.resize(b.len().next_multiple_of(8), 0);
            let mut h = [0u8; 64];
            h[0..4].copy_from_slice(&name.to_le_bytes());
            h[4..8].copy_from_slice(&part.kind.to_le_bytes());
            h[16..24].copy_from_slice(&part.addr.to_le_bytes());
            h[24..32].copy_from_slice(&(b.len() as u64).to_le_bytes());
            h[32..40].copy_from_slice(&(part.data.len() as u64).to_le_bytes());
            h[40..44].copy_from_slice(&part.link.to_le_bytes());
            headers.push(h);
            name += part.name.len() as u32 + 1;
            b.extend_from_slice(&part.data);
        }
        for (i, &(index, flags)) in self.segments.iter().enumerate() {
            let section = &headers[index as usize];
            let h = &mut b[phoff + 56 * i..][..56];
            h[0..4].copy_from_slice(&1u32.to_le_bytes());
            h[4..8].copy_from_slice(&flags.to_le_bytes());
            h[8..16].copy_from_slice(&section[24..32]);
            h[16..24].copy_from_slice(&section[16..24]);
            h[32..40].copy_from_slice(&section[32..40]);
            h[40..48].copy_from_slice(&section[32..40]);
        }
        b.resize(b.len().next_multiple_of(8), 0);
        let shoff = b.len();
        b.extend(headers.concat());
        b[0x20..0x28].copy_from_slice(&(phoff as u64).to_le_bytes());
        b[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(self.segments.len() as u16).to_le_bytes());
        b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        b[0x3c..0x3e].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        b[0x3e..0x40].copy_from_slice(&(shstrndx as u16).to_le_bytes());
        b
    }
}
