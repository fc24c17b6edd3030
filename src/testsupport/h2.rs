//! HTTP/2, HPACK and gRPC as a client and server write them: an HPACK
//! encoder that indexes every field (as Go's does), frame builders, and a
//! conversation builder producing the writes of gRPC calls.

use std::collections::{BTreeMap, VecDeque};

use crate::decode::h2::frame::{flags, setting, Kind};
use crate::decode::h2::hpack::static_table;
use crate::decode::sniff::PREFACE;
use crate::flow::Dir;

/// RFC 7541 section 5.1 integer with `prefix` bits, OR-ed into `first`.
pub fn int(out: &mut Vec<u8>, first: u8, prefix: u8, v: usize) {
    crate::decode::h2::hpack::primitive::encode_integer(out, first, prefix, v);
}

/// RFC 7541 section 5.2 string literal, Huffman-coded if `huffman`.
pub fn string(out: &mut Vec<u8>, s: &[u8], huffman: bool) {
    if huffman {
        let mut h = Vec::new();
        httlib_huffman::encode(s, &mut h).unwrap();
        int(out, 0x80, 7, h.len());
        out.extend(h);
    } else {
        int(out, 0, 7, s.len());
        out.extend_from_slice(s);
    }
}

/// An HPACK encoder that indexes every field, like Go's.
#[derive(Clone, Debug)]
pub struct HpackEncoder {
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max: usize,
    update: Option<usize>,
}

impl HpackEncoder {
    /// An encoder whose table holds `max` bytes (RFC 7541 section 4.1 sizes).
    pub fn new(max: usize) -> Self {
        HpackEncoder {
            table: VecDeque::new(),
            size: 0,
            max,
            update: None,
        }
    }

    /// Entries in the dynamic table.
    pub fn entries(&self) -> usize {
        self.table.len()
    }

    /// Changes the table size; the next block starts with a size update.
    pub fn resize(&mut self, max: usize) {
        self.max = max;
        self.evict(0);
        self.update = Some(max);
    }

    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => break,
            }
        }
    }

    fn insert(&mut self, n: &[u8], v: &[u8]) {
        let s = n.len() + v.len() + 32;
        if s > self.max {
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(s);
        self.size += s;
        self.table.push_front((n.to_vec(), v.to_vec()));
    }

    fn find(&self, n: &[u8], v: &[u8]) -> (Option<usize>, Option<usize>) {
        let statics = static_table::TABLE
            .iter()
            .map(|(a, b)| (a.as_bytes(), b.as_bytes()));
        let dynamic = self.table.iter().map(|(a, b)| (a.as_slice(), b.as_slice()));
        let mut name = None;
        for (i, (a, b)) in statics.chain(dynamic).enumerate() {
            if a == n && b == v {
                return (Some(i + 1), Some(i + 1));
            }
            if a == n && name.is_none() {
                name = Some(i + 1);
            }
        }
        (None, name)
    }

    /// A header block for `fields`, literals Huffman-coded if `huffman`.
    pub fn encode(&mut self, fields: &[(&str, &str)], huffman: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(max) = self.update.take() {
            int(&mut out, 0x20, 5, max);
        }
        for (n, v) in fields {
            let (n, v) = (n.as_bytes(), v.as_bytes());
            match self.find(n, v) {
                (Some(i), _) => int(&mut out, 0x80, 7, i),
                (None, name) => {
                    int(&mut out, 0x40, 6, name.unwrap_or(0));
                    if name.is_none() {
                        string(&mut out, n, huffman);
                    }
                    string(&mut out, v, huffman);
                    self.insert(n, v);
                }
            }
        }
        out
    }
}

/// One frame.
pub fn frame(kind: Kind, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    crate::decode::h2::frame::encode(kind, flags, sid, payload)
}

/// A recovered table's frame as files written before tables moved to a
/// PUSH_PROMISE carried it (`decode::h2::seed`): a HEADERS frame on
/// `SEED_STREAM` with END_STREAM, size updates to 0 and `max_size`, then
/// `entries` (oldest first) as literals with incremental indexing.
pub fn headers_seed_frame(entries: &[(Vec<u8>, Vec<u8>)], max_size: u32) -> Vec<u8> {
    let mut block = Vec::new();
    int(&mut block, 0x20, 5, 0);
    int(&mut block, 0x20, 5, max_size as usize);
    for (name, value) in entries {
        block.push(0x40);
        string(&mut block, name, false);
        string(&mut block, value, false);
    }
    let end = flags::END_HEADERS | flags::END_STREAM;
    frame(
        Kind::Headers,
        end,
        crate::decode::h2::seed::SEED_STREAM,
        &block,
    )
}

/// A SETTINGS frame.
pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in params {
        p.extend(id.to_be_bytes());
        p.extend(v.to_be_bytes());
    }
    frame(Kind::Settings, 0, 0, &p)
}

/// An uncompressed gRPC length-prefixed message.
pub fn grpc_msg(payload: &[u8]) -> Vec<u8> {
    let mut m = vec![0];
    m.extend((payload.len() as u32).to_be_bytes());
    m.extend_from_slice(payload);
    m
}

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, data).unwrap();
    z.finish().unwrap()
}

