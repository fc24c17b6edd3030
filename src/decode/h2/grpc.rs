//! gRPC over HTTP/2 message framing ("Length-Prefixed-Message" in the gRPC
//! PROTOCOL-HTTP2 spec): 1 byte compressed flag, 4 bytes big-endian length,
//! then the message, reassembled across DATA frames of one stream direction.

use std::fmt;
use std::io::Read;
use std::ops::Range;

/// Largest message accepted (compressed or decompressed); longer ones are
/// skipped with an error. gRPC's own default receive limit is 4 MiB.
pub const MAX_MESSAGE: usize = 64 << 20;
const PREFIX_LEN: usize = 5;

/// gRPC message errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A length prefix above [`MAX_MESSAGE`]; the message is skipped.
    TooLarge {
        /// Announced length.
        length: u64,
    },
    /// The compressed-flag byte is neither 0 nor 1; the stream direction
    /// loses message sync until a DATA frame that is exactly whole messages.
    BadFlag(u8),
    /// The stream ended inside a message.
    Truncated {
        /// Bytes of the message received (prefix included).
        have: usize,
        /// Bytes it should have had (prefix included), if the prefix was complete.
        want: Option<usize>,
    },
    /// The compressed flag is set but `grpc-encoding` is absent or `identity`.
    NoEncoding,
    /// The compressed flag is set and the `grpc-encoding` header was not seen.
    EncodingUnknown,
    /// An encoding this decoder does not implement (e.g. snappy).
    UnsupportedEncoding(String),
    /// The decompressor rejected the data.
    Decompress(String),
    /// Decompressed output over [`MAX_MESSAGE`].
    DecompressedTooLarge,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooLarge { length } => {
                write!(
                    f,
                    "gRPC message of {length} bytes exceeds {MAX_MESSAGE}; skipped"
                )
            }
            Error::BadFlag(b) => write!(f, "gRPC message flag 0x{b:02x} is not 0 or 1"),
            Error::Truncated { have, want } => match want {
                Some(w) => write!(
                    f,
                    "stream ended after {have} of {w} bytes of a gRPC message"
                ),
                None => write!(
                    f,
                    "stream ended after {have} bytes of a gRPC message prefix"
                ),
            },
            Error::NoEncoding => f.write_str("compressed gRPC message without grpc-encoding"),
            Error::EncodingUnknown => {
                f.write_str("compressed gRPC message; grpc-encoding was not captured")
            }
            Error::UnsupportedEncoding(e) => write!(f, "unsupported grpc-encoding {e:?}"),
            Error::Decompress(e) => write!(f, "decompression failed: {e}"),
            Error::DecompressedTooLarge => {
                write!(f, "decompressed gRPC message exceeds {MAX_MESSAGE} bytes")
            }
        }
    }
}

impl std::error::Error for Error {}

/// A message as framed, before decompression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    /// The compressed flag.
    pub compressed: bool,
    /// The message bytes.
    pub data: Vec<u8>,
    /// Where `data` lies in the direction's stream: one range per DATA
    /// frame it was carried in (frame headers and padding fall between).
    pub stream_ranges: Vec<Range<u64>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Message boundaries unknown (stream seen mid-way, or data lost).
    Lost,
    /// Collecting the 5-byte prefix into `buf`.
    Prefix,
    /// Collecting `len` message bytes into `buf`.
    Body { compressed: bool, len: usize },
    /// Skipping the rest of an over-long message.
    Skip(usize),
}

/// Reassembles messages of one direction of one stream.
#[derive(Clone, Debug)]
pub struct Assembler {
    state: State,
    buf: Vec<u8>,
    /// Stream ranges of the bytes in `buf`, while in `Body`.
    ranges: Vec<Range<u64>>,
}

impl Assembler {
    /// An assembler; `synced` says the next byte starts a message.
    pub fn new(synced: bool) -> Self {
        Assembler {
            state: if synced { State::Prefix } else { State::Lost },
            buf: Vec::new(),
            ranges: Vec::new(),
        }
    }

    /// Bytes of this stream direction were lost: boundaries are unknown again.
    pub fn lose_sync(&mut self) {
        self.state = State::Lost;
        self.buf = Vec::new();
        self.ranges = Vec::new();
    }

    /// Whether message boundaries are known.
    pub fn is_synced(&self) -> bool {
        self.state != State::Lost
    }

