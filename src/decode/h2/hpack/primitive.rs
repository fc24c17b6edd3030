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
mod tests;
