//! The per-connection HTTP/2 decoder: frames from both directions, header
//! block assembly (HEADERS + CONTINUATION), SETTINGS that bound the other
//! side, stream state, and recovery after gaps and errors.

use super::call::Calls;
use super::frame::{self, flags, setting, Frame, Kind};
use super::framer::{Framer, GapOutcome, Limits, Step};
use super::hpack::{self, HeaderField};
use crate::decode::{Dir, Error, Event, LiteralValue, Stamp};

/// Decodes one HTTP/2 connection from the ordered bytes of its two
/// directions, with gaps of known size.
#[derive(Debug)]
pub struct ConnDecoder {
    framers: [Framer; 2],
    st: Conn,
}

/// State outside the framers, so a frame borrowed from a framer can be
/// handled while this is mutated.
#[derive(Debug)]
struct Conn {
    /// The connection is known to start at the first byte of each direction.
    saw_start: bool,
    sides: [Side; 2],
    calls: Calls,
    /// The last write seen per direction, for events with no write of their own.
    last_stamp: [Stamp; 2],
    /// Emit [`Event::Literals`].
    report_literals: bool,
}

/// Per-direction protocol state (the framing state lives in its `Framer`).
#[derive(Debug)]
struct Side {
    /// Decodes header blocks sent in this direction.
    hpack: hpack::Decoder,
    /// A header block waiting for CONTINUATION.
    pending: Option<Pending>,
    /// After lost bytes a CONTINUATION may belong to a block we did not see.
    orphan_ok: bool,
    /// SETTINGS_MAX_FRAME_SIZE of the receiver of this direction, if seen.
    max_frame: Option<u32>,
    /// No byte of this direction lost or skipped so far.
    clean: bool,
    /// Header blocks decoded so far.
    blocks: u64,
}

#[derive(Debug)]
struct Pending {
    stream_id: u32,
    end_stream: bool,
    push: bool,
    block: Vec<u8>,
    /// Where each fragment starts in `block` and in the stream.
    pieces: Vec<(usize, u64)>,
    too_large: bool,
}

impl Side {
    fn new(at_start: bool) -> Side {
        Side {
            hpack: hpack::Decoder::new(at_start),
            pending: None,
            orphan_ok: !at_start,
            max_frame: None,
            clean: true,
            blocks: 0,
        }
    }
}

impl ConnDecoder {
    /// A decoder; `at_start` says the capture saw the connection from its
    /// first byte in both directions. Without it the client preface is still
    /// recognised if the client direction starts with it.
    pub fn new(at_start: bool) -> Self {
        let mut calls = Calls::default();
        if at_start {
            calls.client_seen_from_start();
        }
        ConnDecoder {
            framers: [Framer::client(at_start), Framer::server(at_start)],
            st: Conn {
                saw_start: at_start,
                sides: [Side::new(at_start), Side::new(at_start)],
                calls,
                last_stamp: [Stamp::default(), Stamp::default()],
                report_literals: false,
            },
        }
    }

    /// From now on, also emit [`Event::Literals`] for every header block
    /// with literal values: where they lie in the stream, so that a capture
    /// can be rewritten without them.
    pub fn report_literals(&mut self) {
        self.st.report_literals = true;
        for side in &mut self.st.sides {
            side.hpack.track_literals();
        }
    }

    /// The next bytes of direction `dir`, written as described by `stamp`.
    pub fn feed(&mut self, dir: Dir, bytes: &[u8], stamp: &Stamp, out: &mut Vec<Event>) {
        self.st.last_stamp[dir.index()] = *stamp;
        self.framers[dir.index()].push(bytes);
        self.drain(dir, stamp, out);
    }

    /// A synthetic frame carrying the table the server held
    /// (`seed::seed_frame`, or a HEADERS frame on `seed::SEED_STREAM` in
    /// files written before): direction `dir`'s HPACK table becomes
    /// exactly the recovered one, before its next byte. False if `frame`
    /// is not such a frame or does not decode.
    ///
    /// A synthetic frame on another stream names a stream whose request
    /// came before the capture (`seed::stream_frame`): its call starts
    /// here with those headers, as if the request had been seen.
    pub fn seed(&mut self, dir: Dir, frame: &[u8], stamp: &Stamp, out: &mut Vec<Event>) -> bool {
        let Some((stream, block)) = super::seed::parse_seed_frame(frame) else {
            return false;
        };
        let side = &mut self.st.sides[dir.index()];
        if side.pending.is_some() {
            // Inside another block's CONTINUATIONs: not a block boundary.
            return false;
        }
        let Ok(decoded) = side.hpack.decode(block) else {
            return false;
        };
        if stream != super::seed::SEED_STREAM {
            let fields = Some(decoded.fields);
            self.st
                .calls
                .on_headers(dir, stream, fields, false, stamp, out);
        }
        true
    }

