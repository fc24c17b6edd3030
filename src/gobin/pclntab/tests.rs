use super::fixture::build;
use super::*;
use crate::testsupport::damaged_copies;

const TEXT: u64 = 0x40_1000;
const MAIN: &str = "main.main";
const FUNCS: &[(&str, u64)] = &[
    ("runtime.text", TEXT),
    (
        "vendor/golang.org/x/net/http2/hpack.(*Decoder).Write",
        TEXT + 0x40,
    ),
    (
        "golang.org/x/net/http2/hpack.(*Decoder).Write",
        TEXT + 0x100,
    ),
    (MAIN, TEXT + 0x180),
];

#[test]
fn every_layout_lists_its_functions() {
    for version in [Version::Go116, Version::Go118, Version::Go120] {
        let bytes = build(version, TEXT, FUNCS);
        let table = Pclntab::parse(&bytes).unwrap();
        assert_eq!(table.version(), version);
        assert_eq!(table.len(), FUNCS.len());
        let funcs: Vec<(&[u8], u64)> = table.functions().map(|f| (f.name, f.entry)).collect();
        let expected: Vec<(&[u8], u64)> = FUNCS.iter().map(|f| (f.0.as_bytes(), f.1)).collect();
        assert_eq!(funcs, expected, "{version}");
    }
}

#[test]
fn names_match_exactly() {
    let bytes = build(Version::Go120, TEXT, FUNCS);
    let table = Pclntab::parse(&bytes).unwrap();
    let entry = |name: &str| table.entry(name.as_bytes());
    assert_eq!(
        entry("golang.org/x/net/http2/hpack.(*Decoder).Write"),
        Some(TEXT + 0x100)
    );
    assert_eq!(
        entry("vendor/golang.org/x/net/http2/hpack.(*Decoder).Write"),
        Some(TEXT + 0x40)
    );
    assert_eq!(entry("golang.org/x/net/http2/hpack.(*Decoder).Wri"), None);
    assert_eq!(entry("main.mai"), None);
    assert_eq!(entry("main.main2"), None);
    assert_eq!(entry(""), None);

    let twice = build(Version::Go120, TEXT, &[(MAIN, TEXT), (MAIN, TEXT + 0x20)]);
    let twice = Pclntab::parse(&twice).unwrap();
    assert_eq!(twice.entry(MAIN.as_bytes()), None, "ambiguous");
}

#[test]
fn bad_headers_are_errors() {
    let good = build(Version::Go118, TEXT, FUNCS);
    let with = |at: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        Pclntab::parse(&b).map(|_| ()).unwrap_err()
    };
    assert_eq!(
        with(0, &0x1234_5678u32.to_le_bytes()),
        PclntabError::BadMagic(0x1234_5678)
    );
    let old = with(0, &MAGIC_GO12.to_le_bytes());
    assert_eq!(old, PclntabError::Unsupported(MAGIC_GO12));
    assert!(old.to_string().contains("unsupported pclntab version"));
    assert_eq!(with(7, &[4]), PclntabError::BadHeader("not a 64-bit table"));
    assert!(matches!(with(4, &[1]), PclntabError::BadHeader(_)));
    // nfunc so large that the function table runs past the end.
    assert!(matches!(
        with(8, &u64::MAX.to_le_bytes()),
        PclntabError::BadHeader(_)
    ));
    assert!(matches!(
        with(8, &(1u64 << 40).to_le_bytes()),
        PclntabError::BadHeader(_)
    ));
    // pclnOffset past the end, then funcnameOffset inside the header.
    assert!(matches!(
        with(64, &u64::MAX.to_le_bytes()),
        PclntabError::BadHeader(_)
    ));
    assert!(matches!(
        with(32, &8u64.to_le_bytes()),
        PclntabError::BadHeader(_)
    ));
    assert!(matches!(
        Pclntab::parse(&good[..20]),
        Err(PclntabError::BadHeader(_))
    ));
}

/// Records that point outside the table are skipped, not followed.
#[test]
fn damaged_records_are_left_out() {
    let mut bytes = build(Version::Go118, TEXT, FUNCS);
    let pcln = u64_at(&bytes, 64).unwrap() as usize;
    // The second pair's `_func` offset, then the third's name offset.
    bytes[pcln + 12..pcln + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    let third = u32_at(&bytes, pcln + 20).unwrap() as usize;
    bytes[pcln + third + 4..pcln + third + 8].copy_from_slice(&(-5i32).to_le_bytes());
    let table = Pclntab::parse(&bytes).unwrap();
    let names: Vec<&[u8]> = table.functions().map(|f| f.name).collect();
    assert_eq!(names, [&b"runtime.text"[..], b"main.main"]);
}

#[test]
fn find_skips_lookalikes() {
    let good = build(Version::Go120, TEXT, FUNCS);
    // A copy whose first `_func` names another entry: a header that parses
    // but does not agree with its records.
    let mut lookalike = good.clone();
    let pcln = u64_at(&good, 64).unwrap() as usize;
    let first = pcln + u32_at(&good, pcln + 4).unwrap() as usize;
    lookalike[first..first + 4].copy_from_slice(&7u32.to_le_bytes());
    assert!(Pclntab::parse(&lookalike).is_ok());
    let mut data = lookalike;
    data.resize(data.len().next_multiple_of(8) + 8, 0xff);
    let at = data.len();
    data.extend_from_slice(&good);
    assert_eq!(find(&data), Ok(at));
    assert_eq!(find(&data[..at]), Err(PclntabError::NotFound));
    assert_eq!(find(&data[1..]), Err(PclntabError::NotFound), "unaligned");
    let old = [0xfb, 0xff, 0xff, 0xff, 0, 0, 1, 8];
    assert_eq!(find(&old), Err(PclntabError::Unsupported(MAGIC_GO12)));
}

/// Every prefix of a table, and every byte of it set to extreme values,
/// parses or fails without a panic; whatever parses can be walked.
#[test]
fn truncated_or_hostile_tables_never_panic() {
    for version in [Version::Go116, Version::Go120] {
        let good = build(version, TEXT, FUNCS);
        let exercise = |b: &[u8]| {
            if let Ok(table) = Pclntab::parse(b) {
                let _ = table.functions().count();
                let _ = table.entry(b"main.main");
            }
            let _ = find(b);
        };
        damaged_copies(&good, exercise);
    }
}
