//! What one message row of an HTTP call holds: a body (or one JSON value
//! of a streamed body) kept as bytes, or summarised when it is an archive,
//! binary, or over [`MAX_KEPT`]; or a piece of a hijacked stream.

use std::ops::Range;

/// Bytes of one body kept for display and redaction; a longer body is
/// summarised (its type and size).
pub const MAX_KEPT: usize = 4 << 20;
/// Stream ranges kept per part; past it the part is summarised.
const MAX_RANGES: usize = 4096;

/// What kind of bytes a part is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartKind {
    /// A request or response body, or one JSON value of a streamed one.
    Body,
    /// Bytes a client wrote into a hijacked stream (a user's typing).
    Stdin,
    /// A container's stdout, from a multiplexed stream.
    Stdout,
    /// A container's stderr, from a multiplexed stream.
    Stderr,
    /// Stream bytes that are not multiplexed (a TTY's, or raw).
    Stream,
    /// Stream bytes whose framing cannot be known (raw or multiplexed).
    StreamUnknown,
}

impl PartKind {
    /// The TYPE column's word for rows of this kind (bodies are REQ/RESP).
    pub fn row_type(self) -> Option<&'static str> {
        match self {
            PartKind::Body => None,
            PartKind::Stdin => Some("STDIN"),
            PartKind::Stdout => Some("STDOUT"),
            PartKind::Stderr => Some("STDERR"),
            PartKind::Stream | PartKind::StreamUnknown => Some("STREAM"),
        }
    }
}

/// What a message of an HTTP call is, beside its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Body or stream.
    pub kind: PartKind,
    /// The message's `Content-Type` (lower-cased, no parameters).
    pub content_type: Option<String>,
    /// Bytes of the part as sent (chunk framing not counted), lost ones included.
    pub size: u64,
    /// Of them, bytes lost in gaps.
    pub lost: u64,
    /// The payload holds every byte of the part; false: summarised (an
    /// archive or binary body, or one over [`MAX_KEPT`]), payload empty.
    pub kept: bool,
}

impl Part {
    /// The payload is JSON (by its content type).
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_some_and(is_json_type)
    }
}

/// Whether a media type is JSON.
pub fn is_json_type(t: &str) -> bool {
    t == "application/json" || t.ends_with("+json") || t == "application/x-json-stream"
}

/// Whether a body of this media type is an archive or binary, summarised.
fn is_binary_type(t: &str) -> bool {
    matches!(
        t,
        "application/x-tar"
            | "application/tar"
            | "application/octet-stream"
            | "application/gzip"
            | "application/x-gzip"
            | "application/x-xz"
            | "application/x-bzip2"
            | "application/zstd"
    ) || t.starts_with("image/")
        || t.starts_with("video/")
        || t.starts_with("audio/")
}

/// The bytes of one part as they come.
#[derive(Debug)]
pub struct Collector {
    kind: PartKind,
    content_type: Option<String>,
    bytes: Vec<u8>,
    ranges: Vec<Range<u64>>,
    size: u64,
    lost: u64,
    keep: bool,
}

impl Collector {
    /// A part of `kind` whose bytes have `content_type`.
    pub fn new(kind: PartKind, content_type: Option<String>) -> Self {
        let keep = !content_type.as_deref().is_some_and(is_binary_type);
        Collector {
            kind,
            content_type,
            bytes: Vec::new(),
            ranges: Vec::new(),
            size: 0,
            lost: 0,
            keep,
        }
    }

    /// Keep the bytes whatever the content type says (a container's logs,
    /// which Podman sends as `application/octet-stream`).
    pub fn keep_text(mut self) -> Self {
        self.keep = true;
        self
    }

    /// Bytes `data` of the part, at stream offset `at`.
    pub fn push(&mut self, data: &[u8], at: u64) {
        self.size = self.size.saturating_add(data.len() as u64);
        if !self.keep || data.is_empty() {
            return;
        }
        if self.bytes.len() + data.len() > MAX_KEPT || self.ranges.len() >= MAX_RANGES {
            self.summarise();
            return;
        }
        self.bytes.extend_from_slice(data);
        let end = at + data.len() as u64;
        match self.ranges.last_mut() {
            Some(r) if r.end == at => r.end = end,
            _ => self.ranges.push(at..end),
        }
    }

