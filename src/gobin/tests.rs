use super::pclntab::{fixture, Version};
use super::*;
use crate::elf::fixture::ElfBuilder;
use crate::elf::{PF_X, SHT_DYNSYM, SHT_SYMTAB, STT_FUNC};

const TEXT: u64 = 0x40_1000;
const MAIN: &str = "main.main";
const HPACK: &str = "golang.org/x/net/http2/hpack.(*Decoder).Write";
const VENDORED: &str = "vendor/golang.org/x/net/http2/hpack.(*Decoder).Write";
const FUNCS: &[(&str, u64)] = &[
    ("runtime.text", TEXT),
    (VENDORED, TEXT + 0x40),
    (HPACK, TEXT + 0x100),
    (MAIN, TEXT + 0x180),
];

/// A Go-like executable: `.text`, the function table (in `.gopclntab`, or
/// inside `.data.rel.ro` as in an externally linked PIE), and main.main in
/// `.symtab`, the hpack decoder in `.dynsym`.
fn executable(table_section: &str) -> Vec<u8> {
    let mut elf = ElfBuilder::default();
    let text = elf.section(".text", 1, TEXT, &[0xcc; 0x200]);
    elf.load(text, PF_X | 4);
    let mut data = match table_section {
        ".data.rel.ro" => vec![0x55; 40],
        _ => Vec::new(),
    };
    data.extend(fixture::build(Version::Go120, TEXT, FUNCS));
    elf.section(table_section, 1, 0x50_0000, &data);
    elf.symbols(SHT_SYMTAB, &[(MAIN, TEXT + 0x180, STT_FUNC, text as u16)]);
    elf.symbols(SHT_DYNSYM, &[(HPACK, TEXT + 0x100, STT_FUNC, text as u16)]);
    elf.build()
}

#[test]
fn lookup_goes_symtab_dynsym_pclntab() {
    let bytes = executable(".gopclntab");
    let text_offset = Elf::parse(&bytes).unwrap().section(".text").unwrap().offset;
    let binary = GoBinary::from_bytes(bytes).unwrap();
    assert!(binary.is_go());
    for (name, source, at) in [
        (MAIN, Source::SymTab, 0x180),
        (HPACK, Source::DynSym, 0x100),
        (VENDORED, Source::Pclntab, 0x40),
    ] {
        let expected = Function {
            name: name.to_owned(),
            vaddr: TEXT + at,
            file_offset: text_offset + at,
            source,
        };
        assert_eq!(binary.function(name), Some(expected.clone()));
        let from_table = binary.function_from(name, Source::Pclntab).unwrap();
        assert_eq!(
            (from_table.vaddr, from_table.file_offset),
            (TEXT + at, text_offset + at)
        );
    }
    assert_eq!(binary.function_from(HPACK, Source::SymTab), None);
    assert_eq!(binary.function("main.mai"), None);
    assert_eq!(binary.function("http2/hpack.(*Decoder).Write"), None);
}

#[test]
fn table_inside_data_rel_ro_is_found() {
    let binary = GoBinary::from_bytes(executable(".data.rel.ro")).unwrap();
    assert_eq!(binary.pclntab().unwrap().len(), FUNCS.len());
    let vendored = binary.function(VENDORED).unwrap();
    assert_eq!(
        (vendored.vaddr, vendored.source),
        (TEXT + 0x40, Source::Pclntab)
    );
}

#[test]
fn non_go_files() {
    let mut elf = ElfBuilder::default();
    let text = elf.section(".text", 1, TEXT, &[0x90; 16]);
    elf.load(text, PF_X);
    // A function whose address no segment maps has no file offset.
    elf.symbols(SHT_SYMTAB, &[("unmapped", 0x90_0000, STT_FUNC, 1)]);
    let binary = GoBinary::from_bytes(elf.build()).unwrap();
    assert!(!binary.is_go());
    assert_eq!(binary.pclntab().unwrap_err(), PclntabError::NotFound);
    assert_eq!(binary.function("unmapped"), None);

    let err = GoBinary::from_bytes(b"#!/bin/sh\n".to_vec()).err().unwrap();
    assert_eq!(err.to_string(), "not a 64-bit little-endian ELF file");
    let err = GoBinary::open("/nonexistent/containerd").err().unwrap();
    assert!(err.to_string().contains("/nonexistent/containerd"), "{err}");
}

/// Whatever a truncated file still holds is looked up without a panic.
#[test]
fn truncated_executables_never_panic() {
    let bytes = executable(".data.rel.ro");
    for cut in (0..bytes.len()).step_by(7) {
        if let Ok(binary) = GoBinary::from_bytes(bytes[..cut].to_vec()) {
            for name in [MAIN, HPACK, VENDORED] {
                let _ = binary.function(name);
            }
        }
    }
}