    /// The HTTP/1.1 request that upgraded the connection to HTTP/2 (RFC
    /// 7540 section 3.2: it becomes stream 1, half-closed from the client's
    /// side), with its fields as HTTP/2 would carry them.
    pub fn upgraded_request(
        &mut self,
        fields: Vec<HeaderField>,
        stamp: &Stamp,
        out: &mut Vec<Event>,
    ) {
        self.st
            .calls
            .on_headers(Dir::ToServer, 1, Some(fields), true, stamp, out);
    }

    /// `n` bytes of direction `dir` were lost right after what was fed.
    pub fn gap(&mut self, dir: Dir, n: u64, out: &mut Vec<Event>) {
        out.push(Event::Gap { dir, bytes: n });
        let outcome = self.framers[dir.index()].gap(n);
        self.st.on_gap(dir, outcome, out);
    }

    /// The connection closed at `ts_ns`: frames still recognisable in bytes
    /// held for resynchronisation are decoded, then open calls end unfinished.
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<Event>) {
        for dir in [Dir::ToServer, Dir::ToClient] {
            let lim = self.st.limits(dir);
            if let Some(step) = self.framers[dir.index()].finish(&lim) {
                let stamp = self.st.last_stamp[dir.index()];
                self.handle(dir, step, &stamp, out);
                self.drain(dir, &stamp, out);
            }
        }
        self.st.calls.close_all(ts_ns, out);
    }

    fn drain(&mut self, dir: Dir, stamp: &Stamp, out: &mut Vec<Event>) {
        loop {
            let lim = self.st.limits(dir);
            match self.framers[dir.index()].advance(&lim) {
                Some(step) => self.handle(dir, step, stamp, out),
                None => return,
            }
        }
    }

    fn handle(&mut self, dir: Dir, step: Step, stamp: &Stamp, out: &mut Vec<Event>) {
        match step {
            Step::Preface => self.st.on_preface(dir),
            Step::Resynced { skipped } => self.st.on_resync(dir, skipped, out),
            Step::Invalid(error) => out.push(Event::Error { dir, error }),
            Step::Frame(head, range) => {
                let framer = &self.framers[dir.index()];
                let start = framer.stream_offset(range.start);
                let bytes = framer.bytes(range);
                // The framer already validated it; `load` cannot fail here.
                if let Ok(frame) = frame::load(&head, bytes) {
                    let at = start + body_offset(&frame, bytes) as u64;
                    self.st.on_frame(dir, frame, at, stamp, out);
                }
            }
        }
    }
}

impl Conn {
    fn limits(&self, dir: Dir) -> Limits {
        let known = self.sides[dir.index()].max_frame;
        let unsure = match self.saw_start {
            true => frame::DEFAULT_MAX_FRAME_SIZE,
            // A SETTINGS from before the capture may have raised it.
            false => frame::MAX_MAX_FRAME_SIZE,
        };
        Limits {
            sync_max: known.unwrap_or(unsure),
            scan_max: known.unwrap_or(frame::DEFAULT_MAX_FRAME_SIZE),
            from_server: dir == Dir::ToClient,
            highest_stream: self.calls.highest(),
        }
    }

    /// The client preface proves the client direction starts here. The
    /// server cannot have sent header blocks before requests it had not
    /// received, so its table is complete too unless it lost bytes.
    fn on_preface(&mut self, dir: Dir) {
        if dir != Dir::ToServer || self.saw_start {
            return;
        }
        self.saw_start = true;
        self.calls.client_seen_from_start();
        for side in &mut self.sides {
            if side.clean && side.blocks == 0 {
                side.hpack.mark_at_start();
            }
        }
    }

    fn on_resync(&mut self, dir: Dir, skipped: u64, out: &mut Vec<Event>) {
        out.push(Event::Resync { dir, skipped });
        if skipped > 0 {
            self.lose(dir, out);
        }
        self.sides[dir.index()].orphan_ok = true;
    }

    /// Bytes of `dir` were lost at an unknown frame position.
    fn lose(&mut self, dir: Dir, out: &mut Vec<Event>) {
        let side = &mut self.sides[dir.index()];
        side.hpack.lose_sync();
        side.pending = None;
        side.orphan_ok = true;
        side.clean = false;
        self.calls.lose_data(dir, out);
    }

