//! Decoding without a schema: unknown methods, bytes that do not fit, invalid bytes.

use serde_json::json;

use super::*;

#[test]
fn unknown_method_is_schema_less() {
    let s = Schemas::embedded();
    // 1:"ctr" 2:{1:42} 3:bytes(1f 2e) 4:fixed32 5:fixed64 1:"x"
    let payload = [
        0x0a, 3, b'c', b't', b'r', 0x12, 2, 0x08, 42, 0x1a, 2, 0x1f, 0x2e, 0x25, 1, 0, 0, 0, 0x29,
        2, 0, 0, 0, 0, 0, 0, 0, 0x0a, 1, b'x',
    ];
    for path in [None, Some("/unknown.v1.Svc/Call")] {
        let d = s.decode(path, true, &payload);
        assert_eq!(d.schema, SchemaUse::SchemaLess);
        assert_eq!(d.type_name, None);
        assert_eq!(
            d.text,
            r#"1:"ctr" 2:{1:42} 3:0x1f2e 4:0x00000001 5:0x0000000000000002 1:"x""#
        );
        assert_eq!(
            d.json,
            json!({"1": ["ctr", "x"], "2": {"1": 42}, "3": "0x1f2e", "4": 1, "5": 2})
        );
    }
}

#[test]
fn bytes_that_do_not_fit_the_schema_fall_back() {
    let s = Schemas::embedded();
    // Field 1 (namespace, a message) sent as a varint: wrong wire type.
    let d = s.decode(Some(NS_CREATE), true, &[0x08, 0x01]);
    assert_eq!(d.schema, SchemaUse::SchemaLess);
    assert_eq!(d.text, "1:1");
    // Not protobuf at all: a group start.
    let d = s.decode(Some("/x.Y/Z"), true, &[0x0b, 0xff]);
    assert_eq!(d.schema, SchemaUse::Invalid);
    assert_eq!(d.text, "0x0bff");
    assert_eq!(d.json, json!("0x0bff"));
    // Empty payloads are empty messages.
    let d = s.decode(Some(NS_CREATE), true, &[]);
    assert_eq!((d.schema, d.text.as_str()), (SchemaUse::Typed, ""));
    assert_eq!(s.decode(None, true, &[]).json, json!({}));
}
