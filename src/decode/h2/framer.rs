//! Frame boundaries in one direction's byte stream: the client preface,
//! frames while in sync, known-size gaps, and resynchronisation by scanning
//! for a plausible frame header when the position is unknown.
//!
//! Every decision depends only on the bytes, never on how they were split
//! into chunks, so any split of a stream gives the same frames.

use super::frame::{self, flags, Frame, Head, Kind, HEAD_LEN};
use super::hpack;
use crate::decode::stream_buf::StreamBuf;
use crate::decode::Error;
use std::ops::Range;

/// The client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How far past the highest stream id seen a resync candidate's stream id may be.
const STREAM_WINDOW: u32 = 1 << 16;
/// Highest error code RFC 9113 section 7 defines (HTTP_1_1_REQUIRED).
const MAX_ERROR_CODE: u32 = 0xd;

/// Limits from the connection state that decide what a frame may look like.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest payload accepted while in sync.
    pub sync_max: u32,
    /// Largest payload of a resync candidate.
    pub scan_max: u32,
    /// Whether this is the server's direction (PUSH_PROMISE is possible).
    pub from_server: bool,
    /// Highest stream id seen on the connection.
    pub highest_stream: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting the client preface; `required` when the connection is
    /// known to start here, else it is only looked for.
    Preface { required: bool },
    /// At a frame boundary.
    Sync,
    /// Inside a frame damaged by a gap: skip this many bytes to the next boundary.
    Skip(u64),
    /// Position unknown: scanning; `skipped` bytes dropped so far.
    Resync { skipped: u64 },
}

/// What `advance` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The client preface was consumed.
    Preface,
    /// A valid frame; its payload is `bytes(range)` until the next `push`.
    Frame(Head, Range<usize>),
    /// Frame boundary found after dropping `skipped` bytes.
    Resynced {
        /// Bytes dropped while searching.
        skipped: u64,
    },
    /// A framing error; the framer now searches for the next boundary.
    Invalid(Error),
}

/// What a gap did to the framing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GapOutcome {
    /// The frame in progress whose bytes were partly lost, if its header was known.
    pub damaged: Option<Head>,
    /// Frame boundaries are lost (search starts again).
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

impl Framer {
    /// Client direction: `at_start` requires the preface, otherwise it is
    /// recognised if present and a frame boundary is searched for if not.
    pub fn client(at_start: bool) -> Self {
        Self::with_state(State::Preface { required: at_start })
    }

    /// Server direction: in sync at its first byte only when `at_start`.
    pub fn server(at_start: bool) -> Self {
        Self::with_state(match at_start {
            true => State::Sync,
            false => State::Resync { skipped: 0 },
        })
    }

    fn with_state(state: State) -> Self {
        Framer {
            s: StreamBuf::default(),
            state,
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
    pub fn advance(&mut self, lim: &Limits) -> Option<Step> {
        loop {
            let avail = &self.s.buf[self.s.pos..];
            match self.state {
                State::Preface { required } => {
                    let n = avail.len().min(PREFACE.len());
                    if avail[..n] != PREFACE[..n] {
                        self.state = State::Resync { skipped: 0 };
                        if required {
                            return Some(Step::Invalid(Error::BadPreface));
                        }
                        continue;
                    }
                    if n < PREFACE.len() {
                        return None;
                    }
                    self.s.pos += PREFACE.len();
                    self.state = State::Sync;
                    return Some(Step::Preface);
                }
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
                    let head = Head::parse_prefix(avail)?;
                    if head.length > lim.sync_max {
                        self.skip_bad_header();
                        return Some(Step::Invalid(Error::FrameTooLarge {
                            length: head.length,
                            max: lim.sync_max,
                        }));
                    }
                    let start = self.s.pos + HEAD_LEN;
                    let end = start + head.length as usize;
                    let payload = self.s.buf.get(start..end)?;
                    if let Err(e) = frame::load(&head, payload) {
                        self.skip_bad_header();
                        return Some(Step::Invalid(Error::Frame(e)));
                    }
                    self.s.pos = end;
                    return Some(Step::Frame(head, start..end));
                }
                State::Resync { skipped } => return self.scan(skipped, lim),
            }
        }
    }

    /// The frame at `pos` is invalid: search for a boundary after its first byte.
    fn skip_bad_header(&mut self) {
        self.s.pos += 1;
        self.state = State::Resync { skipped: 1 };
    }

    fn scan(&mut self, skipped: u64, lim: &Limits) -> Option<Step> {
        let mut p = self.s.pos;
        loop {
            let verdict = candidate(&self.s.buf[p..], lim);
            if let Verdict::Reject = verdict {
                p += 1;
                continue;
            }
            let skipped = skipped.saturating_add((p - self.s.pos) as u64);
            self.s.pos = p;
            if let Verdict::NeedMore = verdict {
                self.state = State::Resync { skipped };
                return None;
            }
            self.state = State::Sync;
            return Some(Step::Resynced { skipped });
        }
    }

    /// At the end of the stream: when still searching, accept the first
    /// position from which plausible frames run exactly to the last byte
    /// (nothing will come to confirm a candidate otherwise).
    pub fn finish(&mut self, lim: &Limits) -> Option<Step> {
        let State::Resync { skipped } = self.state else {
            return None;
        };
        let p = (self.s.pos..self.s.buf.len()).find(|&p| chains_to_end(&self.s.buf[p..], lim))?;
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
                Some(head) => {
                    out.damaged = Some(head);
                    let total = HEAD_LEN as u64 + u64::from(head.length);
                    match total.checked_sub(have.saturating_add(n)) {
                        Some(rest) => {
                            out.lost_sync = false;
                            State::Skip(rest)
                        }
                        None => State::Resync { skipped: have },
                    }
                }
                None => State::Resync { skipped: have },
            },
            State::Skip(r) if n <= r => {
                out.lost_sync = false;
                State::Skip(r - n)
            }
            State::Skip(_) | State::Preface { .. } => State::Resync { skipped: have },
            State::Resync { skipped } => State::Resync {
                skipped: skipped.saturating_add(have),
            },
        };
        self.s.lose(n);
        out
    }
}

