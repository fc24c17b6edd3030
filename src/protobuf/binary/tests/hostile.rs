//! Garbage, damaged and hostile bytes, deep nesting, and the scan's budgets.

use super::*;

#[test]
fn garbage_finds_nothing() {
    for seed in 1..20 {
        assert!(scan(&noise(64 << 10, seed), &ScanLimits::default()).is_empty());
    }
}

#[test]
fn truncated_and_corrupt_members_are_skipped() {
    let f = file("t.proto", "t", |_| {});
    let member = gzip(&f.encode_to_vec());
    for cut in 0..member.len() {
        let got = scan(&member[..cut], &ScanLimits::default());
        assert!(got.is_empty(), "a member cut at {cut} of {}", member.len());
    }
    assert_eq!(scan(&member, &ScanLimits::default()).len(), 1);
    // A wrong CRC-32 in the trailer.
    let mut bad = member.clone();
    let crc_at = bad.len() - 8;
    bad[crc_at] ^= 1;
    assert!(scan(&bad, &ScanLimits::default()).is_empty());
    // Every prefix of a raw descriptor followed by zeros, for panics only.
    let raw = f.encode_to_vec();
    for cut in 0..raw.len() {
        let mut b = raw[..cut].to_vec();
        b.extend_from_slice(&[0; 4]);
        let _ = scan(&b, &ScanLimits::default());
    }
}

#[test]
fn hostile_repetitions_are_cheap() {
    let magic: Vec<u8> = [0x1f, 0x8b, 0x08].repeat(1 << 20);
    let names: Vec<u8> = b"\x0a\x07a.proto".repeat(300_000);
    // A valid empty deflate stream of stored blocks that never ends.
    let mut stored = vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
    stored.extend([0x00, 0x00, 0x00, 0xff, 0xff].repeat(600_000));
    // Their cost is held by the scan's work budgets (`gzip_work`,
    // `raw_work`), not checked here by the clock: a timed test fails on a
    // loaded machine, not on a slow scan.
    for bytes in [magic, names, stored] {
        assert!(scan(&bytes, &ScanLimits::default()).is_empty());
    }
}

#[test]
fn deep_nesting_is_refused() {
    let mut m = message("Leaf", vec![]);
    for i in 0..200 {
        m = DescriptorProto {
            name: Some(format!("N{i}")),
            nested_type: vec![m],
            ..Default::default()
        };
    }
    let f = file("deep.proto", "deep", |f| f.message_type = vec![m]);
    let mut bytes = gzip(&f.encode_to_vec());
    bytes.extend(f.encode_to_vec());
    let got = scan(&bytes, &ScanLimits::default());
    assert!(got.is_empty(), "prost's recursion limit refuses it");
}

#[test]
fn spent_budgets_are_reported() {
    let f = file("b.proto", "b", |_| {});
    let mut bytes = gzip(&f.encode_to_vec());
    bytes.extend(f.encode_to_vec());
    let limits = ScanLimits {
        gzip_work: 10,
        raw_work: 10,
        ..ScanLimits::default()
    };
    let s = scan_detailed(&bytes, &limits);
    assert!(s.found.is_empty());
    assert_eq!(s.stats.limits_hit.len(), 2, "{:?}", s.stats.limits_hit);
    let one = ScanLimits {
        max_files: 1,
        ..ScanLimits::default()
    };
    let mut two = gzip(&f.encode_to_vec());
    two.extend(gzip(&file("c.proto", "c", |_| {}).encode_to_vec()));
    let s = scan_detailed(&two, &one);
    assert_eq!((s.found.len(), s.stats.limits_hit.len()), (1, 1));
}
