//! The packet comments of our pcapng files as the offline reader meets
//! them (`pcapng::comment`: writers, connection openings, gaps, seeds,
//! schema notes, and the escaped `key=value` lists under them), with their
//! promise that what parses is written back to the same thing.
//!
//! The whole input is one comment (lossily UTF-8, as a comment option is
//! text); its bytes also go through the escaping as a value, which must
//! read back exactly.
#![no_main]

use containerdsnoop::flow::Conn;
use containerdsnoop::pcapng::comment::{self, fields};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    if let Some(w) = comment::parse_writer(text) {
        let again = comment::writer(&w).expect("a parsed writer has a pid");
        assert_eq!(
            comment::parse_writer(&again),
            Some(w),
            "{text:?} -> {again:?}"
        );
    }
    if let Some(o) = comment::parse_opening(text) {
        let conn = Conn {
            id: o.id,
            path: o.path.clone(),
            client: o.client,
            server: o.server,
            first_ns: 0,
        };
        let again = comment::opening(&conn);
        assert_eq!(
            comment::parse_opening(&again),
            Some(o),
            "{text:?} -> {again:?}"
        );
    }
    if let Ok(f) = fields::Fields::parse(text) {
        let again = f.to_text();
        assert_eq!(fields::Fields::parse(&again).as_ref(), Ok(&f), "{text:?}");
    }
    std::hint::black_box((
        comment::parse_lost(text),
        comment::parse_seed(text),
        comment::parse_schemas(text),
        comment::is_synthetic_preface(text),
    ));

    let escaped = fields::escape(data);
    assert!(!escaped.contains([' ', '=']), "{escaped:?}");
    assert_eq!(
        fields::unescape(&escaped).as_deref(),
        Ok(data),
        "{escaped:?}"
    );
});
