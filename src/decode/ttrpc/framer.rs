//! Frame boundaries in one direction of a ttrpc connection: frames while in
//! sync, known-size gaps, and the search for a boundary when the position
//! is unknown (at the start of every capture, since ttrpc has no preface,
//! and after lost bytes).
//!
//! Every decision depends only on the bytes, never on how they were split
//! into writes, so any split of a stream gives the same frames. Memory is
//! bounded: in sync the framer holds at most one frame ([`super::frame::MAX_LENGTH`] plus
//! its header), searching at most one candidate ([`SCAN_MAX`] plus two
//! headers).

use std::ops::Range;

use super::frame::{Head, Kind, HEAD_LEN};
use super::message::{self, RequestEnv, ResponseEnv};
use super::Error;
use crate::decode::stream_buf::StreamBuf;

/// Largest data length of a frame taken as a boundary while searching. A
/// stray header in the middle of a payload would otherwise hold decoding
/// back until up to 4 MiB more arrived; containerd's shim messages are a
/// few KiB at most, and a longer real frame is only skipped, not misread.
pub const SCAN_MAX: u32 = 1 << 20;
/// Largest status code of a response taken as a boundary while searching
/// (gRPC's codes end at 16, UNAUTHENTICATED).
const MAX_STATUS: u32 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At a frame boundary.
    Sync,
    /// Inside a frame damaged by a gap: skip this many bytes to the next boundary.
    Skip(u64),
    /// Position unknown: searching; `skipped` bytes dropped so far.
    Search { skipped: u64 },
}

/// A frame's envelope, parsed once by the framer that validated it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A request frame's `ttrpc.Request`.
    Request(RequestEnv),
    /// A response frame's `ttrpc.Response`.
    Response(ResponseEnv),
    /// A data frame: the data is the message itself.
    Data,
}

/// What `advance` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A frame; its data is `bytes(range)` until the next `push`, and
    /// envelope ranges are relative to the data.
    Frame(Head, Range<usize>, Body),
    /// A frame boundary was found after dropping `skipped` bytes.
    Resynced {
        /// Bytes dropped while searching.
        skipped: u64,
    },
    /// A header or envelope no ttrpc peer sends: the framer searches for
    /// the next boundary from the byte after the frame's first.
    Invalid(Error),
}

/// What a gap did to the framing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GapOutcome {
    /// The frame whose bytes were partly lost, if its header was known.
    pub damaged: Option<Head>,
    /// Frame boundaries are lost (the search starts again).
    pub lost_sync: bool,
}

/// Framing state of one direction.
#[derive(Debug)]
pub struct Framer {
    s: StreamBuf,
    state: State,
}

enum Verdict {
    Accept,
    Reject,
    NeedMore,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer that does not know where frames start: ttrpc has no
    /// preface, so even a connection's first byte is checked like any
    /// other candidate.
    pub fn new() -> Self {
        Framer {
            s: StreamBuf::default(),
            state: State::Search { skipped: 0 },
        }
    }

    /// Appends captured bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.s.push(data);
    }

    /// Bytes of a frame returned by `advance`.
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        self.s.bytes(range)
    }

    /// Stream offset of the byte at `index` of a range returned by `advance`.
    pub fn stream_offset(&self, index: usize) -> u64 {
        self.s.stream_offset(index)
    }

    /// The next step, or `None` when more bytes are needed.
    pub fn advance(&mut self) -> Option<Step> {
        loop {
            let avail = &self.s.buf[self.s.pos..];
            match self.state {
                State::Skip(n) => {
                    let take = n.min(avail.len() as u64);
                    self.s.pos += take as usize;
                    if take < n {
                        self.state = State::Skip(n - take);
                        return None;
                    }
                    self.state = State::Sync;
                }
                State::Sync => {
                    let head = match Head::parse_prefix(avail)? {
                        Ok(head) => head,
                        Err(e) => return Some(self.invalid(e)),
                    };
                    let start = self.s.pos + HEAD_LEN;
                    let end = start + head.length as usize;
                    let data = self.s.buf.get(start..end)?;
                    let body = match body(&head, data) {
                        Ok(body) => body,
                        Err(e) => return Some(self.invalid(e)),
                    };
                    self.s.pos = end;
                    return Some(Step::Frame(head, start..end, body));
                }
                State::Search { skipped } => return self.search(skipped),
            }
        }
    }

    /// The frame at `pos` is invalid: search for a boundary after its first byte.
    fn invalid(&mut self, e: Error) -> Step {
        self.s.pos += 1;
        self.state = State::Search { skipped: 1 };
        Step::Invalid(e)
    }

    fn search(&mut self, skipped: u64) -> Option<Step> {
        let mut p = self.s.pos;
        loop {
            let verdict = candidate(&self.s.buf[p..]);
            if let Verdict::Reject = verdict {
                p += 1;
                continue;
            }
            let skipped = skipped.saturating_add((p - self.s.pos) as u64);
            self.s.pos = p;
            if let Verdict::NeedMore = verdict {
                self.state = State::Search { skipped };
                return None;
            }
            self.state = State::Sync;
            return Some(Step::Resynced { skipped });
        }
    }

    /// At the end of the stream: when still searching, accept the first
    /// position from which plausible frames run exactly to the last byte
    /// (a data frame has no next header to confirm it otherwise).
    pub fn finish(&mut self) -> Option<Step> {
        let State::Search { skipped } = self.state else {
            return None;
        };
        let p = (self.s.pos..self.s.buf.len()).find(|&p| chains_to_end(&self.s.buf[p..]))?;
        let skipped = skipped.saturating_add((p - self.s.pos) as u64);
        self.s.pos = p;
        self.state = State::Sync;
        Some(Step::Resynced { skipped })
    }

    /// `n` bytes were lost right after what was pushed so far.
    pub fn gap(&mut self, n: u64) -> GapOutcome {
        if n == 0 {
            return GapOutcome::default();
        }
        let have = self.s.unread();
        let mut out = GapOutcome {
            damaged: None,
            lost_sync: true,
        };
        self.state = match self.state {
            State::Sync => match Head::parse_prefix(&self.s.buf[self.s.pos..]) {
                // The header of the frame in progress is known, so if the gap
                // ends inside that frame the next boundary is known too.
                Some(Ok(head)) => {
                    out.damaged = Some(head);
                    let total = head.frame_len() as u64;
                    match total.checked_sub(have.saturating_add(n)) {
                        Some(rest) => {
                            out.lost_sync = false;
                            State::Skip(rest)
                        }
                        None => State::Search { skipped: have },
                    }
                }
                _ => State::Search { skipped: have },
            },
            State::Skip(r) if n <= r => {
                out.lost_sync = false;
                State::Skip(r - n)
            }
            State::Skip(_) => State::Search { skipped: have },
            State::Search { skipped } => State::Search {
                skipped: skipped.saturating_add(have),
            },
        };
        self.s.lose(n);
        out
    }
}

