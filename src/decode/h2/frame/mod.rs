//! HTTP/2 frames (RFC 9113 section 4 and 6): the 9-byte header and the
//! payload of every frame type, parsed without copying.
//!
//! `load(head, payload)` checks only what the frame itself can tell (stream
//! id zero or not, fixed lengths, padding, setting values); connection state
//! such as CONTINUATION sequencing lives in the connection decoder.

use std::fmt;

/// Length of the frame header (RFC 9113 section 4.1).
pub const HEAD_LEN: usize = 9;
/// Initial SETTINGS_MAX_FRAME_SIZE (RFC 9113 section 6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// Largest SETTINGS_MAX_FRAME_SIZE a peer may advertise: 2^24-1 (RFC 9113 section 6.5.2).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

mod head;
pub use head::{flags, setting, Head, Kind};

/// A frame's bytes: the 9-byte header for `payload`, then `payload`.
pub fn encode(kind: Kind, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(HEAD_LEN + payload.len());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.push(kind.to_byte());
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Why a frame payload is invalid for its type (RFC 9113 section 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The payload slice given to `load` is not `head.length` bytes long.
    LengthMismatch {
        /// Length from the header.
        expected: u32,
        /// Bytes given.
        got: usize,
    },
    /// A stream frame (DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE,
    /// CONTINUATION) on stream 0: PROTOCOL_ERROR.
    StreamIdZero(Kind),
    /// A connection frame (SETTINGS, PING, GOAWAY) on a non-zero stream: PROTOCOL_ERROR.
    StreamIdNonZero(Kind),
    /// The payload is too short for the fields its flags announce, or has a
    /// size the type forbids: FRAME_SIZE_ERROR.
    BadLength(Kind, u32),
    /// Pad Length is not smaller than the rest of the payload (RFC 9113
    /// sections 6.1, 6.2, 6.6): PROTOCOL_ERROR.
    PaddingTooLong(Kind),
    /// A SETTINGS value out of its range (RFC 9113 section 6.5.2).
    BadSetting {
        /// Parameter identifier.
        id: u16,
        /// Value sent.
        value: u32,
    },
    /// A WINDOW_UPDATE with increment 0 (RFC 9113 section 6.9): PROTOCOL_ERROR.
    ZeroWindowIncrement,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LengthMismatch { expected, got } => {
                write!(f, "frame payload is {got} bytes, header says {expected}")
            }
            Error::StreamIdZero(k) => write!(f, "{k} frame on stream 0"),
            Error::StreamIdNonZero(k) => write!(f, "{k} frame on a stream other than 0"),
            Error::BadLength(k, n) => write!(f, "{k} frame with invalid length {n}"),
            Error::PaddingTooLong(k) => write!(f, "{k} frame padding exceeds its payload"),
            Error::BadSetting { id, value } => {
                write!(f, "SETTINGS parameter 0x{id:x} has invalid value {value}")
            }
            Error::ZeroWindowIncrement => f.write_str("WINDOW_UPDATE with increment 0"),
        }
    }
}

impl std::error::Error for Error {}

/// Stream dependency and weight (RFC 9113 section 5.3.2, deprecated but still parsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrioritySpec {
    /// Exclusive flag.
    pub exclusive: bool,
    /// Stream this one depends on.
    pub dependency: u32,
    /// Weight minus one, as sent.
    pub weight: u8,
}

impl PrioritySpec {
    fn parse(b: &[u8; 5]) -> PrioritySpec {
        let dep = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        PrioritySpec {
            exclusive: dep & 0x8000_0000 != 0,
            dependency: dep & 0x7fff_ffff,
            weight: b[4],
        }
    }
}

