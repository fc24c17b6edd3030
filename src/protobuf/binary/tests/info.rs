//! Build information: Go's buildinfo and the ELF build ids.

use super::*;
use crate::elf::fixture::ElfBuilder;
use crate::protobuf::binary::info::BinaryInfo;

/// Go's build information framing around the module text.
const MOD_START: &[u8] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
const MOD_END: &[u8] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";

fn buildinfo(flags: u8, version: &str, modinfo: &str) -> Vec<u8> {
    buildinfo_at(80, flags, version, modinfo)
}

/// The build information after `at` bytes of noise.
fn buildinfo_at(at: usize, flags: u8, version: &str, modinfo: &str) -> Vec<u8> {
    let mut b = noise(at, 3);
    b.extend_from_slice(b"\xff Go buildinf:");
    b.extend_from_slice(&[8, flags]);
    b.extend_from_slice(&[0; 16]);
    b.push(version.len() as u8);
    b.extend_from_slice(version.as_bytes());
    let mut m = MOD_START.to_vec();
    m.extend_from_slice(modinfo.as_bytes());
    m.extend_from_slice(MOD_END);
    let mut len = m.len();
    while len >= 0x80 {
        b.push(len as u8 | 0x80);
        len >>= 7;
    }
    b.push(len as u8);
    b.extend(m);
    b
}

#[test]
fn go_build_information_is_read() {
    let modinfo = "path\texample.com/cmd/d\n\
        mod\texample.com\tv1.2.3\th1:abc=\n\
        dep\tgithub.com/gogo/protobuf\tv1.3.2\th1:x=\n\
        =>\tgithub.com/x/protobuf\tv1.3.3\th1:y=\n\
        build\t-ldflags=\"-w -X example.com/version.Version=1.2.3+ds\"\n\
        build\tGOARCH=amd64\n";
    let info = BinaryInfo::parse(&buildinfo(2, "go1.22.1", modinfo));
    assert!(!info.elf);
    assert_eq!(info.go_version.as_deref(), Some("go1.22.1"));
    assert_eq!(info.path.as_deref(), Some("example.com/cmd/d"));
    let main = info.main_module.as_ref().unwrap();
    assert_eq!(
        (main.path.as_str(), main.version.as_str()),
        ("example.com", "v1.2.3")
    );
    assert_eq!(info.deps.len(), 1);
    let replaced = info.deps[0].replaced_by.as_ref().unwrap();
    assert_eq!(replaced.path, "github.com/x/protobuf");
    assert_eq!(info.settings[1], ("GOARCH".to_owned(), "amd64".to_owned()));
    assert_eq!(info.ldflags_version().as_deref(), Some("1.2.3+ds"));

    // The magic off the linker's 16-byte alignment is data, not the header
    // (our own binary holds it as a constant).
    let unaligned = BinaryInfo::parse(&buildinfo_at(77, 2, "go1.22.1", modinfo));
    assert_eq!(
        (unaligned.buildinfo_form, unaligned.go_version),
        (None, None)
    );

    let old = BinaryInfo::parse(&buildinfo(0, "go1.16", ""));
    assert_eq!(
        (old.buildinfo_form, old.go_version),
        (Some("pointers"), None)
    );
    assert_eq!(BinaryInfo::parse(&noise(4096, 5)), BinaryInfo::default());
    // Cut anywhere: never a panic.
    let whole = buildinfo(2, "go1.22.1", modinfo);
    for cut in 0..whole.len() {
        let _ = BinaryInfo::parse(&whole[..cut]);
    }
}

/// A 64-bit little-endian ELF file with only these note sections and the
/// section name table.
fn tiny_elf(notes: &[(&str, &[u8], u32, &[u8])]) -> Vec<u8> {
    let pad = |v: &mut Vec<u8>| v.resize(v.len().next_multiple_of(4), 0);
    let mut elf = ElfBuilder::default();
    for (section, owner, kind, desc) in notes {
        let mut note = Vec::new();
        note.extend((owner.len() as u32 + 1).to_le_bytes());
        note.extend((desc.len() as u32).to_le_bytes());
        note.extend(kind.to_le_bytes());
        note.extend_from_slice(owner);
        note.push(0);
        pad(&mut note);
        note.extend_from_slice(desc);
        pad(&mut note);
        elf.section(section, 7, 0, &note);
    }
    elf.build()
}

#[test]
fn elf_build_ids_are_read() {
    let elf = tiny_elf(&[
        (".note.go.buildid", b"Go\0", 4, b"abc/def"),
        (".note.gnu.build-id", b"GNU", 3, &[0xde, 0xad, 0xbe, 0xef]),
    ]);
    let info = BinaryInfo::parse(&elf);
    assert!(info.elf);
    assert_eq!(info.go_build_id.as_deref(), Some("abc/def"));
    assert_eq!(info.gnu_build_id.as_deref(), Some("deadbeef"));
    for cut in 0..elf.len() {
        let _ = BinaryInfo::parse(&elf[..cut]);
    }
}
