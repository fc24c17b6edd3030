//! The protobuf wire format, one field at a time: a pure, bounded reader
//! shared by the schema-less decoder, the secret finder and the ttrpc
//! envelope parser (`decode::ttrpc`), which must not depend on a
//! descriptor pool to find a call's method.
//!
//! Wire types, per the encoding guide
//! (<https://protobuf.dev/programming-guides/encoding/>): 0 varint,
//! 1 64-bit, 2 length-delimited, 5 32-bit. Groups (3 and 4) are deprecated
//! and unused by proto3, so a payload holding them is not read.

/// Largest field number (2^29 - 1, language guide "Assigning Field Numbers").
const MAX_FIELD: u64 = (1 << 29) - 1;

/// One field's value as the wire gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1, little-endian.
    Fixed64(u64),
    /// Wire type 5, little-endian.
    Fixed32(u32),
    /// Wire type 2: the value's bytes (string, bytes or a nested message).
    Len(&'a [u8]),
}

/// Reads a base-128 varint: at most 10 bytes, the tenth holding one bit.
fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        if i == 9 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

fn take<const N: usize>(buf: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = buf.split_first_chunk::<N>()?;
    *buf = rest;
    Some(*head)
}

/// Reads one field from the front of `buf`; `None` if the bytes there are
/// not a valid field (buf is then left anywhere).
pub fn next_field<'a>(buf: &mut &'a [u8]) -> Option<(u32, Wire<'a>)> {
    let key = varint(buf)?;
    let number = key >> 3;
    if number == 0 || number > MAX_FIELD {
        return None;
    }
    let wire = match key & 7 {
        0 => Wire::Varint(varint(buf)?),
        1 => Wire::Fixed64(u64::from_le_bytes(take(buf)?)),
        2 => {
            let len = usize::try_from(varint(buf)?).ok()?;
            let (value, rest) = buf.split_at_checked(len)?;
            *buf = rest;
            Wire::Len(value)
        }
        5 => Wire::Fixed32(u32::from_le_bytes(take(buf)?)),
        _ => return None,
    };
    // MAX_FIELD < 2^32, checked above.
    Some((number as u32, wire))
}

/// True if all of `b` parses as fields (one level; nested values are not
/// looked into). The empty message is valid.
pub fn is_message(b: &[u8]) -> bool {
    let mut rest = b;
    while !rest.is_empty() {
        if next_field(&mut rest).is_none() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests;
