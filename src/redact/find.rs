//! First read: decode the capture as `decode` does and note where, in each
//! direction's stream, the values of secret fields lie (gRPC and ttrpc
//! messages by their schemas, HTTP/2 header literals, HTTP/1.x header
//! fields, query values and bodies by `decode::http1::secrets`).

use std::collections::HashMap;
use std::ops::Range;

use anyhow::Result;

use super::hpack::{huffman_mask, is_secret_header};
use crate::decode::http1::{secrets, Part};
use crate::decode::{Event, LiteralValue, PathInfo, Protocol};
use crate::flow::{Conn, ConnId, Dir, FlowEvent, Sink};
use crate::pipeline::decoders::{Decoders, Events};
use crate::pipeline::ConnInfo;
use crate::protobuf::SchemaSet;

/// What overwrites secret bytes of gRPC messages: `x`, printable and
/// obviously not the original.
pub const FILL: u8 = b'x';

/// Stream bytes to overwrite, and with what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overwrite {
    /// Where, in the direction's stream.
    pub range: Range<u64>,
    /// The new bytes; `None` for [`FILL`].
    pub bytes: Option<Vec<u8>>,
}

impl Overwrite {
    /// The new byte at stream offset `at` (within `range`).
    pub fn byte_at(&self, at: u64) -> u8 {
        let i = (at - self.range.start) as usize;
        self.bytes.as_ref().map_or(FILL, |b| b[i])
    }
}

/// The overwrites of each connection direction, sorted by offset.
pub type Secrets = HashMap<(ConnId, Dir), Vec<Overwrite>>;

/// What the first read found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Secret values found.
    pub values: u64,
    /// Their bytes in the streams.
    pub bytes: u64,
    /// gRPC messages holding at least one.
    pub messages: u64,
    /// Compressed messages holding secrets: their whole bodies are overwritten,
    /// since compressed bytes cannot be edited in place.
    pub compressed: u64,
    /// Messages not decoded typed (unknown method, or bytes that do not fit
    /// its schema): their fields have no names, so none was checked.
    pub unchecked: u64,
    /// Header values (counted in `values` and `bytes` too).
    pub headers: u64,
}

/// The flow sink of the first read: the decoding pipeline's decoders,
/// reporting where literal header values lie, feed a [`Secrets`] collector.
pub struct Finder<'a> {
    decoders: Decoders,
    collect: Collect<'a>,
}

/// Where secret values lie, from the decoder's events.
struct Collect<'a> {
    schemas: &'a SchemaSet,
    secrets: Secrets,
    found: Found,
}

impl<'a> Finder<'a> {
    /// A finder naming fields with `schemas`.
    pub fn new(schemas: &'a SchemaSet) -> Self {
        Finder {
            decoders: Decoders::new().with_literals(),
            collect: Collect {
                schemas,
                secrets: Secrets::new(),
                found: Found::default(),
            },
        }
    }

    /// End of input: what connections still hold is decoded; returns the
    /// overwrites, sorted, and the counters.
    pub fn finish(mut self) -> Result<(Secrets, Found)> {
        let last = self.decoders.last_ns();
        self.decoders.finish(last, &mut self.collect)?;
        let Collect {
            mut secrets, found, ..
        } = self.collect;
        for list in secrets.values_mut() {
            list.sort_by_key(|o| o.range.start);
            // Distinct fields, messages and headers hold distinct bytes.
            debug_assert!(list.windows(2).all(|w| w[0].range.end <= w[1].range.start));
        }
        Ok((secrets, found))
    }
}

impl Events for Collect<'_> {
    fn event(&mut self, conn: &ConnInfo, _ts_ns: u64, ev: Event) -> Result<()> {
        match ev {
            Event::Literals { dir, values, .. } if conn.protocol == Some(Protocol::Http1) => {
                for v in &values {
                    self.http_field(conn.id, dir, v);
                }
            }
            Event::Literals { dir, values, .. } => {
                for v in &values {
                    self.header(conn.id, dir, v);
                }
            }
            Event::Message {
                dir,
                path,
                payload,
                stream_ranges,
                http: Some(part),
                ..
            } => self.http_body(conn.id, dir, &path, &part, &payload, &stream_ranges),
            Event::Message {
                dir,
                path,
                compressed,
                payload,
                decompress_error: None,
                stream_ranges,
                ..
            } => self.message(conn.id, dir, &path, compressed, &payload, &stream_ranges),
            _ => {}
        }
        Ok(())
    }
}

