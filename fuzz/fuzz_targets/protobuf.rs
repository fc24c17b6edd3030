//! Protobuf decoding of one message payload: typed with a method the
//! embedded schemas define (chosen by the first two bytes; an index past
//! the list means no method), and schema-less. Byte 3: bit 0 request,
//! bits 1-2 the forms built.
#![no_main]

use std::sync::OnceLock;

use containerdsnoop::protobuf::{Forms, Schemas};
use containerdsnoop_fuzz::method_paths;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static PATHS: OnceLock<Vec<String>> = OnceLock::new();
    let paths = PATHS.get_or_init(method_paths);
    let [a, b, c, payload @ ..] = data else {
        return;
    };
    let path = paths
        .get(usize::from(u16::from_le_bytes([*a, *b])))
        .map(String::as_str);
    let forms = match (c >> 1) & 3 {
        1 => Forms::TEXT,
        2 => Forms::JSON,
        _ => Forms::BOTH,
    };
    let schemas = Schemas::embedded();
    let typed = schemas.decode_forms(path, c & 1 != 0, payload, forms);
    std::hint::black_box(typed);
    let raw = schemas.decode_forms(None, c & 1 != 0, payload, forms);
    std::hint::black_box(raw);
});
