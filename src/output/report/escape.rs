//! Escaping for each place in the page where text from a socket or a file
//! goes (method paths, pod and process names, message excerpts): HTML text,
//! attribute values (always double-quoted), and JSON inside a `<script>`
//! element. Control characters are shown as `\u{..}` rather than written
//! raw (most are parse errors in HTML and would vanish or become U+FFFD).

use std::fmt::Write;

/// `s` as HTML text (element content, SVG `<text>` and `<title>`).
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_text(&mut out, s);
    out
}

/// Appends `s` to `out` as HTML text.
pub fn push_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => push_visible(out, c),
        }
    }
}

/// `s` as the value of a double-quoted attribute.
pub fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => push_visible(&mut out, c),
        }
    }
    out
}

/// Serialized JSON made safe inside `<script type="application/json">`:
/// `<`, `>` and `&` as `\u` escapes (so neither `</script` nor `<!--` can
/// occur), and U+2028/U+2029, which older script parsers take for line
/// ends. JSON strings only ever hold these characters inside string
/// literals, where the escapes mean the same characters.
pub fn script_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// `c`, or `\u{..}` for a control character other than tab and newline.
fn push_visible(out: &mut String, c: char) {
    if c.is_control() && c != '\t' && c != '\n' {
        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
    } else {
        out.push(c);
    }
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