    /// Takes the payload of one DATA frame, which starts at offset `at` of
    /// the direction's stream; complete messages and errors go to `out`.
    ///
    /// When boundaries are unknown, a DATA frame that is exactly a sequence
    /// of whole messages re-establishes them (gRPC implementations start a
    /// frame at each message they write); other frames are dropped.
    pub fn push(&mut self, mut data: &[u8], mut at: u64, out: &mut Vec<Result<RawMessage, Error>>) {
        if self.state == State::Lost {
            if !data.is_empty() && is_whole_messages(data) {
                self.state = State::Prefix;
            } else {
                return;
            }
        }
        while !data.is_empty() {
            match self.state {
                State::Lost => return,
                State::Prefix => {
                    let take = (PREFIX_LEN - self.buf.len()).min(data.len());
                    self.buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    at += take as u64;
                    if self.buf.len() < PREFIX_LEN {
                        return;
                    }
                    let flag = self.buf[0];
                    let len =
                        u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
                    self.buf.clear();
                    let len = len as usize;
                    if flag > 1 {
                        out.push(Err(Error::BadFlag(flag)));
                        self.lose_sync();
                        return;
                    }
                    self.state = if len > MAX_MESSAGE {
                        out.push(Err(Error::TooLarge { length: len as u64 }));
                        State::Skip(len)
                    } else {
                        State::Body {
                            compressed: flag == 1,
                            len,
                        }
                    };
                }
                State::Body { compressed, len } => {
                    let take = (len - self.buf.len()).min(data.len());
                    self.buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if take > 0 {
                        self.ranges.push(at..at + take as u64);
                    }
                    at += take as u64;
                    if self.buf.len() < len {
                        return;
                    }
                    out.push(Ok(RawMessage {
                        compressed,
                        data: std::mem::take(&mut self.buf),
                        stream_ranges: std::mem::take(&mut self.ranges),
                    }));
                    self.state = State::Prefix;
                }
                State::Skip(n) => {
                    let take = n.min(data.len());
                    data = &data[take..];
                    at += take as u64;
                    self.state = match n - take {
                        0 => State::Prefix,
                        rest => State::Skip(rest),
                    };
                }
            }
        }
        // An empty message ends exactly at a prefix: emit it without more data.
        if let State::Body { compressed, len: 0 } = self.state {
            out.push(Ok(RawMessage {
                compressed,
                data: Vec::new(),
                stream_ranges: Vec::new(),
            }));
            self.state = State::Prefix;
        }
    }

    /// If the stream ends now, the error for the message left half-done.
    pub fn truncated(&self) -> Option<Error> {
        match self.state {
            State::Prefix if !self.buf.is_empty() => Some(Error::Truncated {
                have: self.buf.len(),
                want: None,
            }),
            State::Body { len, .. } => Some(Error::Truncated {
                have: PREFIX_LEN + self.buf.len(),
                want: Some(PREFIX_LEN + len),
            }),
            State::Skip(n) => Some(Error::Truncated {
                have: 0,
                want: Some(n),
            }),
            _ => None,
        }
    }
}

/// Whether `data` is one or more complete messages with valid flags.
fn is_whole_messages(mut data: &[u8]) -> bool {
    while !data.is_empty() {
        let Some(prefix) = data.get(..PREFIX_LEN) else {
            return false;
        };
        let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        if prefix[0] > 1 || len > data.len() - PREFIX_LEN {
            return false;
        }
        data = &data[PREFIX_LEN + len..];
    }
    true
}

/// A `grpc-encoding` as far as it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Header absent or `identity`.
    Identity,
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: zlib format (RFC 1950), raw deflate accepted too.
    Deflate,
    /// Any other name.
    Other(String),
    /// The headers that would say were not decoded.
    Unknown,
}

impl Encoding {
    /// From a header value; `None` means the header was absent.
    pub fn from_header(value: Option<&[u8]>) -> Encoding {
        match value {
            None | Some(b"identity") => Encoding::Identity,
            Some(b"gzip") => Encoding::Gzip,
            Some(b"deflate") => Encoding::Deflate,
            Some(other) => Encoding::Other(String::from_utf8_lossy(other).into_owned()),
        }
    }
}

/// Decompresses a message body with the stream's encoding; output is
/// bounded by [`MAX_MESSAGE`]. With the encoding unknown, gzip is still
/// recognised by its magic bytes (it carries its own checksum).
pub fn decompress(encoding: &Encoding, data: &[u8]) -> Result<Vec<u8>, Error> {
    decompress_limited(encoding, data, MAX_MESSAGE)
}

fn decompress_limited(encoding: &Encoding, data: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
    match encoding {
        Encoding::Gzip => read_bounded(GzDecoder::new(data), limit),
        Encoding::Deflate => read_bounded(ZlibDecoder::new(data), limit)
            .or_else(|_| read_bounded(DeflateDecoder::new(data), limit)),
        Encoding::Unknown if data.starts_with(&[0x1f, 0x8b]) => {
            read_bounded(GzDecoder::new(data), limit)
        }
        Encoding::Unknown => Err(Error::EncodingUnknown),
        Encoding::Identity => Err(Error::NoEncoding),
        Encoding::Other(name) => Err(Error::UnsupportedEncoding(name.clone())),
    }
}

fn read_bounded(reader: impl Read, limit: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Decompress(e.to_string()))?;
    if out.len() > limit {
        return Err(Error::DecompressedTooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
