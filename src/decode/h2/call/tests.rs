use super::*;

#[test]
fn grpc_timeouts() {
    assert_eq!(timeout_ns(b"1999945u"), Some(1_999_945_000));
    assert_eq!(timeout_ns(b"2S"), Some(2_000_000_000));
    assert_eq!(timeout_ns(b"99999999H"), Some(u64::MAX));
    assert_eq!(timeout_ns(b"5000H"), Some(5000 * 3_600_000_000_000));
    for bad in [&b""[..], b"S", b"123456789S", b"1x", b"-1S"] {
        assert_eq!(timeout_ns(bad), None);
    }
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode(b"a%20b%zz%"), "a b%zz%");
    assert_eq!(percent_decode(b"caf%C3%A9"), "café");
}

#[test]
fn path_needs_known_name_and_value() {
    let f = |n: Octets, v: Octets| vec![HeaderField { name: n, value: v }];
    let k = |s: &str| Octets::Known(s.as_bytes().to_vec());
    assert_eq!(
        path_of(Some(&f(k(":path"), k("/a/B")))),
        PathInfo::Known("/a/B".into())
    );
    assert_eq!(
        path_of(Some(&f(k(":path"), Octets::Unknown))),
        PathInfo::Unknown
    );
    assert_eq!(
        path_of(Some(&f(Octets::Unknown, k("/a/B")))),
        PathInfo::Unknown
    );
    assert_eq!(path_of(None), PathInfo::Unknown);
    assert_eq!(
        encoding_of(Some(&f(Octets::Unknown, k("gzip")))),
        Encoding::Unknown
    );
    assert_eq!(
        encoding_of(Some(&f(k("grpc-encoding"), k("gzip")))),
        Encoding::Gzip
    );
    assert_eq!(encoding_of(Some(&[])), Encoding::Identity);
}
