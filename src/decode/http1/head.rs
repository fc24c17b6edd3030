//! The head of an HTTP/1.x message: start line and header fields (parsed
//! by `httparse`, the parser hyper uses), and the body framing they imply
//! (RFC 9112 section 6.3).

use std::ops::Range;

use super::Error;

/// Longest head accepted: Go's `net/http` server refuses more than 1 MiB,
/// the Docker and Podman clients send a few hundred bytes.
pub const MAX_HEAD: usize = 64 << 10;
/// Most header fields accepted in one head.
pub const MAX_FIELDS: usize = 128;
/// Longest start line looked at when sniffing.
const MAX_LINE: usize = 8 << 10;
/// Longest method token accepted (`OPTIONS` is 7, WebDAV's longest 16).
const MAX_METHOD: usize = 20;

/// A request or status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// `METHOD target HTTP/1.x`.
    Request {
        /// The method token.
        method: String,
        /// The request target as sent.
        target: String,
    },
    /// `HTTP/1.x status reason`.
    Response {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
}

/// One header field, and where its value lies in the head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name as sent.
    pub name: String,
    /// The value's octets.
    pub value: Vec<u8>,
    /// Where the value lies, from the head's first byte.
    pub at: Range<usize>,
}

/// A parsed head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The start line.
    pub start: Start,
    /// The fields in order.
    pub fields: Vec<Field>,
    /// Bytes of the head, the empty line included.
    pub len: usize,
}

/// What the bytes at the start of a buffer are.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole head.
    Complete(Head),
    /// A plausible beginning: more bytes are needed.
    Partial,
    /// Not a head.
    Invalid(Error),
}

/// How the body after a head is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding (RFC 9112 section 7.1).
    Chunked,
    /// Everything up to the close (a response with neither length nor chunking).
    UntilClose,
    /// The connection is no longer HTTP after this head: 101 Switching
    /// Protocols, a 2xx to CONNECT, or a hijacked Docker stream.
    Switch,
}

impl Head {
    /// The first value of field `name` (compared without case).
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.as_slice())
    }

    /// `Content-Type`, lower-cased, without parameters.
    pub fn content_type(&self) -> Option<String> {
        let v = self.field("content-type")?;
        let v = String::from_utf8_lossy(v);
        let media = v.split(';').next().unwrap_or_default().trim();
        Some(media.to_ascii_lowercase())
    }

    /// Whether field `name` lists `token` (comma-separated, without case).
    pub fn lists(&self, name: &str, token: &str) -> bool {
        self.fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .flat_map(|f| f.value.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    }

    /// The status code of a response head.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            Start::Response { status, .. } => Some(status),
            Start::Request { .. } => None,
        }
    }

    /// The framing of a body by its length fields: chunked, a length, or
    /// neither (`None`).
    fn length_framing(&self, request: bool) -> Result<Option<Framing>, Error> {
        let te: Vec<&Field> = self
            .fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("transfer-encoding"))
            .collect();
        if !te.is_empty() {
            // Rule 4: chunked must be the last coding; a response without
            // it runs to the close, a request without it is an error.
            let last = te
                .iter()
                .flat_map(|f| f.value.split(|&b| b == b','))
                .map(<[u8]>::trim_ascii)
                .rfind(|t| !t.is_empty());
            return match last {
                Some(t) if t.eq_ignore_ascii_case(b"chunked") => Ok(Some(Framing::Chunked)),
                _ if request => Err(Error::BadTransferEncoding),
                _ => Ok(Some(Framing::UntilClose)),
            };
        }
        let mut length = None;
        for f in self
            .fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("content-length"))
        {
            // Rule 5: repeated equal values are one; anything else is an error.
            for v in f.value.split(|&b| b == b',') {
                let n = parse_decimal(v.trim_ascii()).ok_or(Error::BadContentLength)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Error::BadContentLength);
                }
                length = Some(n);
            }
        }
        Ok(length.map(|n| match n {
            0 => Framing::Empty,
            n => Framing::Length(n),
        }))
    }

    /// The body framing of a request head.
    pub fn request_framing(&self) -> Result<Framing, Error> {
        Ok(self.length_framing(true)?.unwrap_or(Framing::Empty))
    }

    /// The body framing of a response head, given its request: `head_method`
    /// (a HEAD request: no body), `connect` (a CONNECT request) and
    /// `hijack` (a Docker request that asks for the raw stream with
    /// `Upgrade: tcp`, which dockerd grants with 101, or with 200 from
    /// versions that predate the upgrade).
    pub fn response_framing(&self, req: RequestFacts) -> Result<Framing, Error> {
        let status = self.status().unwrap_or(0);
        // Rules 1 and 2, and RFC 9110 section 15.2.2 for 101.
        match status {
            101 => return Ok(Framing::Switch),
            100..=199 | 204 | 304 => return Ok(Framing::Empty),
            200..=299 if req.connect || req.hijack => return Ok(Framing::Switch),
            _ if req.head_method => return Ok(Framing::Empty),
            _ => {}
        }
        Ok(self.length_framing(false)?.unwrap_or(Framing::UntilClose))
    }
}

