//! Test-only encoders: a small HPACK encoder with its own dynamic table,
//! HTTP/2 frame builders, and a conversation builder producing the writes
//! of a gRPC client and server.

use std::collections::{BTreeMap, VecDeque};

use super::frame::{flags, setting, Kind};
use super::framer::PREFACE;
use super::hpack::static_table;
use super::{ConnDecoder, Dir, Event, Meta};

/// Bytes from hex digits; whitespace is ignored.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// RFC 7541 section 5.1 integer with `prefix` bits, OR-ed into `first`.
fn int(out: &mut Vec<u8>, first: u8, prefix: u8, mut v: usize) {
    let max = (1usize << prefix) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

fn string(out: &mut Vec<u8>, s: &[u8], huffman: bool) {
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
    pub fn new(max: usize) -> Self {
        HpackEncoder {
            table: VecDeque::new(),
            size: 0,
            max,
            update: None,
        }
    }

    pub fn len(&self) -> usize {
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
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.push(kind.to_byte());
    f.push(flags);
    f.extend(sid.to_be_bytes());
    f.extend_from_slice(payload);
    f
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

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, data).unwrap();
    z.finish().unwrap()
}

/// The writes of a gRPC conversation, with the truth about each call.
#[derive(Clone, Debug)]
pub struct Conv {
    pub writes: Vec<(Dir, Vec<u8>)>,
    pub client: HpackEncoder,
    pub server: HpackEncoder,
    pub huffman: bool,
    /// Pad DATA and HEADERS frames with this many bytes (0: no PADDED flag).
    pub pad: u8,
    /// Split header blocks into this many fragments (HEADERS + CONTINUATION).
    pub pieces: usize,
    pub max_frame: usize,
    /// Path of each stream id.
    pub paths: BTreeMap<u32, String>,
}

impl Conv {
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
        self.push(Dir::ClientToServer, PREFACE.to_vec());
        self.push(
            Dir::ServerToClient,
            settings(&[(setting::MAX_FRAME_SIZE, 16_384)]),
        );
        self.push(Dir::ClientToServer, settings(&[(setting::ENABLE_PUSH, 0)]));
        let ack = frame(Kind::Settings, flags::ACK, 0, &[]);
        self.push(Dir::ServerToClient, ack.clone());
        self.push(Dir::ClientToServer, ack);
    }

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

    pub fn headers(&mut self, dir: Dir, sid: u32, fields: &[(&str, &str)], end_stream: bool) {
        let huffman = self.huffman;
        let block = match dir {
            Dir::ClientToServer => self.client.encode(fields, huffman),
            Dir::ServerToClient => self.server.encode(fields, huffman),
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
        self.headers(Dir::ClientToServer, sid, &fields, false);
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

    pub fn response(&mut self, sid: u32) {
        let fields = [(":status", "200"), ("content-type", "application/grpc")];
        self.headers(Dir::ServerToClient, sid, &fields, false);
    }

    pub fn trailers(&mut self, sid: u32, status: u32, message: &str) {
        let status = status.to_string();
        let mut fields = vec![("grpc-status", status.as_str())];
        if !message.is_empty() {
            fields.push(("grpc-message", message));
        }
        self.headers(Dir::ServerToClient, sid, &fields, true);
    }

    /// A whole unary call.
    pub fn unary(&mut self, sid: u32, path: &str, req: &[u8], resp: &[u8]) {
        self.request(sid, path);
        self.data(Dir::ClientToServer, sid, &grpc_msg(req), true);
        self.response(sid);
        self.data(Dir::ServerToClient, sid, &grpc_msg(resp), false);
        self.trailers(sid, 0, "");
    }
}

pub fn meta(ts: u64) -> Meta {
    Meta {
        ts_ns: ts,
        pid: Some(42),
        tid: Some(43),
        comm: Some("ctr".into()),
    }
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Feeds writes (write i has time i), each cut into chunks by `rng` when
/// given, then closes at time 1_000_000.
pub fn run(at_start: bool, writes: &[(Dir, Vec<u8>)], mut rng: Option<&mut Rng>) -> Vec<Event> {
    let mut dec = ConnDecoder::new(at_start);
    let mut out = Vec::new();
    for (i, (dir, bytes)) in writes.iter().enumerate() {
        let m = meta(i as u64);
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let n = match rng.as_deref_mut() {
                Some(r) => 1 + r.below(rest.len().min(40)),
                None => rest.len(),
            };
            dec.feed(*dir, &rest[..n], &m, &mut out);
            rest = &rest[n..];
        }
    }
    dec.close(1_000_000, &mut out);
    out
}
