//! Finding descriptors in a binary: gzip members, raw descriptors, copies.

use super::*;

#[test]
fn gzip_member_is_found_where_it_is() {
    let f = file("a/b.proto", "a.b", |_| {});
    let member = gzip(&f.encode_to_vec());
    let mut bytes = noise(1000, 7);
    bytes.extend_from_slice(&[0x1f, 0x8b, 0x08, 0, 0]);
    let at = bytes.len();
    bytes.extend_from_slice(&member);
    bytes.extend(noise(500, 8));
    let got = scan(&bytes, &ScanLimits::default());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].file, f);
    assert_eq!(
        (got[0].form, got[0].offset, got[0].len),
        (Form::Gzip, at, member.len())
    );
}

#[test]
fn raw_descriptors_are_delimited_exactly() {
    let a = file("a.proto", "a", |_| {});
    let b = file("dir/b.proto", "b", |f| {
        f.dependency = vec!["a.proto".into()]
    });
    let (ra, rb) = (a.encode_to_vec(), b.encode_to_vec());
    let mut bytes = noise(300, 1);
    let at = bytes.len();
    // Back to back, as in a data section, then zeros.
    bytes.extend_from_slice(&ra);
    bytes.extend_from_slice(&rb);
    bytes.extend_from_slice(&[0; 16]);
    let got = scan(&bytes, &ScanLimits::default());
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].form, got[0].offset, got[0].len),
        (Form::Raw, at, ra.len())
    );
    assert_eq!((got[1].offset, got[1].len), (at + ra.len(), rb.len()));
    assert_eq!((&got[0].file, &got[1].file), (&a, &b));
}

#[test]
fn a_bare_name_is_not_a_descriptor() {
    let bytes = b"\x0a\x07a.proto\x00\x00\x0a\x07b.proto\x1a\x01";
    assert!(scan(bytes, &ScanLimits::default()).is_empty());
}

#[test]
fn identical_copies_are_counted_once() {
    let f = file("x.proto", "x", |_| {});
    let raw = f.encode_to_vec();
    let member = gzip(&raw);
    let mut bytes = member.clone();
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&member);
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&raw);
    bytes.extend_from_slice(&[0; 8]);
    let s = scan_detailed(&bytes, &ScanLimits::default());
    assert_eq!(s.found.len(), 1);
    assert_eq!((s.found[0].offset, s.found[0].copies), (0, 2));
    assert_eq!(s.stats.duplicates, 2);
    assert_eq!((s.stats.gzip_descriptors, s.stats.raw_descriptors), (2, 1));
}
