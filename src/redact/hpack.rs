//! Header values overwritten in place. A raw literal is overwritten with
//! [`FILL`](super::FILL) bytes. A Huffman-coded one (RFC 7541 section 5.2)
//! gets, symbol for symbol, a stand-in whose code is exactly as long: the
//! octets still decode, to as many symbols, so both the encoded length and
//! the decoded one (which counts in the dynamic table's size, section 4.1)
//! stay as they were, and every later index still points where it did.

use httlib_huffman::encoder::table::ENCODE_TABLE;

/// Header names whose values are secret beyond the field-name rule of
/// [`is_secret_name`](crate::protobuf::is_secret_name).
const SECRET_HEADERS: [&str; 3] = ["proxy-authorization", "cookie", "set-cookie"];

/// Whether a header named `name` carries a secret.
pub fn is_secret_header(name: &[u8]) -> bool {
    let name = String::from_utf8_lossy(name);
    crate::protobuf::is_secret_name(&name) || SECRET_HEADERS.contains(&name.as_ref())
}

/// Stand-ins, by preference: `x`, then letters, digits, other printable
/// characters, anything.
fn candidates() -> impl Iterator<Item = u8> {
    std::iter::once(b'x')
        .chain(b'a'..=b'z')
        .chain(b'0'..=b'9')
        .chain(b'A'..=b'Z')
        .chain(0x21..=0x7e)
        .chain(0..=255)
}

/// The stand-in for a symbol whose code has `bits` bits.
fn stand_in(bits: u8) -> Option<u8> {
    candidates().find(|&c| ENCODE_TABLE[usize::from(c)].0 == bits)
}

/// The octets to write over `octets`, the Huffman coding of `value`: a
/// coding as long of as many symbols. `None` if `octets` is not the
/// coding of `value` this encoder would write (a peer that padded
/// differently), which the caller must then overwrite otherwise.
pub fn huffman_mask(value: &[u8], octets: usize) -> Option<Vec<u8>> {
    let masked: Vec<u8> = value
        .iter()
        .map(|&b| stand_in(ENCODE_TABLE[usize::from(b)].0))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(octets);
    httlib_huffman::encode(&masked, &mut out).ok()?;
    (out.len() == octets).then_some(out)
}

#[cfg(test)]
mod tests;