    fn on_gap(&mut self, dir: Dir, outcome: GapOutcome, out: &mut Vec<Event>) {
        let stamp = self.last_stamp[dir.index()];
        if let Some(head) = outcome.damaged {
            let side = &mut self.sides[dir.index()];
            side.clean = false;
            match head.kind {
                Kind::Headers | Kind::PushPromise | Kind::Continuation => {
                    let pending = side.pending.take();
                    side.hpack.lose_sync();
                    side.orphan_ok = true;
                    let (sid, end_stream) = match (head.kind, pending) {
                        (Kind::Headers, _) => (head.stream_id, head.has(flags::END_STREAM)),
                        (_, Some(p)) => (p.stream_id, p.end_stream && !p.push),
                        _ => (head.stream_id, false),
                    };
                    if end_stream {
                        self.calls.end_stream(dir, sid, &stamp, out);
                    }
                }
                Kind::Data => {
                    self.calls.lose_stream_data(dir, head.stream_id);
                    if head.has(flags::END_STREAM) {
                        self.calls.end_stream(dir, head.stream_id, &stamp, out);
                    }
                }
                _ => {}
            }
        }
        if outcome.lost_sync {
            self.lose(dir, out);
        }
    }

    /// A frame whose data or header block fragment starts at stream offset `at`.
    fn on_frame(
        &mut self,
        dir: Dir,
        frame: Frame<'_>,
        at: u64,
        stamp: &Stamp,
        out: &mut Vec<Event>,
    ) {
        let side = &mut self.sides[dir.index()];
        if !matches!(frame, Frame::Continuation { .. }) {
            side.orphan_ok = false;
            if let Some(p) = side.pending.take() {
                // RFC 9113 section 6.10: anything but CONTINUATION here is a
                // connection error; the block is lost, and with it the table.
                let error = Error::ContinuationExpected {
                    stream_id: p.stream_id,
                };
                out.push(Event::Error { dir, error });
                side.hpack.lose_sync();
                side.clean = false;
                if p.end_stream && !p.push {
                    self.calls.end_stream(dir, p.stream_id, stamp, out);
                }
            }
        }
        match frame {
            Frame::Data {
                stream_id,
                end_stream,
                data,
            } => self
                .calls
                .on_data(dir, stream_id, (data, at), end_stream, stamp, out),
            Frame::Headers {
                stream_id,
                end_stream,
                end_headers,
                fragment,
                ..
            } => {
                let p = Pending::new(stream_id, end_stream, false, fragment, at);
                self.fragment(dir, p, end_headers, stamp, out);
            }
            Frame::PushPromise {
                stream_id,
                end_headers,
                fragment,
                ..
            } => {
                let p = Pending::new(stream_id, false, true, fragment, at);
                self.fragment(dir, p, end_headers, stamp, out);
            }
            Frame::Continuation {
                stream_id,
                end_headers,
                fragment,
            } => self.continuation(dir, stream_id, end_headers, (fragment, at), stamp, out),
            Frame::Settings(s) if !s.ack => {
                // Settings bound what the *other* direction may send.
                let peer = &mut self.sides[dir.opposite().index()];
                if let Some(v) = s.get(setting::HEADER_TABLE_SIZE) {
                    peer.hpack.set_limit(v);
                }
                if let Some(v) = s.get(setting::MAX_FRAME_SIZE) {
                    peer.max_frame = Some(v);
                }
            }
            Frame::RstStream {
                stream_id,
                error_code,
            } => self.calls.on_reset(stream_id, error_code, stamp, out),
            Frame::Goaway {
                last_stream_id,
                error_code,
                debug,
            } => out.push(Event::Goaway {
                dir,
                last_stream_id,
                error_code,
                debug: debug.to_vec(),
                stamp: *stamp,
            }),
            _ => {}
        }
    }

    /// The first fragment of a header block: decode now or wait for CONTINUATION.
    fn fragment(&mut self, dir: Dir, p: Pending, end: bool, stamp: &Stamp, out: &mut Vec<Event>) {
        match end {
            true => self.block_done(dir, p, stamp, out),
            false => self.sides[dir.index()].pending = Some(p),
        }
    }

