use super::*;

#[test]
fn fields_and_limits() {
    let mut b: &[u8] = &[0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i'];
    assert_eq!(next_field(&mut b), Some((1, Wire::Varint(150))));
    assert_eq!(next_field(&mut b), Some((2, Wire::Len(b"hi"))));
    assert!(b.is_empty());
    // A length past the end, a group, field 0, an 11-byte varint.
    assert!(!is_message(&[0x12, 0x05, b'a']));
    assert!(!is_message(&[0x0b]));
    assert!(!is_message(&[0x00, 0x01]));
    assert!(!is_message(&[
        0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
    ]));
    assert!(is_message(&[]));
}
