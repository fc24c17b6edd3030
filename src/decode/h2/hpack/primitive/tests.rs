use super::*;

fn int(bytes: &[u8], prefix: u8) -> Result<(u64, usize), Error> {
    let mut pos = 0;
    integer(bytes, &mut pos, prefix).map(|v| (v, pos))
}

#[test]
fn integers_of_rfc7541_c1() {
    // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with 5 bits; C.1.3: 42 with 8 bits.
    assert_eq!(int(&[0b1110_1010], 5), Ok((10, 1)));
    assert_eq!(
        int(&[0b0001_1111, 0b1001_1010, 0b0000_1010], 5),
        Ok((1337, 3))
    );
    assert_eq!(int(&[42], 8), Ok((42, 1)));
    // Prefix exactly full: value 31 needs a zero continuation octet.
    assert_eq!(int(&[0x1f, 0x00], 5), Ok((31, 2)));
}

#[test]
fn integer_limits() {
    assert_eq!(int(&[0x1f], 5), Err(Error::Truncated));
    assert_eq!(int(&[0x1f, 0x80], 5), Err(Error::Truncated));
    assert_eq!(int(&[], 5), Err(Error::Truncated));
    assert_eq!(
        int(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f], 7),
        Err(Error::IntegerOverflow)
    );
    assert_eq!(
        int(&[0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 7),
        Err(Error::IntegerOverflow)
    );
    // u32::MAX itself is fine: 127 + 0xffff_ff80.
    assert_eq!(
        int(&[0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f], 7),
        Ok((u64::from(u32::MAX), 6))
    );
}

#[test]
fn strings_raw_and_huffman() {
    let mut pos = 0;
    assert_eq!(string(b"\x03abcX", &mut pos).unwrap(), b"abc");
    assert_eq!(pos, 4);
    // RFC 7541 C.4.1: "www.example.com" Huffman coded.
    let h = [
        0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
    ];
    let mut pos = 0;
    assert_eq!(string(&h, &mut pos).unwrap(), b"www.example.com");
    assert_eq!(pos, h.len());
    let mut pos = 0;
    assert_eq!(string(b"\x05abc", &mut pos), Err(Error::Truncated));
    // EOS-only padding longer than 7 bits is invalid (section 5.2).
    assert_eq!(string(&[0x81, 0xff], &mut 0), Err(Error::Huffman));
}

#[test]
fn huffman_never_panics_on_short_inputs() {
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            let _ = string(&[0x82, a, b], &mut 0);
        }
    }
    let mut x = 0x9e37_79b9u32;
    for len in 0..200usize {
        let mut buf = vec![0x80 | len.min(127) as u8];
        for _ in 0..len.min(127) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf.push(x as u8);
        }
        let _ = string(&buf, &mut 0);
    }
}
