use super::*;

#[test]
fn ringbuf_sizes() {
    assert_eq!(parse_ringbuf_size("32M"), Ok(32 << 20));
    assert_eq!(parse_ringbuf_size("64k"), Ok(64 << 10));
    assert_eq!(parse_ringbuf_size("1G"), Ok(1 << 30));
    assert!(parse_ringbuf_size("3M").is_err());
    assert!(parse_ringbuf_size("4K").is_err());
    assert!(parse_ringbuf_size("lots").is_err());
}
