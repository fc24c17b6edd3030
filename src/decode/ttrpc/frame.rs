//! The ttrpc frame header (containerd/ttrpc PROTOCOL.md, "Message Frame"):
//! 10 bytes, big-endian `length u32 | stream_id u32 | type u8 | flags u8`,
//! then `length` bytes of data.

use super::Error;

/// Size of the frame header.
pub const HEAD_LEN: usize = 10;
/// Largest data length: "The maximum data length is 4MB and any larger size
/// should be rejected" (PROTOCOL.md); ttrpc's `messageLengthMax` is `4 << 20`.
pub const MAX_LENGTH: u32 = 4 << 20;

/// Flag 0x01, `remote closed`: the sender sends nothing more on the stream
/// (on a request: non-unary, no data follows; on data: the last one).
pub const REMOTE_CLOSED: u8 = 0x01;
/// Flag 0x02, `remote open`: a request whose sender goes on sending data.
pub const REMOTE_OPEN: u8 = 0x02;
/// Flag 0x04, `no data`: a data frame that carries no message, only flags
/// (ttrpc's `flagNoData`, used by `CloseSend`).
pub const NO_DATA: u8 = 0x04;
/// Every flag ttrpc defines.
pub const KNOWN_FLAGS: u8 = REMOTE_CLOSED | REMOTE_OPEN | NO_DATA;

/// The message type (PROTOCOL.md, "Message Types").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 0x01: opens a stream with a `ttrpc.Request` envelope.
    Request,
    /// 0x02: ends a stream with a `ttrpc.Response` envelope.
    Response,
    /// 0x03: a stream message, not wrapped in an envelope.
    Data,
}

impl Kind {
    /// The type of byte `b`, if defined.
    pub fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Request),
            2 => Some(Kind::Response),
            3 => Some(Kind::Data),
            _ => None,
        }
    }

    /// The flags a sender of this type may set. Responses define none
    /// ("flags should be empty"); requests `remote closed`/`remote open`;
    /// data `remote closed` and, in Go's client, `no data`.
    pub fn allowed_flags(self) -> u8 {
        match self {
            Kind::Request => REMOTE_CLOSED | REMOTE_OPEN,
            Kind::Response => 0,
            Kind::Data => REMOTE_CLOSED | NO_DATA,
        }
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Data length (after the header).
    pub length: u32,
    /// Stream id: odd for client-initiated streams, the only kind ttrpc has.
    pub stream_id: u32,
    /// Message type.
    pub kind: Kind,
    /// Flags as sent.
    pub flags: u8,
}

impl Head {
    /// The header at the start of `bytes`: `None` when fewer than
    /// [`HEAD_LEN`] bytes are there, an error when it breaks a rule every
    /// ttrpc peer keeps (length, type, flags, an odd non-zero stream id).
    pub fn parse_prefix(bytes: &[u8]) -> Option<Result<Head, Error>> {
        let b: &[u8; HEAD_LEN] = bytes.first_chunk()?;
        let length = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let stream_id = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        let flags = b[9];
        let Some(kind) = Kind::from_byte(b[8]) else {
            return Some(Err(Error::UnknownType { kind: b[8] }));
        };
        Some(if length > MAX_LENGTH {
            Err(Error::TooLong { length })
        } else if flags & !KNOWN_FLAGS != 0 {
            Err(Error::UnknownFlags { flags })
        } else if stream_id % 2 == 0 {
            // PROTOCOL.md: "Server initiated streams are not currently supported."
            Err(Error::EvenStream { stream_id })
        } else {
            Ok(Head {
                length,
                stream_id,
                kind,
                flags,
            })
        })
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether the flags are those its type defines, the stricter test a
    /// header must pass to be taken as a frame boundary when searching.
    pub fn strict_flags(&self) -> bool {
        self.flags & !self.kind.allowed_flags() == 0
    }

    /// Header plus data.
    pub fn frame_len(&self) -> usize {
        HEAD_LEN + self.length as usize
    }
}

#[cfg(test)]
mod tests;
