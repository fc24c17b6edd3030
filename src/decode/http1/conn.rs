//! The per-connection HTTP/1.x decoder: both directions' framers and the
//! calls, with the interface of the HTTP/2 [`crate::decode::ConnDecoder`],
//! so the pipeline, the outputs and `redact` take its events unchanged.

use super::calls::Calls;
use super::framer::{Framer, GapOutcome, Step};
use super::Ttys;
use crate::decode::{ConnDecoder, Dir, Event, Stamp};

/// Bytes a server's response may hold back while its request is still to
/// come (its framing depends on the request: HEAD, a hijack); past it the
/// response goes on unnamed.
pub const MAX_STALLED: usize = 1 << 20;

/// Decodes one HTTP/1.x connection from the ordered bytes of its two
/// directions, with gaps of known size.
#[derive(Debug)]
pub struct Http1Decoder {
    framers: [Framer; 2],
    calls: Calls,
    /// The last write seen per direction, for events with no write of their own.
    last_stamp: [Stamp; 2],
    literals: bool,
    /// After an upgrade to HTTP/2 (h2c), its decoder.
    h2c: Option<H2c>,
}

/// The HTTP/2 decoder a connection was handed over to, and where (in
/// each direction's stream) its first byte lies: its events' stream
/// ranges count from there.
#[derive(Debug)]
struct H2c {
    dec: Box<ConnDecoder>,
    base: [Option<u64>; 2],
}

impl H2c {
    /// `events` of the HTTP/2 decoder, their stream ranges moved to the
    /// connection's offsets, appended to `out`.
    fn shifted(&self, events: Vec<Event>, out: &mut Vec<Event>) {
        for mut ev in events {
            match &mut ev {
                Event::Message {
                    dir, stream_ranges, ..
                } => {
                    let base = self.base[dir.index()].unwrap_or(0);
                    for r in stream_ranges {
                        *r = r.start + base..r.end + base;
                    }
                }
                Event::Literals { dir, values, .. } => {
                    let base = self.base[dir.index()].unwrap_or(0);
                    for v in values {
                        for r in &mut v.stream_ranges {
                            *r = r.start + base..r.end + base;
                        }
                    }
                }
                _ => {}
            }
            out.push(ev);
        }
    }
}

impl Default for Http1Decoder {
    fn default() -> Self {
        Http1Decoder {
            framers: [Framer::new(false), Framer::new(true)],
            calls: Calls::default(),
            last_stamp: [Stamp::default(); 2],
            literals: false,
            h2c: None,
        }
    }
}

impl Http1Decoder {
    /// A decoder for a connection seen from its start or from its middle:
    /// either way each direction waits for a write that begins a head.
    pub fn new() -> Self {
        Http1Decoder::default()
    }

    /// From now on, also emit [`Event::Literals`] for the values of a
    /// request's secret header fields and query parameters
    /// ([`super::secrets`]): where they lie in the stream, so that a
    /// capture can be rewritten without them.
    pub fn report_literals(&mut self) {
        self.literals = true;
    }

    /// Share what create calls say of TTYs with the decoders of other
    /// connections (a container is created on one connection and attached
    /// to on another).
    pub fn share_ttys(&mut self, ttys: Ttys) {
        self.calls.ttys = ttys;
    }

    /// Requests waiting for their responses.
    pub fn open_calls(&self) -> usize {
        self.calls.waiting()
    }

    /// Bytes held by both directions' framers (a head under way, a
    /// response waiting for its request).
    pub fn held(&self) -> usize {
        self.framers.iter().map(Framer::held).sum()
    }

    /// The next bytes of direction `dir`, written as described by `stamp`.
    pub fn feed(&mut self, dir: Dir, bytes: &[u8], stamp: &Stamp, out: &mut Vec<Event>) {
        self.last_stamp[dir.index()] = *stamp;
        self.framers[dir.index()].push(bytes);
        self.drain(dir, stamp, out);
        self.unstall(stamp.ts_ns, false, out);
    }

    /// `n` bytes of direction `dir` were lost right after what was fed.
    pub fn gap(&mut self, dir: Dir, n: u64, out: &mut Vec<Event>) {
        out.push(Event::Gap { dir, bytes: n });
        let stamp = self.last_stamp[dir.index()];
        if let Some(h) = self.h2c.as_mut().filter(|h| h.base[dir.index()].is_some()) {
            let mut evs = Vec::new();
            h.dec.gap(dir, n, &mut evs);
            // The HTTP/2 decoder reports the gap as well: once is enough.
            evs.retain(|e| !matches!(e, Event::Gap { .. }));
            let h = self.h2c.as_ref().expect("checked above");
            h.shifted(evs, out);
            self.framers[dir.index()].gap(n);
            return;
        }
        match self.framers[dir.index()].gap(n) {
            GapOutcome::InBody => self.calls.lost_in_body(dir, n),
            GapOutcome::BodyEnded => {
                self.calls.lost_in_body(dir, n);
                self.drain(dir, &stamp, out);
            }
            GapOutcome::Lost => self.calls.lost(dir, &stamp, out),
        }
        self.unstall(stamp.ts_ns, false, out);
    }

