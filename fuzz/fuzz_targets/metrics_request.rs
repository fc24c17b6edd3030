//! What a client of `--metrics-addr` sends (anyone who can reach the port),
//! through `export::serve::route`; the same bytes as a label value through
//! `export::metrics::label` (method paths come from captured traffic) and
//! as `OTEL_EXPORTER_OTLP_HEADERS` through `export::otlp::parse_headers`.
//! It asserts that only a GET of /metrics is served the metrics, that a
//! label keeps to its alphabet and length, and that parsed headers are
//! tokens with no control characters.
#![no_main]

use containerdsnoop::export::metrics::label;
use containerdsnoop::export::otlp::parse_headers;
use containerdsnoop::export::serve::{route, Route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if route(data) == Route::Metrics {
        assert!(data.starts_with(b"GET /metrics"), "{data:?}");
    }
    let text = String::from_utf8_lossy(data);
    let l = label(&text);
    assert!(l.chars().count() <= 128);
    assert!(l
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')));
    if let Ok(headers) = parse_headers(&text) {
        for (k, v) in headers {
            assert!(!k.is_empty() && k.is_ascii());
            assert!(!v.chars().any(char::is_control));
        }
    }
});
