use super::*;

#[test]
fn offsets_count_consumed_and_lost_bytes() {
    let mut s = StreamBuf::default();
    s.push(b"abcdef");
    s.pos = 4;
    assert_eq!(s.unread(), 2);
    s.push(b"gh");
    assert_eq!((s.bytes(0..2), s.stream_offset(0)), (&b"ef"[..], 4));
    s.lose(10);
    s.push(b"x");
    assert_eq!(s.stream_offset(0), 18);
    assert_eq!(s.bytes(5..9), b"");
}