    /// The connection closed at `ts_ns`: a body that ran to the close
    /// ends, a response still waiting for its request goes on unnamed,
    /// then open calls end unfinished.
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<Event>) {
        self.unstall(ts_ns, true, out);
        let stamp = self.last_stamp[1];
        if self.framers[1].finish() {
            self.calls.on_end(Dir::ToClient, false, &stamp, out);
        }
        if let Some(mut h) = self.h2c.take() {
            let mut evs = Vec::new();
            h.dec.close(ts_ns, &mut evs);
            h.shifted(evs, out);
        }
        self.calls.close(ts_ns, out);
    }

    /// A stalled response head is decided when it can be.
    fn unstall(&mut self, now: u64, closing: bool, out: &mut Vec<Event>) {
        if !self.calls.is_stalled() {
            return;
        }
        let client = &self.framers[0];
        let done = closing || client.is_raw() || self.framers[1].held() > MAX_STALLED;
        if let Some(f) = self.calls.retry(done, now, out) {
            let server = &mut self.framers[1];
            server.set_framing(f, false);
            let stamp = self.last_stamp[1];
            self.drain(Dir::ToClient, &stamp, out);
        }
    }

    fn drain(&mut self, dir: Dir, stamp: &Stamp, out: &mut Vec<Event>) {
        let i = dir.index();
        loop {
            let raw_before = self.framers[i].is_raw();
            let Some(step) = self.framers[i].advance() else {
                break;
            };
            match step {
                Step::Resynced { skipped } => {
                    if skipped > 0 {
                        self.calls.resynced(dir);
                    }
                    out.push(Event::Resync { dir, skipped });
                }
                Step::Head(h, at) => {
                    let framing = match dir {
                        Dir::ToServer => {
                            let hijack = super::head::RequestFacts::of(&h).hijack;
                            let f = self.calls.on_request(&h, stamp, out);
                            if super::head::RequestFacts::of(&h).h2c {
                                self.framers[i].expect_h2_preface();
                            }
                            if self.literals {
                                self.calls.literals(&h, at, out);
                            }
                            self.framers[i].set_framing(f, hijack);
                            continue;
                        }
                        Dir::ToClient => {
                            let done = self.framers[0].is_raw();
                            self.calls.on_response(h, stamp, done, out)
                        }
                    };
                    if let Some(f) = framing {
                        self.framers[i].set_framing(f, false);
                    }
                }
                Step::Data(bytes, at) => match &mut self.h2c {
                    Some(h) if raw_before => {
                        h.base[i].get_or_insert(at);
                        let mut evs = Vec::new();
                        h.dec.feed(dir, bytes, stamp, &mut evs);
                        h.shifted(evs, out);
                    }
                    _ => self.calls.on_data(dir, bytes, at, stamp, out),
                },
                Step::ChunkEnd => self.calls.on_chunk_end(dir, stamp, out),
                Step::End => {
                    let switch = !raw_before && self.framers[i].is_raw();
                    if self.calls.on_end(dir, switch, stamp, out) {
                        h2c_start(&mut self.h2c, &mut self.calls, self.literals, stamp, out);
                    }
                }
                Step::H2Preface => {
                    h2c_start(&mut self.h2c, &mut self.calls, self.literals, stamp, out);
                }
                Step::Invalid(e) => {
                    out.push(Event::Error {
                        dir,
                        error: e.into(),
                    });
                    self.calls.lost(dir, stamp, out);
                }
            }
        }
    }
}

/// The connection is HTTP/2 from here (h2c, RFC 7540 section 3.2): its
/// decoder starts, seen from its start, with the request that asked for
/// the upgrade as stream 1 (once, whichever side showed the switch first).
fn h2c_start(
    h2c: &mut Option<H2c>,
    calls: &mut Calls,
    literals: bool,
    stamp: &Stamp,
    out: &mut Vec<Event>,
) {
    if h2c.is_some() {
        return;
    }
    let mut dec = Box::new(ConnDecoder::new(true));
    if literals {
        dec.report_literals();
    }
    if let Some(fields) = calls.take_h2c() {
        dec.upgraded_request(fields, stamp, out);
    }
    *h2c = Some(H2c {
        dec,
        base: [None; 2],
    });
}