impl Collect<'_> {
    /// A gRPC message, carried in `pieces` of the stream: its secret values
    /// are overwritten.
    fn message(
        &mut self,
        id: ConnId,
        dir: Dir,
        path: &PathInfo,
        compressed: bool,
        payload: &[u8],
        pieces: &[Range<u64>],
    ) {
        let Some(ranges) = self
            .schemas
            .secret_ranges(path.known(), dir.is_request(), payload)
        else {
            self.found.unchecked += 1;
            return;
        };
        if ranges.is_empty() {
            return;
        }
        self.found.messages += 1;
        self.found.values += ranges.len() as u64;
        let list = self.secrets.entry((id, dir)).or_default();
        let stream: Vec<Range<u64>> = match compressed {
            // The secrets are somewhere in the compressed bytes: all of them go.
            true => {
                self.found.compressed += 1;
                pieces.to_vec()
            }
            false => ranges
                .into_iter()
                .flat_map(|r| to_stream(pieces, r))
                .collect(),
        };
        for range in stream {
            self.found.bytes += range.end - range.start;
            list.push(Overwrite { range, bytes: None });
        }
    }

    /// An HTTP/1.x body: its secret bytes (`decode::http1::secrets`) are
    /// filled. A summarised body (binary, an archive, or past the bound
    /// kept) was not read: counted as unchecked, unless empty.
    fn http_body(
        &mut self,
        id: ConnId,
        dir: Dir,
        path: &PathInfo,
        part: &Part,
        payload: &[u8],
        pieces: &[Range<u64>],
    ) {
        if !part.kept {
            self.found.unchecked += 1;
            return;
        }
        let ranges = secrets::body_secrets(path.known().unwrap_or_default(), payload);
        if ranges.is_empty() {
            return;
        }
        self.found.messages += 1;
        self.found.values += ranges.len() as u64;
        let list = self.secrets.entry((id, dir)).or_default();
        for range in ranges.into_iter().flat_map(|r| to_stream(pieces, r)) {
            self.found.bytes += range.end - range.start;
            list.push(Overwrite { range, bytes: None });
        }
    }

    /// An HTTP/1.x request's secret header field or query value (the
    /// decoder reports only those): replaced by a stand-in of the same
    /// length (the registry headers stay base64).
    fn http_field(&mut self, id: ConnId, dir: Dir, v: &LiteralValue) {
        let (Some(name), Some(value)) = (v.field.name.known(), v.field.value.known()) else {
            return;
        };
        let name = String::from_utf8_lossy(name);
        let masked = secrets::masked_field(&name, value, FILL);
        self.found.headers += 1;
        self.found.values += 1;
        let list = self.secrets.entry((id, dir)).or_default();
        let mut done = 0;
        for range in &v.stream_ranges {
            let n = (range.end - range.start) as usize;
            self.found.bytes += n as u64;
            list.push(Overwrite {
                range: range.clone(),
                bytes: masked.get(done..done + n).map(<[u8]>::to_vec),
            });
            done += n;
        }
    }

    /// A header value sent as a literal: overwritten if its name says secret.
    fn header(&mut self, id: ConnId, dir: Dir, v: &LiteralValue) {
        let (Some(name), Some(value)) = (v.field.name.known(), v.field.value.known()) else {
            return;
        };
        if !is_secret_header(name) {
            return;
        }
        let len: u64 = v.stream_ranges.iter().map(|r| r.end - r.start).sum();
        let mask = match v.huffman {
            true => huffman_mask(value, len as usize),
            false => None,
        };
        self.found.headers += 1;
        self.found.values += 1;
        self.found.bytes += len;
        let list = self.secrets.entry((id, dir)).or_default();
        let mut done = 0;
        for range in &v.stream_ranges {
            let n = (range.end - range.start) as usize;
            // A Huffman string the mask does not fit (never written by a
            // conforming encoder) is filled: its secret goes all the same.
            let bytes = mask.as_ref().map(|m| m[done..done + n].to_vec());
            done += n;
            list.push(Overwrite {
                range: range.clone(),
                bytes,
            });
        }
    }
}

/// The stream ranges of bytes `r` of a message carried in `pieces` (the
/// stream ranges of its bytes, in order).
pub fn to_stream(pieces: &[Range<u64>], r: Range<usize>) -> Vec<Range<u64>> {
    let (start, end) = (r.start as u64, r.end as u64);
    let mut out = Vec::new();
    let mut at = 0u64;
    for p in pieces {
        let len = p.end - p.start;
        let (lo, hi) = (start.max(at), end.min(at + len));
        if lo < hi {
            out.push(p.start + (lo - at)..p.start + (hi - at));
        }
        at += len;
    }
    out
}

impl Sink for Finder<'_> {
    fn event(&mut self, conn: &Conn, ts_ns: u64, ev: FlowEvent<'_>) -> Result<()> {
        self.decoders.on_flow(conn, ts_ns, ev, &mut self.collect)
    }
}

#[cfg(test)]
mod tests;