/// What a response's framing depends on in its request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The request was HEAD.
    pub head_method: bool,
    /// The request was CONNECT.
    pub connect: bool,
    /// The request asked for a hijacked stream (`Upgrade: tcp`).
    pub hijack: bool,
    /// The request asked for HTTP/2 (`Upgrade: h2c`, RFC 7540 section 3.2).
    pub h2c: bool,
}

impl RequestFacts {
    /// The facts of request head `h`.
    pub fn of(h: &Head) -> Self {
        let method = match &h.start {
            Start::Request { method, .. } => method.as_str(),
            Start::Response { .. } => "",
        };
        RequestFacts {
            head_method: method == "HEAD",
            connect: method == "CONNECT",
            hijack: h.lists("upgrade", "tcp"),
            h2c: h.lists("upgrade", "h2c"),
        }
    }
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Where `inner`, a slice of `outer`, begins in it.
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// The head at the start of `buf` (a client's request or a server's response).
pub fn parse(buf: &[u8], from_server: bool) -> Parsed {
    if start_line(buf, from_server) == Some(false) {
        return Parsed::Invalid(Error::BadHead("no start line".into()));
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let (res, start, raw) = if from_server {
        let mut r = httparse::Response::new(&mut fields);
        let res = r.parse(buf);
        let start = Start::Response {
            status: r.code.unwrap_or(0),
            reason: r.reason.unwrap_or_default().to_string(),
        };
        (res, start, r.headers)
    } else {
        let mut r = httparse::Request::new(&mut fields);
        let res = r.parse(buf);
        let start = Start::Request {
            method: r.method.unwrap_or_default().to_string(),
            target: r.path.unwrap_or_default().to_string(),
        };
        (res, start, r.headers)
    };
    match res {
        Ok(httparse::Status::Complete(len)) => {
            let fields = raw
                .iter()
                .map(|h| {
                    let at = offset_in(buf, h.value);
                    Field {
                        name: h.name.to_string(),
                        value: h.value.to_vec(),
                        at: at..at + h.value.len(),
                    }
                })
                .collect();
            Parsed::Complete(Head { start, fields, len })
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            Parsed::Invalid(Error::HeadTooLong)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(e) => Parsed::Invalid(Error::BadHead(e.to_string())),
    }
}

/// Whether `bytes` begins with a request line (`!from_server`) or a status
/// line: `None` while the bytes so far could still be one.
pub fn start_line(bytes: &[u8], from_server: bool) -> Option<bool> {
    let end = memchr::memchr(b'\n', &bytes[..bytes.len().min(MAX_LINE)]);
    let line = match end {
        // A bare LF ends a line too (RFC 9112 section 2.2 lets a recipient
        // accept it, and httparse does).
        Some(i) => bytes[..i].strip_suffix(b"\r").unwrap_or(&bytes[..i]),
        None if bytes.len() >= MAX_LINE => return Some(false),
        // The CR of the CRLF may have come without its LF.
        None => bytes.strip_suffix(b"\r").unwrap_or(bytes),
    };
    let complete = end.is_some();
    let ok = match from_server {
        true => status_line(line, complete),
        false => request_line(line, complete),
    };
    match ok {
        false => Some(false),
        true if complete => Some(true),
        true => None,
    }
}

/// `prefix` is `whole` or a beginning of it.
fn prefix_of(prefix: &[u8], whole: &[u8]) -> bool {
    let n = prefix.len().min(whole.len());
    prefix[..n] == whole[..n]
}

/// `HTTP/1.x`, or a beginning of it when `complete` is false.
fn version(v: &[u8], complete: bool) -> bool {
    match complete {
        true => v.len() == 8 && v.starts_with(b"HTTP/1.") && v[7].is_ascii_digit(),
        false => {
            v.len() <= 8 && prefix_of(v, b"HTTP/1.") && v.get(7).is_none_or(u8::is_ascii_digit)
        }
    }
}

fn request_line(line: &[u8], complete: bool) -> bool {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let method_ok = |m: &[u8]| {
        !m.is_empty()
            && m.len() <= MAX_METHOD
            && m.iter()
                .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_')
    };
    let Some(target) = parts.next() else {
        // No space yet: the method may still be growing.
        return !complete && (method.is_empty() || method_ok(method)) && method.len() <= MAX_METHOD;
    };
    if !method_ok(method) {
        return false;
    }
    let target_ok = target.iter().all(|b| b.is_ascii_graphic());
    let Some(v) = parts.next() else {
        return !complete && target_ok;
    };
    !target.is_empty() && target_ok && version(v, complete)
}

fn status_line(line: &[u8], complete: bool) -> bool {
    let (v, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let Some(rest) = rest else {
        return !complete && version(v, false);
    };
    if !version(v, true) {
        return false;
    }
    let code = &rest[..rest.len().min(3)];
    let code_ok = code.iter().all(u8::is_ascii_digit) && code.first() != Some(&b'0');
    match complete {
        true => code.len() == 3 && code_ok && matches!(rest.get(3), None | Some(b' ')),
        false => code_ok && rest.get(3).is_none_or(|&b| b == b' '),
    }
}
