//! Go functions found in the real binaries of Debian's packages (no root):
//! containerd 1.6 (package containerd: a non-PIE with `.gopclntab`) and
//! dockerd (package docker.io: an externally linked PIE whose function
//! table lies inside `.data.rel.ro`). Neither has a `.symtab`; both export
//! every Go function in `.dynsym`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use containerdsnoop::elf::{Elf, SymbolTable};
use containerdsnoop::gobin::{Function, GoBinary, Source};

use common::require_file;

const CONTAINERD: &str = "/usr/bin/containerd";
const DOCKERD: &str = "/usr/sbin/dockerd";

/// The functions a uprobe-based HTTP/2 tracer attaches to.
const NAMES: [&str; 3] = [
    "golang.org/x/net/http2.(*Framer).readMetaFrame",
    "google.golang.org/grpc/internal/transport.(*loopyWriter).writeHeader",
    "golang.org/x/net/http2/hpack.(*Decoder).Write",
];

fn open(path: &Path) -> GoBinary {
    GoBinary::open(path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

/// Each of `NAMES`, looked up with [`GoBinary::function`].
fn resolve(binary: &GoBinary) -> Vec<Function> {
    NAMES
        .iter()
        .map(|name| {
            binary
                .function(name)
                .unwrap_or_else(|| panic!("{name} not found"))
        })
        .collect()
}

/// A copy of `src` in a temporary directory (kept while the returned guard
/// lives), stripped in place by `tool args.. copy` (`strip` and `objcopy`
/// both rewrite a lone input file).
fn stripped(src: &str, tool: &str, args: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("stripped");
    std::fs::copy(src, &copy).unwrap();
    let status = Command::new(tool)
        .args(args)
        .arg(&copy)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {tool} (apt-get install binutils): {e}"));
    assert!(
        status.success(),
        "{tool} {args:?} failed on a copy of {src}"
    );
    (dir, copy)
}

#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn containerd_functions_resolve_by_every_route() {
    require_file(CONTAINERD, "containerd");
    let start = Instant::now();
    let binary = open(Path::new(CONTAINERD));
    let opened = start.elapsed();
    let found = resolve(&binary);
    let by_symbols = start.elapsed() - opened;

    let start = Instant::now();
    let again = open(Path::new(CONTAINERD));
    let opened_again = start.elapsed();
    let from_table: Vec<Function> = NAMES
        .iter()
        .map(|name| again.function_from(name, Source::Pclntab).unwrap())
        .collect();
    let by_table = start.elapsed() - opened_again;
    eprintln!(
        "{CONTAINERD}: open {opened:?} + 3 lookups through .dynsym {by_symbols:?}; open \
         {opened_again:?} + 3 lookups through the function table {by_table:?}"
    );

    assert!(binary.is_go());
    for (f, t) in found.iter().zip(&from_table) {
        eprintln!(
            "{}: {:#x} at file offset {:#x}",
            f.name, f.vaddr, f.file_offset
        );
        assert_eq!(
            f.source,
            Source::DynSym,
            "{}: no .symtab in Debian's build",
            f.name
        );
        assert_eq!(
            (f.vaddr, f.file_offset),
            (t.vaddr, t.file_offset),
            "{}",
            f.name
        );
        // A non-PIE: text is mapped at 0x400000 plus its file offset.
        assert_eq!(f.vaddr - f.file_offset, 0x40_0000, "{}", f.name);
    }
    let vendored = binary
        .function("vendor/golang.org/x/net/http2/hpack.(*Decoder).Write")
        .unwrap();
    assert_ne!(
        vendored.vaddr, found[2].vaddr,
        "net/http's copy is another function"
    );
}

#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn stripped_containerd_resolves_the_same_addresses() {
    require_file(CONTAINERD, "containerd");
    let original = resolve(&open(Path::new(CONTAINERD)));
    for (tool, args) in [("strip", ["--strip-all"]), ("objcopy", ["--strip-all"])] {
        let (_dir, copy) = stripped(CONTAINERD, tool, &args);
        let binary = open(&copy);
        let bytes = std::fs::read(&copy).unwrap();
        assert!(Elf::parse(&bytes).unwrap().section(".symtab").is_none());
        let found = resolve(&binary);
        for (o, s) in original.iter().zip(&found) {
            assert_eq!(s.source, Source::DynSym, "{tool}: .dynsym stays");
            // Stripping drops only trailing non-loaded sections: the text
            // keeps its place in the file.
            assert_eq!((o.vaddr, o.file_offset), (s.vaddr, s.file_offset), "{tool}");
            let t = binary.function_from(&s.name, Source::Pclntab).unwrap();
            assert_eq!((t.vaddr, t.file_offset), (s.vaddr, s.file_offset), "{tool}");
        }
    }
}

