//! Support for the tests (unit tests, `tests/`, the fuzz crate's seed
//! generator): one deterministic generator and one HTTP/2 + HPACK + gRPC
//! encoder, instead of a copy in each test file. Built with `cfg(test)` or
//! the `test-support` feature, never into the shipped binary.

pub mod decoders;
pub mod flow;
pub mod h2;
mod rng;
pub mod ttrpc;

pub use rng::Rng;

/// Bytes from hex digits; whitespace is ignored.
///
/// # Panics
///
/// On a character that is not a hex digit (test input only).
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("ASCII"), 16).expect("hex"))
        .collect()
}

/// Calls `check` on every prefix of `good`, then on copies of it with one
/// byte set to 0x00, 0x01, 0x7f, 0x80 or 0xff: the truncated and damaged
/// inputs a parser must survive without a panic.
pub fn damaged_copies(good: &[u8], mut check: impl FnMut(&[u8])) {
    for cut in 0..good.len() {
        check(&good[..cut]);
    }
    let mut b = good.to_vec();
    for at in 0..good.len() {
        for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            b[at] = value;
            check(&b);
        }
        b[at] = good[at];
    }
}
