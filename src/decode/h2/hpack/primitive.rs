//! HPACK primitive types: prefixed integers (RFC 7541 section 5.1) and string
//! literals (section 5.2), Huffman decoding by the `httlib-huffman` crate.

use std::ops::Range;

use super::Error;

/// Integers above this are treated as a decoding error: no length, index or
/// table size this decoder accepts comes near it (section 5.1 allows limits).
const MAX_INT: u64 = u32::MAX as u64;
/// Continuation octets accepted after the prefix (5 * 7 bits > 32 bits).
const MAX_CONT: usize = 5;

/// Reads an integer whose prefix is the low `prefix` bits of `buf[*pos]`
/// (RFC 7541 section 5.1) and advances `pos` past it.
pub fn integer(buf: &[u8], pos: &mut usize, prefix: u8) -> Result<u64, Error> {
    let mask = ((1u16 << prefix) - 1) as u8;
    let first = *buf.get(*pos).ok_or(Error::Truncated)?;
    let mut i = *pos + 1;
    let mut value = u64::from(first & mask);
    if value == u64::from(mask) {
        let mut shift = 0u32;
        loop {
            if i - *pos > MAX_CONT {
                return Err(Error::IntegerOverflow);
            }
            let b = *buf.get(i).ok_or(Error::Truncated)?;
            i += 1;
            value += u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        if value > MAX_INT {
            return Err(Error::IntegerOverflow);
        }
    }
    *pos = i;
    Ok(value)
}

/// Reads a string literal at `buf[*pos]` (RFC 7541 section 5.2): H bit, 7-bit
/// prefixed length, then raw or Huffman-coded octets.
pub fn string(buf: &[u8], pos: &mut usize) -> Result<Vec<u8>, Error> {
    string_at(buf, pos).map(|(s, _, _)| s)
}

/// [`string`], also giving where its octets lie in `buf` (after the length)
/// and whether they are Huffman-coded.
pub fn string_at(buf: &[u8], pos: &mut usize) -> Result<(Vec<u8>, Range<usize>, bool), Error> {
    let first = *buf.get(*pos).ok_or(Error::Truncated)?;
    let huffman = first & 0x80 != 0;
    let mut i = *pos;
    let len = integer(buf, &mut i, 7)?;
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| i.checked_add(l))
        .filter(|&e| e <= buf.len())
        .ok_or(Error::Truncated)?;
    let raw = &buf[i..end];
    let out = if huffman {
        // Shortest code is 5 bits, so output is at most 8/5 of the input.
        let mut dst = Vec::with_capacity(raw.len() * 8 / 5 + 1);
        httlib_huffman::decode(raw, &mut dst, httlib_huffman::DecoderSpeed::FourBits)
            .map_err(|_| Error::Huffman)?;
        dst
    } else {
        raw.to_vec()
    };
    *pos = end;
    Ok((out, i..end, huffman))
}

/// Appends `v` as an RFC 7541 section 5.1 integer with a `prefix`-bit
/// prefix, OR-ed into the flag bits of `first`.
pub fn encode_integer(out: &mut Vec<u8>, first: u8, prefix: u8, mut v: usize) {
    let max = (1usize << prefix) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// Appends `s` as an RFC 7541 section 5.2 string literal, not Huffman-coded.
pub fn encode_plain_string(out: &mut Vec<u8>, s: &[u8]) {
    encode_integer(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
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
}
