//! Message boundaries of one HTTP/1.x direction: heads, bodies by their
//! framing, upgraded streams, gaps of known size, and resynchronisation.
//!
//! In step, every decision depends on the bytes alone, never on how they
//! were cut into writes. Out of step (the direction's first bytes, or after
//! a loss the framing cannot absorb) the framer waits for a write that
//! begins a start line, and takes it only once its head parses whole: a
//! body may hold such a line, but peers write a head at the start of a
//! write (Go's `net/http` buffers a head and writes it first).

use super::head::{self, Framing, Head, Parsed};
use super::Error;
use crate::decode::h2::PREFACE;
use crate::decode::stream_buf::StreamBuf;

/// Longest chunk-size line (with extensions) or trailer section accepted.
const MAX_LINE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Out of step: bytes are skipped up to a write that begins a head.
    Lost { skipped: u64 },
    /// A write began with a plausible start line; its head is completing.
    Tentative { skipped: u64 },
    /// In step: a head begins here.
    Head,
    /// A head was reported; its body framing is still to be told.
    AwaitFraming,
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    /// A chunk-size line comes next.
    ChunkSize,
    /// Bytes left of a chunk's data.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkDataEnd,
    /// The trailer section after the last chunk.
    Trailers,
    /// A body up to the close.
    UntilClose,
    /// The message ended; [`Step::End`] is due.
    EndDue,
    /// Not HTTP any more: every byte is stream data.
    Raw,
}

/// What the framer found next.
#[derive(Debug)]
pub enum Step<'a> {
    /// In step again after skipping this many bytes (gaps not counted).
    Resynced {
        /// Bytes skipped.
        skipped: u64,
    },
    /// A message head, at stream offset `at`.
    Head(Head, u64),
    /// Body (or stream) bytes at stream offset `at`.
    Data(&'a [u8], u64),
    /// A chunk of a chunked body ended.
    ChunkEnd,
    /// The message's body ended.
    End,
    /// The HTTP/2 connection preface came where a head would: the
    /// direction is HTTP/2 from here (its bytes, the preface first, come
    /// as [`Step::Data`]).
    H2Preface,
    /// The bytes are not HTTP/1.x; the framer waits for a write that
    /// begins a head.
    Invalid(Error),
}

/// What a gap did to the message under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapOutcome {
    /// The bytes lost were inside a body or stream: the framer is still in step.
    InBody,
    /// The gap took the rest of a body exactly: [`Step::End`] is due.
    BodyEnded,
    /// The framer lost step (the gap may hold heads).
    Lost,
}

/// One direction's framer.
#[derive(Debug)]
pub struct Framer {
    buf: StreamBuf,
    state: State,
    from_server: bool,
    /// After the current message, the bytes are a raw stream.
    then_raw: bool,
    /// A request asked for `Upgrade: h2c`: the HTTP/2 preface may come
    /// where the next head would (RFC 7540 section 3.2).
    preface_may_follow: bool,
}

impl Framer {
    /// A framer for the client's (`from_server` false) or the server's
    /// bytes, out of step until a write begins a head.
    pub fn new(from_server: bool) -> Self {
        Framer {
            buf: StreamBuf::default(),
            state: State::Lost { skipped: 0 },
            from_server,
            then_raw: false,
            preface_may_follow: false,
        }
    }

    /// Bytes held (a head under way, or a stalled response's body).
    pub fn held(&self) -> usize {
        self.buf.buf.len() - self.buf.pos
    }

    /// Whether the direction is a raw stream now.
    pub fn is_raw(&self) -> bool {
        self.state == State::Raw
    }

    /// The HTTP/2 connection preface may come where the next head would
    /// (after a request asking for `Upgrade: h2c`).
    pub fn expect_h2_preface(&mut self) {
        self.preface_may_follow = true;
    }

