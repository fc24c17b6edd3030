//! HTTP/1.x messages as the outputs show them: a JSON body as a JSON value
//! (compact text in the table), a text body as text, an archive or binary
//! body by its type and size, a stream's bytes as base64 with a UTF-8
//! preview; secrets (`decode::http1::secrets`) as `<redacted N bytes>`
//! and a user's typing (a hijacked stream's stdin) as a byte count unless
//! secrets are shown.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::decode::http1::{secrets, Part, PartKind};
use crate::decode::PathInfo;
use crate::protobuf::{Decoded, SchemaUse};

/// Longest preview of stream bytes, in characters.
const PREVIEW: usize = 256;

/// `payload`, of a call named `path`, as the outputs show it; `redact`:
/// secrets hidden.
pub fn present(part: &Part, payload: &[u8], path: &PathInfo, redact: bool) -> Decoded {
    let decoded = |schema, text: String, json: Value| Decoded {
        type_name: None,
        text,
        json,
        schema,
        source: None,
    };
    let lost = match part.lost {
        0 => String::new(),
        n => format!(", {n} lost"),
    };
    if !part.kept {
        let kind = part.content_type.as_deref().unwrap_or("body");
        let text = format!("<{kind}, {} bytes{lost}>", part.size);
        return decoded(SchemaUse::Summary, text, Value::Null);
    }
    if part.kind == PartKind::Stdin && redact {
        let text = format!("<{} bytes typed>", payload.len());
        return decoded(SchemaUse::Summary, text, Value::Null);
    }
    if part.kind != PartKind::Body {
        let preview: String = String::from_utf8_lossy(payload)
            .chars()
            .take(PREVIEW)
            .collect();
        let mut text = preview.escape_debug().to_string();
        if part.kind == PartKind::StreamUnknown {
            text.insert_str(0, "(framing unknown) ");
        }
        let json = json!({
            "base64": base64::engine::general_purpose::STANDARD.encode(payload),
            "preview": preview,
        });
        return decoded(SchemaUse::Text, text, json);
    }
    if payload.is_empty() {
        return decoded(SchemaUse::Text, String::new(), Value::Null);
    }
    let name = path.known().unwrap_or_default();
    let hidden = match redact {
        true => secrets::body_secrets(name, payload),
        false => Vec::new(),
    };
    let shown = with_placeholders(payload, &hidden);
    if let Ok(v) = serde_json::from_slice::<Value>(&shown) {
        let text = serde_json::to_string(&v).unwrap_or_default();
        return decoded(SchemaUse::Json, text, v);
    }
    match std::str::from_utf8(&shown) {
        Ok(s) => {
            let t = s.trim_end();
            decoded(
                SchemaUse::Text,
                t.escape_debug().to_string(),
                Value::String(t.to_string()),
            )
        }
        Err(_) => {
            let kind = part.content_type.as_deref().unwrap_or("binary body");
            let text = format!("<{kind}, {} bytes>", part.size);
            decoded(SchemaUse::Summary, text, Value::Null)
        }
    }
}

/// `payload` with each range (sorted, apart) written `<redacted N bytes>`.
fn with_placeholders(payload: &[u8], ranges: &[std::ops::Range<usize>]) -> Vec<u8> {
    if ranges.is_empty() {
        return payload.to_vec();
    }
    let mut out = Vec::with_capacity(payload.len());
    let mut done = 0;
    for r in ranges {
        out.extend_from_slice(&payload[done..r.start]);
        out.extend_from_slice(format!("<redacted {} bytes>", r.len()).as_bytes());
        done = r.end;
    }
    out.extend_from_slice(&payload[done..]);
    out
}

#[cfg(test)]
mod tests;