/// A parsed frame; byte fields borrow from the payload given to `load`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA (RFC 9113 section 6.1).
    Data {
        /// Stream.
        stream_id: u32,
        /// END_STREAM flag.
        end_stream: bool,
        /// Data without padding.
        data: &'a [u8],
    },
    /// HEADERS (RFC 9113 section 6.2).
    Headers {
        /// Stream.
        stream_id: u32,
        /// END_STREAM flag.
        end_stream: bool,
        /// END_HEADERS flag: no CONTINUATION follows.
        end_headers: bool,
        /// Present when the PRIORITY flag is set.
        priority: Option<PrioritySpec>,
        /// Header block fragment without padding.
        fragment: &'a [u8],
    },
    /// PRIORITY (RFC 9113 section 6.3).
    Priority {
        /// Stream.
        stream_id: u32,
        /// Dependency and weight.
        spec: PrioritySpec,
    },
    /// RST_STREAM (RFC 9113 section 6.4).
    RstStream {
        /// Stream.
        stream_id: u32,
        /// Error code (RFC 9113 section 7).
        error_code: u32,
    },
    /// SETTINGS (RFC 9113 section 6.5).
    Settings(Settings<'a>),
    /// PUSH_PROMISE (RFC 9113 section 6.6).
    PushPromise {
        /// Stream the promise is associated with.
        stream_id: u32,
        /// Stream reserved for the push.
        promised_id: u32,
        /// END_HEADERS flag.
        end_headers: bool,
        /// Header block fragment without padding.
        fragment: &'a [u8],
    },
    /// PING (RFC 9113 section 6.7).
    Ping {
        /// ACK flag.
        ack: bool,
        /// Opaque data.
        data: [u8; 8],
    },
    /// GOAWAY (RFC 9113 section 6.8).
    Goaway {
        /// Highest stream the sender may have processed.
        last_stream_id: u32,
        /// Error code (RFC 9113 section 7).
        error_code: u32,
        /// Additional debug data.
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE (RFC 9113 section 6.9).
    WindowUpdate {
        /// Stream, or 0 for the connection.
        stream_id: u32,
        /// Window size increment (1..=2^31-1).
        increment: u32,
    },
    /// CONTINUATION (RFC 9113 section 6.10).
    Continuation {
        /// Stream.
        stream_id: u32,
        /// END_HEADERS flag.
        end_headers: bool,
        /// Header block fragment.
        fragment: &'a [u8],
    },
    /// A frame of a type this decoder does not know, kept as it came.
    Unknown {
        /// Its header.
        head: Head,
        /// Its payload.
        payload: &'a [u8],
    },
}

/// A SETTINGS frame; parameters stay in wire form and are read by `iter`/`get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    /// ACK flag: acknowledges the peer's SETTINGS and carries none.
    pub ack: bool,
    raw: &'a [u8],
}

impl<'a> Settings<'a> {
    /// Parameters in order, as (identifier, value).
    pub fn iter(&self) -> impl Iterator<Item = (u16, u32)> + 'a {
        self.raw.chunks_exact(6).map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
    }

    /// The last value given for `id`, which is the one in force.
    pub fn get(&self, id: u16) -> Option<u32> {
        self.iter().filter(|(i, _)| *i == id).map(|(_, v)| v).last()
    }
}

fn be32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// Strips padding (RFC 9113 section 6.1): the first byte is the Pad Length,
/// and it must be smaller than what follows it.
fn unpad(kind: Kind, padded: bool, payload: &[u8]) -> Result<&[u8], Error> {
    if !padded {
        return Ok(payload);
    }
    let (&pad, rest) = payload.split_first().ok_or(Error::BadLength(kind, 0))?;
    let keep = rest
        .len()
        .checked_sub(usize::from(pad))
        .ok_or(Error::PaddingTooLong(kind))?;
    Ok(&rest[..keep])
}

fn need_stream(head: &Head) -> Result<u32, Error> {
    match head.stream_id {
        0 => Err(Error::StreamIdZero(head.kind)),
        id => Ok(id),
    }
}

fn need_connection(head: &Head) -> Result<(), Error> {
    match head.stream_id {
        0 => Ok(()),
        _ => Err(Error::StreamIdNonZero(head.kind)),
    }
}

fn need_len(head: &Head, len: u32) -> Result<(), Error> {
    match head.length == len {
        true => Ok(()),
        false => Err(Error::BadLength(head.kind, head.length)),
    }
}