    /// The next write.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.push(data);
        if let State::Lost { skipped } = self.state {
            // Everything held before was skipped: `data` begins at `pos`.
            match head::start_line(data, self.from_server) {
                Some(false) => self.skip_all(skipped),
                _ => self.state = State::Tentative { skipped },
            }
        }
    }

    fn skip_all(&mut self, skipped: u64) {
        let n = self.held() as u64;
        self.buf.pos = self.buf.buf.len();
        self.state = State::Lost {
            skipped: skipped.saturating_add(n),
        };
    }

    /// The head reported last has body framing `f`; `then_raw`: after it,
    /// the direction is a raw stream.
    pub fn set_framing(&mut self, f: Framing, then_raw: bool) {
        if self.state != State::AwaitFraming {
            return;
        }
        self.then_raw = then_raw || f == Framing::Switch;
        self.state = match f {
            Framing::Empty | Framing::Switch => State::EndDue,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
    }

    /// Stream offset of the next byte not consumed.
    fn offset(&self) -> u64 {
        self.buf.stream_offset(self.buf.pos)
    }

    /// The next step, if the bytes held make one.
    pub fn advance(&mut self) -> Option<Step<'_>> {
        let avail = self.held();
        match self.state {
            State::Lost { .. } | State::AwaitFraming => None,
            State::Tentative { skipped } => {
                let at = self.buf.pos;
                match head::parse(&self.buf.buf[at..], self.from_server) {
                    Parsed::Complete(_) => {
                        self.state = State::Head;
                        Some(Step::Resynced { skipped })
                    }
                    Parsed::Partial => None,
                    Parsed::Invalid(_) => {
                        self.skip_all(skipped);
                        None
                    }
                }
            }
            State::Head if self.preface_may_follow => {
                let held = &self.buf.buf[self.buf.pos..];
                let n = held.len().min(PREFACE.len());
                if held[..n] != PREFACE[..n] {
                    self.preface_may_follow = false;
                    return self.advance();
                }
                if n < PREFACE.len() {
                    return None;
                }
                self.preface_may_follow = false;
                self.state = State::Raw;
                Some(Step::H2Preface)
            }
            State::Head if avail == 0 => None,
            State::Head => {
                let at = self.offset();
                match head::parse(&self.buf.buf[self.buf.pos..], self.from_server) {
                    Parsed::Complete(h) => {
                        self.buf.pos += h.len;
                        self.state = State::AwaitFraming;
                        Some(Step::Head(h, at))
                    }
                    Parsed::Partial => None,
                    Parsed::Invalid(e) => {
                        self.skip_all(0);
                        Some(Step::Invalid(e))
                    }
                }
            }
            State::Length(_) | State::ChunkData(_) | State::UntilClose | State::Raw
                if avail == 0 =>
            {
                None
            }
            State::Length(left) | State::ChunkData(left) => {
                let n = (avail as u64).min(left) as usize;
                let at = self.offset();
                let start = self.buf.pos;
                self.buf.pos += n;
                let rest = left - n as u64;
                self.state = match (self.state, rest) {
                    (State::Length(_), 0) => State::EndDue,
                    (State::Length(_), r) => State::Length(r),
                    (_, 0) => State::ChunkDataEnd,
                    (_, r) => State::ChunkData(r),
                };
                Some(Step::Data(&self.buf.buf[start..start + n], at))
            }
            State::UntilClose | State::Raw => {
                let at = self.offset();
                let start = self.buf.pos;
                self.buf.pos = self.buf.buf.len();
                Some(Step::Data(&self.buf.buf[start..], at))
            }
            State::ChunkSize => {
                let line = self.line()?;
                let line = match line {
                    Ok(l) => l,
                    Err(e) => return Some(e),
                };
                // RFC 9112 section 7.1: chunk-size [ chunk-ext ] CRLF.
                let size = line.split(|&b| b == b';').next().unwrap_or_default();
                match parse_hex(size.trim_ascii()) {
                    Some(0) => self.state = State::Trailers,
                    Some(n) => self.state = State::ChunkData(n),
                    None => return Some(self.invalid(Error::BadChunk)),
                }
                self.advance()
            }
            State::ChunkDataEnd => {
                let line = match self.line()? {
                    Ok(l) => l,
                    Err(e) => return Some(e),
                };
                if !line.is_empty() {
                    return Some(self.invalid(Error::BadChunk));
                }
                self.state = State::ChunkSize;
                Some(Step::ChunkEnd)
            }
            State::Trailers => {
                let line = match self.line()? {
                    Ok(l) => l,
                    Err(e) => return Some(e),
                };
                if line.is_empty() {
                    self.state = State::EndDue;
                }
                self.advance()
            }
            State::EndDue => {
                self.state = match self.then_raw {
                    true => State::Raw,
                    false => State::Head,
                };
                self.then_raw = false;
                Some(Step::End)
            }
        }
    }

    /// The next line (without its CRLF), consumed; `None` until it is
    /// whole; an error past [`MAX_LINE`].
    fn line(&mut self) -> Option<Result<Vec<u8>, Step<'static>>> {
        let held = &self.buf.buf[self.buf.pos..];
        match memchr::memchr(b'\n', &held[..held.len().min(MAX_LINE)]) {
            Some(i) => {
                let line = held[..i].strip_suffix(b"\r").unwrap_or(&held[..i]).to_vec();
                self.buf.pos += i + 1;
                Some(Ok(line))
            }
            None if held.len() >= MAX_LINE => Some(Err(self.invalid(Error::BadChunk))),
            None => None,
        }
    }

    fn invalid(&mut self, e: Error) -> Step<'static> {
        self.skip_all(0);
        Step::Invalid(e)
    }

    /// `n` bytes were lost after what was pushed.
    pub fn gap(&mut self, n: u64) -> GapOutcome {
        let held = self.held() as u64;
        let (outcome, state) = match self.state {
            State::Length(left) if held + n < left => {
                (GapOutcome::InBody, State::Length(left - held - n))
            }
            State::Length(left) if held + n == left => (GapOutcome::BodyEnded, State::EndDue),
            State::ChunkData(left) if held + n < left => {
                (GapOutcome::InBody, State::ChunkData(left - held - n))
            }
            State::ChunkData(left) if held + n == left => (GapOutcome::InBody, State::ChunkDataEnd),
            State::UntilClose | State::Raw => (GapOutcome::InBody, self.state),
            _ => (GapOutcome::Lost, State::Lost { skipped: 0 }),
        };
        // Bytes held in a body are handed out by `advance` before a gap
        // is told, so only a head's or a line's can be here: lost with it.
        self.buf.lose(n);
        self.state = state;
        outcome
    }

    /// Bytes still held at the close: a body that runs to the close ends.
    pub fn finish(&mut self) -> bool {
        self.state == State::UntilClose
    }
}

fn parse_hex(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 15 {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(v).ok()?, 16).ok()
}
