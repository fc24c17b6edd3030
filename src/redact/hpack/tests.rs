use super::*;
use httlib_huffman::{decode, encode, DecoderSpeed};

#[test]
fn masks_keep_both_lengths() {
    for value in [
        &b"Bearer hunter2"[..],
        b"Basic dTpodW50ZXIy",
        b"",
        b"\x00\xff\x7f<\\>{}|~",
        "caf\u{e9}".as_bytes(),
    ] {
        let mut octets = Vec::new();
        encode(value, &mut octets).unwrap();
        let mask = huffman_mask(value, octets.len()).unwrap();
        assert_eq!(mask.len(), octets.len());
        let mut decoded = Vec::new();
        decode(&mask, &mut decoded, DecoderSpeed::FourBits).unwrap();
        assert_eq!(decoded.len(), value.len());
        assert!(value.is_empty() || decoded != value, "{value:?}");
    }
    // t, o, e: 5 bits; k: 7; n: 6.
    let mut octets = Vec::new();
    encode(b"token", &mut octets).unwrap();
    let mask = huffman_mask(b"token", octets.len()).unwrap();
    let mut d = Vec::new();
    decode(&mask, &mut d, DecoderSpeed::FourBits).unwrap();
    assert_eq!(d, b"aaxab");
    assert_eq!(huffman_mask(b"token", octets.len() + 1), None);
}

#[test]
fn secret_headers() {
    for name in [
        "authorization",
        "proxy-authorization",
        "x-auth-token",
        "cookie",
    ] {
        assert!(is_secret_header(name.as_bytes()), "{name}");
    }
    for name in [
        ":path",
        "content-type",
        "user-agent",
        "containerd-namespace",
    ] {
        assert!(!is_secret_header(name.as_bytes()), "{name}");
    }
}
