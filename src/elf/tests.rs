use super::fixture::ElfBuilder;
use super::*;
use crate::testsupport::damaged_copies;

const TEXT_ADDR: u64 = 0x40_1000;

/// A file with `.text` (loaded, executable), `.symtab` and `.dynsym`.
fn sample() -> Vec<u8> {
    let mut b = ElfBuilder::default();
    let text = b.section(".text", 1, TEXT_ADDR, &[0xcc; 0x40]);
    b.load(text, PF_X | 4);
    b.section(".bss", SHT_NOBITS, 0x50_0000, &[]);
    b.symbols(
        SHT_SYMTAB,
        &[
            ("main.main", TEXT_ADDR + 0x10, STT_FUNC, text as u16),
            ("main.data", 0x50_0000, 1, 2),
            ("puts", 0, STT_FUNC, 0),
        ],
    );
    b.symbols(
        SHT_DYNSYM,
        &[("main.exported", TEXT_ADDR + 0x20, STT_FUNC, 1)],
    );
    b.build()
}

#[test]
fn reads_sections_segments_and_symbols() {
    let bytes = sample();
    let elf = Elf::parse(&bytes).unwrap();
    let names: Vec<&[u8]> = elf.sections().iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            &b""[..],
            b".text",
            b".bss",
            b".strtab",
            b".symtab",
            b".dynstr",
            b".dynsym",
            b".shstrtab"
        ]
    );
    let text = elf.section(".text").unwrap();
    assert_eq!((text.kind, text.addr, text.size), (1, TEXT_ADDR, 0x40));
    assert_eq!(elf.section_data(".text"), Some(&[0xcc; 0x40][..]));
    assert_eq!(elf.section_data(".bss"), None, "NOBITS has no bytes");

    let segments = elf.load_segments();
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].vaddr, TEXT_ADDR);
    assert_eq!(segments[0].offset, text.offset);
    assert_eq!(elf.file_offset(TEXT_ADDR + 0x10), Some(text.offset + 0x10));
    assert_eq!(elf.file_offset(TEXT_ADDR + 0x40), None, "one past the end");
    assert_eq!(elf.file_offset(TEXT_ADDR - 1), None);
    assert_eq!(elf.file_offset(u64::MAX), None);

    let symtab: Vec<Symbol> = elf.symbols(SymbolTable::Symtab).collect();
    assert_eq!(symtab.len(), 3);
    assert_eq!(symtab[0].name, b"main.main");
    assert_eq!(symtab[0].value, TEXT_ADDR + 0x10);
    assert!(symtab[0].is_defined_function());
    assert!(!symtab[1].is_defined_function(), "an object");
    assert!(!symtab[2].is_defined_function(), "undefined");
    let dynsym: Vec<Symbol> = elf.symbols(SymbolTable::Dynsym).collect();
    assert_eq!(dynsym.len(), 1);
    assert_eq!(dynsym[0].name, b"main.exported");
}

#[test]
fn other_files_are_refused() {
    assert_eq!(Elf::parse(b"").unwrap_err(), ElfError::NotElf64);
    assert_eq!(Elf::parse(b"#!/bin/sh\n").unwrap_err(), ElfError::NotElf64);
    let mut elf32 = sample();
    elf32[4] = 1;
    assert_eq!(Elf::parse(&elf32).unwrap_err(), ElfError::NotElf64);
    let mut big_endian = sample();
    big_endian[5] = 2;
    assert_eq!(Elf::parse(&big_endian).unwrap_err(), ElfError::NotElf64);
}

#[test]
fn damaged_tables_are_errors() {
    let good = sample();
    let mut b = good.clone();
    b[0x3c..0x3e].copy_from_slice(&u16::MAX.to_le_bytes());
    assert_eq!(Elf::parse(&b).unwrap_err(), ElfError::BadTable("section"));
    let mut b = good.clone();
    b[0x36..0x38].copy_from_slice(&8u16.to_le_bytes());
    assert_eq!(Elf::parse(&b).unwrap_err(), ElfError::BadTable("program"));
    let mut b = good.clone();
    b[0x3e..0x40].copy_from_slice(&100u16.to_le_bytes());
    assert_eq!(Elf::parse(&b).unwrap_err(), ElfError::BadNameTable);
    let mut b = good;
    b[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(Elf::parse(&b).unwrap_err(), ElfError::BadTable("program"));
}

#[test]
fn no_section_headers_is_no_sections() {
    let mut b = sample();
    b[0x3c..0x3e].copy_from_slice(&0u16.to_le_bytes());
    let elf = Elf::parse(&b).unwrap();
    assert!(elf.sections().is_empty());
    assert_eq!(elf.symbols(SymbolTable::Symtab).count(), 0);
    assert_eq!(elf.load_segments().len(), 1);
}

/// Every prefix, and every byte set to extreme values, reads
/// without a panic; whatever parses answers every query.
#[test]
fn truncated_or_hostile_files_never_panic() {
    let good = sample();
    let exercise = |b: &[u8]| {
        if let Ok(elf) = Elf::parse(b) {
            for s in elf.sections() {
                let _ = elf.data(s);
            }
            let _ = elf.symbols(SymbolTable::Symtab).count();
            let _ = elf.symbols(SymbolTable::Dynsym).count();
            let _ = elf.file_offset(TEXT_ADDR);
        }
    };
    damaged_copies(&good, exercise);
}
