//! One HTTP/2 frame: a 9-byte header and the payload, through `frame::load`.
//! The header's length is set to the payload's so that parsing goes past
//! the length check (a mismatch is one comparison).
#![no_main]

use containerdsnoop::decode::h2::frame::{self, Frame, Head, HEAD_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(mut head) = Head::parse_prefix(data) else {
        return;
    };
    let payload = &data[HEAD_LEN..];
    // A byte of the header's length field chooses to keep a mismatch.
    if data[0] != 0xff {
        head.length = payload.len().min(frame::MAX_MAX_FRAME_SIZE as usize) as u32;
    }
    let payload = &payload[..payload.len().min(head.length as usize)];
    if let Ok(f) = frame::load(&head, payload) {
        if let Frame::Settings(s) = &f {
            for (id, value) in s.iter() {
                std::hint::black_box((id, value, s.get(id)));
            }
        }
        std::hint::black_box(format!("{f:?}"));
    }
});
