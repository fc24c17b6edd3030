//! The `key=value` lists of our packet comments, written and read here
//! only: `pid=32089 tid=32094 comm=python3 thread_comm=event_engine`.
//!
//! Values are bytes (a comm is 16 bytes from the kernel, not always
//! UTF-8), escaped so that a list is one line of printable text, splits at
//! its spaces and reads back exactly:
//!
//! - `\\` for a backslash;
//! - `\xHH` (two lowercase hex digits) for a space, `=`, an ASCII control
//!   character or DEL, a byte that is not part of valid UTF-8, and each
//!   byte of a non-ASCII character that is not a letter or digit
//!   (whitespace, controls, format characters such as U+202E);
//! - every other character as it is (`containerd`, `kube-apiserver`,
//!   `café`).
//!
//! Keys are 1 to [`MAX_KEY`] bytes of `a-z`, `0-9` and `_`. Fields are
//! separated by one space; a reader skips keys it does not know, so fields
//! can be added (container ids will be). Reading is bounded by its input:
//! at most [`MAX_FIELDS`] fields, each value no longer than its text.

use std::fmt;

/// Most fields a list may hold.
pub const MAX_FIELDS: usize = 32;
/// Longest key.
pub const MAX_KEY: usize = 32;

/// Why a comment is not a field list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldsError {
    /// Nothing, or a field that is empty (two spaces in a row, or a space
    /// at either end).
    EmptyField,
    /// A field without `=`.
    NoEquals,
    /// A key that is empty, too long, or has a byte other than `a-z`,
    /// `0-9` and `_`.
    BadKey,
    /// A key that appeared before in the same list.
    Duplicate,
    /// More than [`MAX_FIELDS`] fields.
    TooMany,
    /// A value holding a bare `=`, or a `\` not followed by `\` or `xHH`.
    BadEscape,
    /// A value that must be a decimal number (digits only, no sign, in
    /// range) and is not.
    BadNumber,
}

impl fmt::Display for FieldsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldsError::EmptyField => "an empty field",
            FieldsError::NoEquals => "a field without '='",
            FieldsError::BadKey => "a key other than 1 to 32 of a-z, 0-9 and _",
            FieldsError::Duplicate => "a key given twice",
            FieldsError::TooMany => "more than 32 fields",
            FieldsError::BadEscape => "a bad escape in a value",
            FieldsError::BadNumber => "a value that is not a number",
        })
    }
}

impl std::error::Error for FieldsError {}

/// Appends `value` to `out`, escaped.
pub fn escape_into(value: &[u8], out: &mut String) {
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '!'..='~' if c != '=' => out.push(c),
                _ if !c.is_ascii() && c.is_alphanumeric() => out.push(c),
                _ => {
                    let mut buf = [0u8; 4];
                    c.encode_utf8(&mut buf)
                        .bytes()
                        .for_each(|b| hex_byte(b, out));
                }
            }
        }
        chunk.invalid().iter().for_each(|&b| hex_byte(b, out));
    }
}

/// `value` escaped.
pub fn escape(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    escape_into(value, &mut out);
    out
}

fn hex_byte(b: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend([
        '\\',
        'x',
        char::from(HEX[usize::from(b >> 4)]),
        char::from(HEX[usize::from(b & 15)]),
    ]);
}

/// The bytes an escaped value stands for.
pub fn unescape(text: &str) -> Result<Vec<u8>, FieldsError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => match bytes.get(i + 1) {
                Some(b'\\') => {
                    out.push(b'\\');
                    i += 2;
                }
                Some(b'x') => {
                    let hi = bytes.get(i + 2).and_then(|&h| hex_digit(h));
                    let lo = bytes.get(i + 3).and_then(|&l| hex_digit(l));
                    let (Some(hi), Some(lo)) = (hi, lo) else {
                        return Err(FieldsError::BadEscape);
                    };
                    out.push(hi << 4 | lo);
                    i += 4;
                }
                _ => return Err(FieldsError::BadEscape),
            },
            b'=' | b' ' => return Err(FieldsError::BadEscape),
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex_digit(h: u8) -> Option<u8> {
    match h {
        b'0'..=b'9' => Some(h - b'0'),
        b'a'..=b'f' => Some(h - b'a' + 10),
        b'A'..=b'F' => Some(h - b'A' + 10),
        _ => None,
    }
}

fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A field list being written, keys in the order given.
#[derive(Debug, Default)]
pub struct FieldsWriter {
    text: String,
}

impl FieldsWriter {
    /// Adds `key=value`, the value escaped. `key` must be a valid key (a
    /// constant of the caller's: checked in debug builds).
    pub fn bytes(&mut self, key: &str, value: &[u8]) -> &mut Self {
        debug_assert!(valid_key(key), "bad field key {key:?}");
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(key);
        self.text.push('=');
        escape_into(value, &mut self.text);
        self
    }

    /// Adds `key=value` for a number.
    pub fn number(&mut self, key: &str, value: u64) -> &mut Self {
        self.bytes(key, value.to_string().as_bytes())
    }

    /// Adds `key=value` when there is a value.
    pub fn bytes_if(&mut self, key: &str, value: Option<&[u8]>) -> &mut Self {
        match value {
            Some(v) => self.bytes(key, v),
            None => self,
        }
    }

    /// Adds `key=value` for a number when there is one.
    pub fn number_if(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.number(key, v),
            None => self,
        }
    }

    /// The list.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.text)
    }
}

/// A field list read back: each key with its unescaped value, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    fields: Vec<(&'a str, Vec<u8>)>,
}

impl<'a> Fields<'a> {
    /// Reads a list.
    pub fn parse(text: &'a str) -> Result<Self, FieldsError> {
        let mut fields: Vec<(&'a str, Vec<u8>)> = Vec::new();
        for field in text.split(' ') {
            if fields.len() == MAX_FIELDS {
                return Err(FieldsError::TooMany);
            }
            if field.is_empty() {
                return Err(FieldsError::EmptyField);
            }
            let (key, value) = field.split_once('=').ok_or(FieldsError::NoEquals)?;
            if !valid_key(key) {
                return Err(FieldsError::BadKey);
            }
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(FieldsError::Duplicate);
            }
            fields.push((key, unescape(value)?));
        }
        Ok(Fields { fields })
    }

    /// The fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &[u8])> {
        self.fields.iter().map(|(k, v)| (*k, v.as_slice()))
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The value of `key` as a decimal number, None when not given.
    pub fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, FieldsError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        // Digits only: `str::parse` would take a leading `+` too.
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return Err(FieldsError::BadNumber);
        }
        let text = std::str::from_utf8(v).map_err(|_| FieldsError::BadNumber)?;
        text.parse().map(Some).map_err(|_| FieldsError::BadNumber)
    }

    /// The list written again (escaped as [`FieldsWriter`] does).
    pub fn to_text(&self) -> String {
        let mut w = FieldsWriter::default();
        for (k, v) in &self.fields {
            w.bytes(k, v);
        }
        w.finish()
    }
}

#[cfg(test)]
mod tests;
