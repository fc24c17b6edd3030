//! Bounds on the output: random bytes, nesting depth, text and JSON caps, large bytes.

use super::*;
use crate::testsupport::Rng;

#[test]
fn random_bytes_never_panic() {
    let s = Schemas::embedded();
    let paths = [
        None,
        Some(NS_CREATE),
        Some(CONTENT_WRITE),
        Some("/containerd.services.events.v1.Events/Subscribe"),
        Some("/runtime.v1.RuntimeService/CreateContainer"),
        Some("/runtime.v1.RuntimeService/CreateContainer"),
    ];
    let valid = encode(
        &s,
        "runtime.v1.CreateContainerRequest",
        r#"pod_sandbox_id: "abc" config { metadata { name: "web" } image { image: "nginx" }
           envs { key: "A" value: "1" } labels { key: "k" value: "v" }
           linux { security_context { namespace_options { network: NODE } } } }"#,
    );
    let mut rng = Rng::new(1);
    for i in 0..10_000 {
        let mut bytes = if i % 4 == 3 {
            // A real message with a few bytes changed and maybe cut short.
            let mut b = valid.clone();
            for _ in 0..1 + rng.next_u64() % 4 {
                let at = (rng.next_u64() as usize) % b.len();
                b[at] = rng.next_u64() as u8;
            }
            b.truncate(b.len() - (rng.next_u64() as usize) % 8);
            b
        } else {
            let len = (rng.next_u64() % 96) as usize;
            rng.bytes(len)
        };
        // Mostly valid-looking keys, so that decoding gets past byte one.
        if i % 2 == 0 && !bytes.is_empty() {
            bytes[0] = (bytes[0] & 0xf8) | [0, 2, 5][i % 3];
        }
        let d = s.decode(paths[i % paths.len()], i % 3 == 0, &bytes);
        assert!(d.text.len() <= TEXT_CAP + 4);
    }
}

#[test]
fn nesting_is_cut_at_max_depth() {
    // 1:{1:{1:{...{1:"leaf!"}...}}} nested 40 deep.
    let mut payload = b"leaf!".to_vec();
    for _ in 0..40 {
        let mut outer = vec![0x0a];
        let mut len = payload.len();
        while len >= 0x80 {
            outer.push((len as u8) | 0x80);
            len >>= 7;
        }
        outer.push(len as u8);
        outer.extend_from_slice(&payload);
        payload = outer;
    }
    let d = Schemas::embedded().decode(None, true, &payload);
    assert_eq!(d.schema, SchemaUse::SchemaLess);
    assert_eq!(d.text.matches('{').count(), MAX_DEPTH);
    assert!(d.text.contains("{…}"));
    assert!(!d.text.contains("leaf"));
}

#[test]
fn output_is_capped() {
    // 100k fields of a 20-byte string: 2.2 MB on the wire.
    let mut payload = Vec::new();
    for _ in 0..100_000 {
        payload.extend_from_slice(&[0x0a, 20]);
        payload.extend_from_slice(b"abcdefghijklmnopqrst");
    }
    let d = Schemas::embedded().decode(None, true, &payload);
    assert!(d.text.len() <= TEXT_CAP + '…'.len_utf8());
    assert!(d.text.ends_with('…'));
    let json_len = d.json.to_string().len();
    assert!(json_len < 2 * JSON_CAP, "{json_len}");
    assert_eq!(d.json["…"], "truncated");

    // One long string: cut with its length.
    let long = "x".repeat(10_000);
    let mut payload = vec![0x0a, 0x90, 0x4e];
    payload.extend_from_slice(long.as_bytes());
    let d = Schemas::embedded().decode(None, true, &payload);
    assert_eq!(
        d.text,
        format!("1:\"{}\"…(10000 bytes)", "x".repeat(STRING_CAP))
    );
}

fn content_write(s: &Schemas, data: Vec<u8>) -> Vec<u8> {
    let desc = s
        .pool()
        .get_message_by_name("containerd.services.content.v1.WriteContentRequest")
        .unwrap();
    let mut msg = DynamicMessage::parse_text_format(
        desc,
        r#"action: WRITE ref: "k8s.io/1/layer-sha256:ab" offset: 4096"#,
    )
    .unwrap();
    msg.set_field_by_name("data", PValue::Bytes(data.into()));
    msg.encode_to_vec()
}

#[test]
fn large_bytes_are_cut() {
    let s = Schemas::embedded();
    let mut rng = Rng::new(7);
    let mut data = rng.bytes(1 << 20);
    data[0] = 0xff; // surely not UTF-8
    let d = s.decode(Some(CONTENT_WRITE), true, &content_write(&s, data.clone()));
    assert_eq!(d.schema, SchemaUse::Typed);
    let hex: String = data[..BYTES_CAP]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        d.text.ends_with(&format!("data:0x{hex}…(1048576 bytes)")),
        "{}",
        d.text
    );
    assert!(d.text.len() < 400, "{}", d.text.len());
    let data_json = d.json["data"].as_str().unwrap();
    assert!(data_json.ends_with("…(1048576 bytes)"));
    assert!(data_json.len() < 6000);

    // Printable data (a manifest being written) shows as a string.
    let d = s.decode(
        Some(CONTENT_WRITE),
        true,
        &content_write(&s, br#"{"schemaVersion":2}"#.to_vec()),
    );
    assert!(
        d.text.contains(r#"data:"{\"schemaVersion\":2}""#),
        "{}",
        d.text
    );
}