    fn summarise(&mut self) {
        self.keep = false;
        self.bytes = Vec::new();
        self.ranges = Vec::new();
    }

    /// `n` bytes of the part were lost: what is kept around the hole is
    /// no whole body any more (a JSON value cut by it would read as one
    /// it never was), so the part is summarised from here, its loss counted.
    pub fn lose(&mut self, n: u64) {
        self.size = self.size.saturating_add(n);
        self.lost = self.lost.saturating_add(n);
        self.summarise();
    }

    /// Nothing was collected (no byte, none lost).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The part's content type.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The kept bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes are kept (not summarised).
    pub fn keeps(&self) -> bool {
        self.keep
    }

    /// The part as collected: payload, stream ranges, description.
    pub fn take(&mut self) -> (Vec<u8>, Vec<Range<u64>>, Part) {
        let part = Part {
            kind: self.kind,
            content_type: self.content_type.clone(),
            size: self.size,
            lost: self.lost,
            kept: self.keep && self.lost == 0,
        };
        let payload = std::mem::take(&mut self.bytes);
        let ranges = std::mem::take(&mut self.ranges);
        self.size = 0;
        self.lost = 0;
        match part.kept {
            true => (payload, ranges, part),
            // A part with a hole is shown by its size, not as broken JSON.
            false => (Vec::new(), Vec::new(), part),
        }
    }

    /// The first `n` kept bytes as a part of their own (a whole JSON
    /// value of a stream), the rest kept for later.
    pub fn split_off_front(&mut self, n: usize) -> (Vec<u8>, Vec<Range<u64>>, Part) {
        let rest = self.bytes.split_off(n.min(self.bytes.len()));
        let payload = std::mem::replace(&mut self.bytes, rest);
        let (front, back) = split_ranges(&self.ranges, payload.len() as u64);
        self.ranges = back;
        self.size = self.size.saturating_sub(payload.len() as u64);
        let part = Part {
            kind: self.kind,
            content_type: self.content_type.clone(),
            size: payload.len() as u64,
            lost: 0,
            kept: true,
        };
        (payload, front, part)
    }
}

/// `ranges` cut after their first `n` bytes.
fn split_ranges(ranges: &[Range<u64>], n: u64) -> (Vec<Range<u64>>, Vec<Range<u64>>) {
    let (mut front, mut back) = (Vec::new(), Vec::new());
    let mut left = n;
    for r in ranges {
        let len = r.end - r.start;
        if left >= len {
            front.push(r.clone());
            left -= len;
        } else if left > 0 {
            front.push(r.start..r.start + left);
            back.push(r.start + left..r.end);
            left = 0;
        } else {
            back.push(r.clone());
        }
    }
    (front, back)
}

/// Finds where top-level JSON values end in a stream of them (Docker's
/// `/events`, pull progress: one object after another), scanning each byte
/// once however the stream is cut.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonScan {
    /// Bytes of the buffer scanned so far.
    pos: usize,
    depth: u32,
    in_str: bool,
    esc: bool,
}

impl JsonScan {
    /// Where the first complete value of `bytes` (the buffer scanned
    /// before, grown since) ends, if it does; `Err` when the bytes do not
    /// begin with an object or array. Call [`JsonScan::reset`] after
    /// taking a value off the buffer's front.
    pub fn value_end(&mut self, bytes: &[u8]) -> Result<Option<usize>, ()> {
        while self.pos < bytes.len() {
            let b = bytes[self.pos];
            self.pos += 1;
            if self.in_str {
                match (self.esc, b) {
                    (true, _) => self.esc = false,
                    (false, b'\\') => self.esc = true,
                    (false, b'"') => self.in_str = false,
                    _ => {}
                }
                continue;
            }
            match b {
                _ if self.depth == 0 && b.is_ascii_whitespace() => {}
                b'{' | b'[' => self.depth += 1,
                _ if self.depth == 0 => return Err(()),
                b'"' => self.in_str = true,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Ok(Some(self.pos));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// The value found was taken off the buffer: scan from its new start.
    pub fn reset(&mut self) {
        *self = JsonScan::default();
    }
}