/// The writes of a gRPC conversation, with the truth about each call.
#[derive(Clone, Debug)]
pub struct Conv {
    /// The writes so far, in order.
    pub writes: Vec<(Dir, Vec<u8>)>,
    /// The client's encoder.
    pub client: HpackEncoder,
    /// The server's encoder.
    pub server: HpackEncoder,
    /// Huffman-code literals.
    pub huffman: bool,
    /// Pad DATA and HEADERS frames with this many bytes (0: no PADDED flag).
    pub pad: u8,
    /// Split header blocks into this many fragments (HEADERS + CONTINUATION).
    pub pieces: usize,
    /// Largest DATA payload.
    pub max_frame: usize,
    /// Path of each stream id.
    pub paths: BTreeMap<u32, String>,
}

impl Default for Conv {
    fn default() -> Self {
        Conv::new()
    }
}

impl Conv {
    /// An empty conversation.
    pub fn new() -> Self {
        Conv {
            writes: Vec::new(),
            client: HpackEncoder::new(4096),
            server: HpackEncoder::new(4096),
            huffman: true,
            pad: 0,
            pieces: 1,
            max_frame: 16_384,
            paths: BTreeMap::new(),
        }
    }

    /// Preface and the SETTINGS exchange.
    pub fn start(&mut self) {
        self.push(Dir::ToServer, PREFACE.to_vec());
        self.push(
            Dir::ToClient,
            settings(&[(setting::MAX_FRAME_SIZE, 16_384)]),
        );
        self.push(Dir::ToServer, settings(&[(setting::ENABLE_PUSH, 0)]));
        let ack = frame(Kind::Settings, flags::ACK, 0, &[]);
        self.push(Dir::ToClient, ack.clone());
        self.push(Dir::ToServer, ack);
    }

    /// One write.
    pub fn push(&mut self, dir: Dir, bytes: Vec<u8>) {
        self.writes.push((dir, bytes));
    }

    fn padded(&self, body: &[u8]) -> (u8, Vec<u8>) {
        if self.pad == 0 {
            return (0, body.to_vec());
        }
        let mut p = vec![self.pad];
        p.extend_from_slice(body);
        p.extend(std::iter::repeat_n(0, self.pad as usize));
        (flags::PADDED, p)
    }

    /// A header block on `sid`, as HEADERS and CONTINUATION frames in one write.
    pub fn headers(&mut self, dir: Dir, sid: u32, fields: &[(&str, &str)], end_stream: bool) {
        let huffman = self.huffman;
        let block = match dir {
            Dir::ToServer => self.client.encode(fields, huffman),
            Dir::ToClient => self.server.encode(fields, huffman),
        };
        let n = self.pieces.max(1);
        let size = block.len().div_ceil(n).max(1);
        let mut parts: Vec<&[u8]> = block.chunks(size).collect();
        if parts.is_empty() {
            parts.push(&[]);
        }
        let mut bytes = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let eh = if last { flags::END_HEADERS } else { 0 };
            if i == 0 {
                let es = if end_stream { flags::END_STREAM } else { 0 };
                let (pf, payload) = self.padded(part);
                bytes.extend(frame(Kind::Headers, es | eh | pf, sid, &payload));
            } else {
                bytes.extend(frame(Kind::Continuation, eh, sid, part));
            }
        }
        self.push(dir, bytes);
    }

    /// Request headers as grpc-go sends them.
    pub fn request(&mut self, sid: u32, path: &str) {
        self.paths.insert(sid, path.to_string());
        let fields = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "/run/containerd/containerd.sock"),
            ("content-type", "application/grpc"),
            ("user-agent", "grpc-go/1.59.0"),
            ("te", "trailers"),
            ("grpc-timeout", "1999968u"),
            ("containerd-namespace", "k8s.io"),
        ];
        self.headers(Dir::ToServer, sid, &fields, false);
    }

    /// DATA frames carrying `payload`, at most `max_frame` bytes each.
    pub fn data(&mut self, dir: Dir, sid: u32, payload: &[u8], end_stream: bool) {
        let room = self.max_frame
            - if self.pad > 0 {
                1 + self.pad as usize
            } else {
                0
            };
        let chunks: Vec<&[u8]> = match payload.is_empty() {
            true => vec![&[]],
            false => payload.chunks(room).collect(),
        };
        for (i, c) in chunks.iter().enumerate() {
            let es = if end_stream && i + 1 == chunks.len() {
                flags::END_STREAM
            } else {
                0
            };
            let (pf, body) = self.padded(c);
            self.push(dir, frame(Kind::Data, es | pf, sid, &body));
        }
    }

    /// Response headers as grpc-go sends them.
    pub fn response(&mut self, sid: u32) {
        let fields = [(":status", "200"), ("content-type", "application/grpc")];
        self.headers(Dir::ToClient, sid, &fields, false);
    }

    /// Trailers with `grpc-status` (and `grpc-message` if not empty).
    pub fn trailers(&mut self, sid: u32, status: u32, message: &str) {
        let status = status.to_string();
        let mut fields = vec![("grpc-status", status.as_str())];
        if !message.is_empty() {
            fields.push(("grpc-message", message));
        }
        self.headers(Dir::ToClient, sid, &fields, true);
    }

    /// A whole unary call.
    pub fn unary(&mut self, sid: u32, path: &str, req: &[u8], resp: &[u8]) {
        self.request(sid, path);
        self.data(Dir::ToServer, sid, &grpc_msg(req), true);
        self.response(sid);
        self.data(Dir::ToClient, sid, &grpc_msg(resp), false);
        self.trailers(sid, 0, "");
    }
}