/// Parses the payload of the frame with header `head`.
pub fn load<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, Error> {
    if payload.len() != head.length as usize {
        return Err(Error::LengthMismatch {
            expected: head.length,
            got: payload.len(),
        });
    }
    let bad_len = Error::BadLength(head.kind, head.length);
    match head.kind {
        Kind::Data => Ok(Frame::Data {
            stream_id: need_stream(head)?,
            end_stream: head.has(flags::END_STREAM),
            data: unpad(head.kind, head.has(flags::PADDED), payload)?,
        }),
        Kind::Headers => {
            let stream_id = need_stream(head)?;
            let mut rest = unpad(head.kind, head.has(flags::PADDED), payload)?;
            let mut priority = None;
            if head.has(flags::PRIORITY) {
                let spec: &[u8; 5] = rest
                    .get(..5)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(bad_len)?;
                priority = Some(PrioritySpec::parse(spec));
                rest = &rest[5..];
            }
            Ok(Frame::Headers {
                stream_id,
                end_stream: head.has(flags::END_STREAM),
                end_headers: head.has(flags::END_HEADERS),
                priority,
                fragment: rest,
            })
        }
        Kind::Priority => {
            let stream_id = need_stream(head)?;
            let spec: &[u8; 5] = payload.try_into().map_err(|_| bad_len)?;
            Ok(Frame::Priority {
                stream_id,
                spec: PrioritySpec::parse(spec),
            })
        }
        Kind::RstStream => {
            let stream_id = need_stream(head)?;
            need_len(head, 4)?;
            Ok(Frame::RstStream {
                stream_id,
                error_code: be32(payload),
            })
        }
        Kind::Settings => load_settings(head, payload),
        Kind::PushPromise => {
            let stream_id = need_stream(head)?;
            let rest = unpad(head.kind, head.has(flags::PADDED), payload)?;
            if rest.len() < 4 {
                return Err(bad_len);
            }
            Ok(Frame::PushPromise {
                stream_id,
                promised_id: be32(rest) & 0x7fff_ffff,
                end_headers: head.has(flags::END_HEADERS),
                fragment: &rest[4..],
            })
        }
        Kind::Ping => {
            need_connection(head)?;
            let data: [u8; 8] = payload.try_into().map_err(|_| bad_len)?;
            Ok(Frame::Ping {
                ack: head.has(flags::ACK),
                data,
            })
        }
        Kind::Goaway => {
            need_connection(head)?;
            if payload.len() < 8 {
                return Err(bad_len);
            }
            Ok(Frame::Goaway {
                last_stream_id: be32(payload) & 0x7fff_ffff,
                error_code: be32(&payload[4..]),
                debug: &payload[8..],
            })
        }
        Kind::WindowUpdate => {
            need_len(head, 4)?;
            let increment = be32(payload) & 0x7fff_ffff;
            if increment == 0 {
                return Err(Error::ZeroWindowIncrement);
            }
            Ok(Frame::WindowUpdate {
                stream_id: head.stream_id,
                increment,
            })
        }
        Kind::Continuation => Ok(Frame::Continuation {
            stream_id: need_stream(head)?,
            end_headers: head.has(flags::END_HEADERS),
            fragment: payload,
        }),
        Kind::Unknown(_) => Ok(Frame::Unknown {
            head: *head,
            payload,
        }),
    }
}

/// RFC 9113 section 6.5: stream 0, length a multiple of 6, empty with ACK;
/// section 6.5.2 gives the value ranges checked here. Unknown identifiers are ignored.
fn load_settings<'a>(head: &Head, payload: &'a [u8]) -> Result<Frame<'a>, Error> {
    need_connection(head)?;
    let ack = head.has(flags::ACK);
    if (ack && !payload.is_empty()) || payload.len() % 6 != 0 {
        return Err(Error::BadLength(head.kind, head.length));
    }
    let settings = Settings { ack, raw: payload };
    for (id, value) in settings.iter() {
        let ok = match id {
            setting::ENABLE_PUSH => value <= 1,
            setting::INITIAL_WINDOW_SIZE => value <= 0x7fff_ffff,
            setting::MAX_FRAME_SIZE => {
                (DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value)
            }
            _ => true,
        };
        if !ok {
            return Err(Error::BadSetting { id, value });
        }
    }
    Ok(Frame::Settings(settings))
}

/// The name of an HTTP/2 error code (RFC 9113 section 7), if it is one.
pub fn error_code_name(code: u32) -> Option<&'static str> {
    const NAMES: [&str; 14] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    ];
    NAMES.get(usize::try_from(code).ok()?).copied()
}

#[cfg(test)]
mod tests;
