//! The subject map (`subjects`): what messages of any method say about pods
//! and containers, in any order, requests paired with responses per stream.
//!
//! Records (`Records`): ctrl bit 7 ends the call on stream `(ctrl >> 1) & 7`
//! (bit 6: with success); otherwise bit 0 says a request, and the bytes are
//! a `u16le` index into `method_paths()` then the message payload. Checks:
//! no panic, every text within `extract::MAX_TEXT`, the map within its
//! bounds.
#![no_main]

use std::sync::OnceLock;

use containerdsnoop::sizes::Sizes;
use containerdsnoop::subjects::{extract::MAX_TEXT, Subject, Subjects, MAX_CALLS, MAX_ENTRIES};
use containerdsnoop_fuzz::{method_paths, Records};
use libfuzzer_sys::fuzz_target;

fn check(s: &Subject) {
    if let Some(p) = &s.pod {
        assert!(
            p.namespace.len() <= MAX_TEXT && p.name.len() <= MAX_TEXT && p.uid.len() <= MAX_TEXT
        );
    }
    if let Some(c) = &s.container {
        assert!(c.id.len() <= MAX_TEXT);
        assert!(c.name.as_ref().is_none_or(|n| n.len() <= MAX_TEXT));
    }
    assert!(s.sandbox_id.as_ref().is_none_or(|i| i.len() <= MAX_TEXT));
}

fuzz_target!(|data: &[u8]| {
    static PATHS: OnceLock<Vec<String>> = OnceLock::new();
    let paths = PATHS.get_or_init(method_paths);
    let mut m = Subjects::new();
    for r in Records(data) {
        let stream = u32::from((r.ctrl >> 1) & 7) * 2 + 1;
        if r.ctrl & 0x80 != 0 {
            check(&m.call_end(1, stream, r.ctrl & 0x40 != 0));
            continue;
        }
        let [a, b, payload @ ..] = r.bytes else {
            continue;
        };
        let Some(path) = paths.get(usize::from(u16::from_le_bytes([*a, *b]))) else {
            continue;
        };
        check(&m.message(1, stream, path, r.ctrl & 1 != 0, payload));
    }
    let mut sizes = Sizes::default();
    m.sizes(&mut sizes);
    let n = |k| sizes.get(k).unwrap_or(0) as usize;
    assert!(n("subjects.sandboxes") + n("subjects.containers") <= MAX_ENTRIES);
    assert!(n("subjects.calls") <= MAX_CALLS);
});