/// Whether a frame header could have been sent by a gRPC peer: a known type,
/// only defined flags, reserved bit clear, fixed lengths right, stream 0
/// exactly for connection frames, client-initiated (odd) streams otherwise,
/// not far above the highest stream seen.
pub(crate) fn plausible(head: &Head, lim: &Limits) -> bool {
    if head.reserved || head.length > lim.scan_max {
        return false;
    }
    if head.flags & !head.kind.defined_flags() != 0 {
        return false;
    }
    let sid = head.stream_id;
    let stream = sid % 2 == 1
        && !matches!(lim.highest_stream, Some(h) if sid > h.saturating_add(STREAM_WINDOW));
    let len = head.length;
    match head.kind {
        Kind::Data | Kind::Headers | Kind::Continuation => stream,
        Kind::Priority => stream && len == 5,
        Kind::RstStream => stream && len == 4,
        Kind::PushPromise => lim.from_server && stream && len >= 4,
        Kind::Settings if head.has(flags::ACK) => sid == 0 && len == 0,
        Kind::Settings => sid == 0 && len % 6 == 0,
        Kind::Ping => sid == 0 && len == 8,
        Kind::Goaway => sid == 0 && len >= 8,
        Kind::WindowUpdate => len == 4 && (sid == 0 || stream),
        Kind::Unknown(_) => false,
    }
}

/// Checks of a candidate's payload beyond `frame::load`: known error codes,
/// and a complete header block must parse as HPACK (with an unknown table).
fn plausible_payload(frame: &Frame<'_>) -> bool {
    match frame {
        Frame::RstStream { error_code, .. } | Frame::Goaway { error_code, .. } => {
            *error_code <= MAX_ERROR_CODE
        }
        Frame::Headers {
            end_headers: true,
            fragment,
            ..
        } => matches!(
            hpack::Decoder::new(false).decode(fragment),
            Ok(hpack::Block { desync: None, .. })
        ),
        _ => true,
    }
}

/// Length of the plausible frame at the start of `bytes`, or why not.
fn frame_at(bytes: &[u8], lim: &Limits) -> Result<usize, Verdict> {
    let head = Head::parse_prefix(bytes).ok_or(Verdict::NeedMore)?;
    if !plausible(&head, lim) {
        return Err(Verdict::Reject);
    }
    let end = HEAD_LEN + head.length as usize;
    let payload = bytes.get(HEAD_LEN..end).ok_or(Verdict::NeedMore)?;
    match frame::load(&head, payload) {
        Ok(f) if plausible_payload(&f) => Ok(end),
        _ => Err(Verdict::Reject),
    }
}

/// A resync candidate: a plausible frame followed by a plausible header.
fn candidate(bytes: &[u8], lim: &Limits) -> Verdict {
    let end = match frame_at(bytes, lim) {
        Ok(end) => end,
        Err(v) => return v,
    };
    match Head::parse_prefix(&bytes[end..]) {
        None => Verdict::NeedMore,
        Some(next) if plausible(&next, lim) => Verdict::Accept,
        Some(_) => Verdict::Reject,
    }
}

/// Whether `bytes` is one or more plausible frames ending exactly at its end.
fn chains_to_end(mut bytes: &[u8], lim: &Limits) -> bool {
    if bytes.is_empty() {
        return false;
    }
    while !bytes.is_empty() {
        match frame_at(bytes, lim) {
            Ok(end) => bytes = &bytes[end..],
            Err(_) => return false,
        }
    }
    true
}
