//! What the three printers (text, JSON, schema-less) share, so that none imports another.

use std::fmt::{self, Write};

use prost_reflect::{DynamicMessage, ReflectMessage};

use super::{BYTES_CAP, JSON_CAP, MAX_DEPTH, STRING_CAP, TEXT_CAP};

/// A string that stops growing at [`TEXT_CAP`] bytes and then ends in `…`.
pub(super) struct TextOut {
    buf: String,
    full: bool,
}

impl TextOut {
    pub(super) fn new() -> TextOut {
        TextOut {
            buf: String::new(),
            full: false,
        }
    }

    pub(super) fn push(&mut self, s: &str) {
        if self.full {
            return;
        }
        if self.buf.len() + s.len() <= TEXT_CAP {
            self.buf.push_str(s);
        } else {
            self.buf
                .push_str(cut_str(s, TEXT_CAP.saturating_sub(self.buf.len())));
            self.buf.push('…');
            self.full = true;
        }
    }

    /// True once the cap is reached: callers stop walking.
    pub(super) fn full(&self) -> bool {
        self.full
    }

    /// Writes the separator before a field: nothing before the first.
    pub(super) fn sep(&mut self, first: &mut bool) {
        if !*first {
            self.push(" ");
        }
        *first = false;
    }

    pub(super) fn finish(self) -> String {
        self.buf
    }
}

impl Write for TextOut {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s);
        Ok(())
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char
/// boundary.
pub fn cut_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The first [`STRING_CAP`] bytes of `b` as a string, if they are UTF-8
/// without control characters other than tab, CR and LF. A multi-byte char
/// split by the cap does not count against `b`.
pub(super) fn printable_prefix(b: &[u8]) -> Option<&str> {
    let head = &b[..b.len().min(STRING_CAP)];
    let s = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() && head.len() < b.len() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    let printable = s
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    printable.then_some(s)
}

/// Writes `"shown"` with text-format escapes, then `…(N bytes)` if `shown`
/// is a cut of a value `total` bytes long.
pub(super) fn write_quoted(out: &mut TextOut, shown: &str, total: usize) {
    out.push("\"");
    let mut start = 0;
    for (i, c) in shown.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c.is_control() => "",
            _ => continue,
        };
        out.push(&shown[start..i]);
        if esc.is_empty() {
            let mut utf8 = [0; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                let _ = write!(out, "\\x{byte:02x}");
            }
        } else {
            out.push(esc);
        }
        start = i + c.len_utf8();
    }
    out.push(&shown[start..]);
    out.push("\"");
    if total > shown.len() {
        let _ = write!(out, "…({total} bytes)");
    }
}

/// Writes a bytes value: quoted if printable, else `0x` and hex of at most
/// [`BYTES_CAP`] bytes, then `…(N bytes)` if cut.
pub(super) fn write_bytes(out: &mut TextOut, b: &[u8]) {
    match printable_prefix(b) {
        Some(s) => write_quoted(out, s, b.len()),
        None => write_hex(out, b),
    }
}

pub(super) fn write_hex(out: &mut TextOut, b: &[u8]) {
    out.push("0x");
    for byte in &b[..b.len().min(BYTES_CAP)] {
        let _ = write!(out, "{byte:02x}");
    }
    if b.len() > BYTES_CAP {
        let _ = write!(out, "…({} bytes)", b.len());
    }
}

/// Member added to an object, and element to an array, cut at the budget.
pub(super) const TRUNCATED: (&str, &str) = ("…", "truncated");

/// What is left of [`JSON_CAP`] while one payload is converted.
pub(super) struct Budget {
    left: usize,
}

impl Budget {
    pub(super) fn new() -> Budget {
        Budget { left: JSON_CAP }
    }

    pub(super) fn spend(&mut self, bytes: usize) {
        self.left = self.left.saturating_sub(bytes);
    }

    pub(super) fn exhausted(&self) -> bool {
        self.left == 0
    }
}

/// `shown`, then `…(N bytes)` if it is a cut of a value `total` bytes long.
pub(super) fn cut_string(shown: &str, total: usize) -> String {
    if total > shown.len() {
        format!("{shown}…({total} bytes)")
    } else {
        shown.to_owned()
    }
}

/// The `type_url` and `value` of an `Any`, or `None` if `msg` does not look
/// like one.
pub(super) fn any_parts(msg: &DynamicMessage) -> Option<(String, prost::bytes::Bytes)> {
    let type_url = msg.get_field_by_number(1)?.as_str()?.to_owned();
    let value = msg.get_field_by_number(2)?.as_bytes()?.clone();
    Some((type_url, value))
}

/// The message inside an `Any` at `depth`, if its type is in the pool, the
/// bytes decode as that type and there is room to nest.
pub(super) fn resolve_any(
    any: &DynamicMessage,
    type_url: &str,
    value: &[u8],
    depth: usize,
) -> Option<DynamicMessage> {
    if depth + 1 >= MAX_DEPTH {
        return None;
    }
    // "The last segment of the URL's path must represent the fully
    // qualified name of the type" (google/protobuf/any.proto).
    let name = type_url.rsplit('/').next()?;
    let desc = any.descriptor().parent_pool().get_message_by_name(name)?;
    let inner = DynamicMessage::decode(desc, value).ok()?;
    // A decode that left everything unknown did not fit.
    let fits = inner.unknown_fields().next().is_none() || inner.fields().next().is_some();
    fits.then_some(inner)
}