    /// A CONTINUATION frame with its `fragment` at stream offset `at`.
    fn continuation(
        &mut self,
        dir: Dir,
        stream_id: u32,
        end: bool,
        (fragment, at): (&[u8], u64),
        stamp: &Stamp,
        out: &mut Vec<Event>,
    ) {
        let side = &mut self.sides[dir.index()];
        let (error, lost) = match side.pending.take() {
            // The rest of a block whose start was lost.
            None if side.orphan_ok => return,
            None => (Error::UnexpectedContinuation { stream_id }, None),
            Some(p) if p.stream_id != stream_id => {
                let expected = p.stream_id;
                let error = Error::ContinuationStreamMismatch {
                    expected,
                    got: stream_id,
                };
                (error, Some(p))
            }
            Some(mut p) => {
                p.append(fragment, at);
                match end {
                    true => self.block_done(dir, p, stamp, out),
                    false => side.pending = Some(p),
                }
                return;
            }
        };
        // A block with a missing or foreign piece: its insertions are lost.
        out.push(Event::Error { dir, error });
        side.hpack.lose_sync();
        side.clean = false;
        side.orphan_ok = true;
        if let Some(p) = lost.filter(|p| p.end_stream && !p.push) {
            self.calls.end_stream(dir, p.stream_id, stamp, out);
        }
    }

    /// A complete header block: decode it and give it to its stream.
    fn block_done(&mut self, dir: Dir, p: Pending, stamp: &Stamp, out: &mut Vec<Event>) {
        let side = &mut self.sides[dir.index()];
        side.blocks += 1;
        let fields: Option<Vec<HeaderField>> = if p.too_large {
            side.hpack.lose_sync();
            side.clean = false;
            let error = Error::HeaderBlockTooLarge {
                stream_id: p.stream_id,
            };
            out.push(Event::Error { dir, error });
            None
        } else {
            match side.hpack.decode(&p.block) {
                Ok(block) => {
                    if let Some(reason) = block.desync.clone() {
                        out.push(Event::Desync { dir, reason });
                    }
                    if self.report_literals && !block.literals.is_empty() {
                        out.push(p.literals(dir, &block));
                    }
                    Some(block.fields)
                }
                Err(error) => {
                    side.clean = false;
                    let error = Error::Hpack {
                        stream_id: p.stream_id,
                        error,
                    };
                    out.push(Event::Error { dir, error });
                    None
                }
            }
        };
        // PUSH_PROMISE blocks only matter for the table; gRPC does not push.
        if !p.push {
            self.calls
                .on_headers(dir, p.stream_id, fields, p.end_stream, stamp, out);
        }
    }
}

/// Where the data (DATA) or header block fragment (HEADERS, PUSH_PROMISE,
/// CONTINUATION) of `frame` starts in its `payload`, after the padding
/// length and priority fields; 0 for other frames.
fn body_offset(frame: &Frame<'_>, payload: &[u8]) -> usize {
    let body = match frame {
        Frame::Data { data, .. } => data,
        Frame::Headers { fragment, .. }
        | Frame::PushPromise { fragment, .. }
        | Frame::Continuation { fragment, .. } => fragment,
        _ => return 0,
    };
    // `load` borrows the body from the payload.
    (body.as_ptr() as usize).saturating_sub(payload.as_ptr() as usize)
}

impl Pending {
    fn new(stream_id: u32, end_stream: bool, push: bool, fragment: &[u8], at: u64) -> Pending {
        let mut p = Pending {
            stream_id,
            end_stream,
            push,
            block: Vec::new(),
            pieces: Vec::new(),
            too_large: false,
        };
        p.append(fragment, at);
        p
    }

    /// Adds a fragment found at stream offset `at`, dropping the block once
    /// it exceeds `hpack::MAX_BLOCK`.
    fn append(&mut self, fragment: &[u8], at: u64) {
        if self.too_large || self.block.len() + fragment.len() > hpack::MAX_BLOCK {
            self.too_large = true;
            self.block = Vec::new();
            self.pieces = Vec::new();
        } else {
            self.pieces.push((self.block.len(), at));
            self.block.extend_from_slice(fragment);
        }
    }

    /// The stream ranges of bytes `r` of the block.
    fn stream_ranges(&self, r: std::ops::Range<usize>) -> Vec<std::ops::Range<u64>> {
        let mut out = Vec::new();
        for (i, &(start, at)) in self.pieces.iter().enumerate() {
            let end = self.pieces.get(i + 1).map_or(self.block.len(), |p| p.0);
            let (lo, hi) = (r.start.max(start), r.end.min(end));
            if lo < hi {
                out.push(at + (lo - start) as u64..at + (hi - start) as u64);
            }
        }
        out
    }

    /// The literal values of `block` (decoded from this one) and where they are.
    fn literals(&self, dir: Dir, block: &hpack::Block) -> Event {
        let values = block
            .literals
            .iter()
            .filter_map(|l| {
                Some(LiteralValue {
                    field: block.fields.get(l.field)?.clone(),
                    huffman: l.huffman,
                    stream_ranges: self.stream_ranges(l.octets.clone()),
                })
            })
            .collect();
        Event::Literals {
            dir,
            stream_id: self.stream_id,
            values,
        }
    }
}