/// The envelope of a frame whose header is valid.
fn body(head: &Head, data: &[u8]) -> Result<Body, Error> {
    let stream_id = head.stream_id;
    match head.kind {
        Kind::Request => message::parse_request(data)
            .map(Body::Request)
            .ok_or(Error::BadRequest { stream_id }),
        Kind::Response => message::parse_response(data)
            .map(Body::Response)
            .ok_or(Error::BadResponse { stream_id }),
        Kind::Data => Ok(Body::Data),
    }
}

/// The frame at the start of `bytes` as a boundary candidate: its length if
/// its header has its type's flags and a searchable length, and its
/// envelope parses; `strong` says the frame proves itself (a request naming
/// a method, a response with a known status or none) without a following
/// header.
fn frame_at(bytes: &[u8]) -> Result<(usize, bool), Verdict> {
    let head = match Head::parse_prefix(bytes) {
        None => return Err(Verdict::NeedMore),
        Some(Ok(h)) if h.strict_flags() && h.length <= SCAN_MAX => h,
        Some(_) => return Err(Verdict::Reject),
    };
    let end = head.frame_len();
    let data = bytes.get(HEAD_LEN..end).ok_or(Verdict::NeedMore)?;
    let strong = match body(&head, data).map_err(|_| Verdict::Reject)? {
        Body::Request(r) if r.names_plausible() => true,
        // containerd 1.6's shims leave the status out of OK responses (and
        // an empty response is then zero bytes): the header's type, flags
        // and length and an envelope that parses are the evidence.
        Body::Response(ResponseEnv { status, .. })
            if status.as_ref().is_none_or(|s| s.code <= MAX_STATUS) =>
        {
            true
        }
        Body::Data => false,
        _ => return Err(Verdict::Reject),
    };
    Ok((end, strong))
}

/// A boundary candidate: a frame that proves itself, or a plausible frame
/// followed by a plausible header.
fn candidate(bytes: &[u8]) -> Verdict {
    let end = match frame_at(bytes) {
        Ok((_, true)) => return Verdict::Accept,
        Ok((end, false)) => end,
        Err(v) => return v,
    };
    match Head::parse_prefix(&bytes[end..]) {
        None => Verdict::NeedMore,
        Some(Ok(next)) if next.strict_flags() => Verdict::Accept,
        Some(_) => Verdict::Reject,
    }
}

/// Whether `bytes` is one or more plausible frames ending exactly at its end.
fn chains_to_end(mut bytes: &[u8]) -> bool {
    if bytes.is_empty() {
        return false;
    }
    while !bytes.is_empty() {
        match frame_at(bytes) {
            Ok((end, _)) => bytes = &bytes[end..],
            Err(_) => return false,
        }
    }
    true
}

/// Whether `bytes`, the start of one direction as captured, begins at a
/// ttrpc frame boundary by the rules of the search: `Some(true)` yes,
/// `Some(false)` no, `None` when more bytes are needed to tell.
pub fn starts_with_frame(bytes: &[u8]) -> Option<bool> {
    match candidate(bytes) {
        Verdict::Accept => Some(true),
        Verdict::Reject => Some(false),
        Verdict::NeedMore => None,
    }
}

#[cfg(test)]
mod tests;