#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn dockerd_table_inside_data_rel_ro_agrees_with_dynsym() {
    require_file(DOCKERD, "docker.io");
    let binary = open(Path::new(DOCKERD));
    let bytes = std::fs::read(DOCKERD).unwrap();
    let elf = Elf::parse(&bytes).unwrap();
    assert!(
        elf.section(".gopclntab").is_none(),
        "the table has no section of its own"
    );
    for f in resolve(&binary) {
        let t = binary.function_from(&f.name, Source::Pclntab).unwrap();
        assert_eq!(
            (f.vaddr, f.file_offset),
            (t.vaddr, t.file_offset),
            "{}",
            f.name
        );
        eprintln!(
            "{}: {:#x} at file offset {:#x}",
            f.name, f.vaddr, f.file_offset
        );
    }
}

/// Every function named once in the function table and also in `.dynsym`
/// has the same address in both: the table is read right, whole. Names
/// listed more than once (ABI wrappers, generic shapes) are not found in
/// the table.
#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn function_table_agrees_with_dynsym_everywhere() {
    for (path, package) in [(CONTAINERD, "containerd"), (DOCKERD, "docker.io")] {
        require_file(path, package);
        let bytes = std::fs::read(path).unwrap();
        let binary = GoBinary::from_bytes(bytes.clone()).unwrap();
        let table = binary.pclntab().unwrap();
        let mut entries: HashMap<&[u8], Vec<u64>> = HashMap::new();
        for f in table.functions() {
            entries.entry(f.name).or_default().push(f.entry);
        }
        let listed: usize = entries.values().map(Vec::len).sum();
        assert_eq!(listed, table.len(), "{path}: every record readable");
        let ambiguous: Vec<&[u8]> = entries
            .iter()
            .filter(|(_, e)| e.len() > 1)
            .map(|(name, _)| *name)
            .collect();
        for name in &ambiguous {
            assert_eq!(table.entry(name), None);
        }

        let elf = Elf::parse(&bytes).unwrap();
        let (mut same, mut only_dynsym) = (0, 0);
        for s in elf.symbols(SymbolTable::Dynsym) {
            if !s.is_defined_function() {
                continue;
            }
            match entries.get(s.name).map(Vec::as_slice) {
                Some(&[entry]) => {
                    let name = String::from_utf8_lossy(s.name);
                    assert_eq!(entry, s.value, "{path}: {name}");
                    same += 1;
                }
                Some(_) => {}
                None => only_dynsym += 1,
            }
        }
        eprintln!(
            "{path}: {} functions in a {} table, {} names listed more than once; {same} \
             also in .dynsym at the same address, {only_dynsym} only in .dynsym",
            table.len(),
            table.version(),
            ambiguous.len()
        );
        assert!(same > table.len() / 2, "{path}: too few names in common");
    }
}

#[test]
#[ignore = "needs Debian's containerd and docker.io binaries: run with --include-ignored (scripts/test.sh does)"]
fn several_names_at_once_resolve_as_one_by_one() {
    require_file(CONTAINERD, "containerd");
    let bin = open(Path::new(CONTAINERD));
    let mut names = NAMES.to_vec();
    names.push("no.such.function");
    let at_once = bin.functions(&names);
    let one_by_one: Vec<Option<Function>> = names.iter().map(|n| bin.function(n)).collect();
    assert_eq!(at_once, one_by_one);
    assert!(at_once[..NAMES.len()].iter().all(Option::is_some));
    assert_eq!(at_once[NAMES.len()], None);
}
