//! One call, one payload: the BPF program emits a send of more than
//! SNOOP_CHUNK bytes (or one whose copy stopped early) as several records
//! flagged SNOOP_F_MORE but the last. They come from one program run on one
//! CPU, so they are consecutive among that thread's records; other threads'
//! records may come between them. They are joined here, before the flow
//! layer, so that a write is one packet of the capture (up to the segment
//! size of the pcapng writer).

use std::collections::HashMap;

use super::record::{self, FLAG_MORE, HEADER_LEN, KIND_DATA};
use crate::sizes::Sizes;

/// A joined payload is handed on once it reaches this size (16 MiB writes
/// are not held whole).
const MAX_JOINED: usize = 1 << 20;

struct Open {
    raw: Vec<u8>,
    /// Seen at the previous tick already.
    old: bool,
}

/// Records of calls whose last record has not arrived yet, per thread.
#[derive(Default)]
pub struct Joiner {
    open: HashMap<u32, Open>,
}

/// The raw record with its "more" flag cleared and `len` set to its payload.
fn finished(mut raw: Vec<u8>) -> Vec<u8> {
    if let Some(mut h) = record::header(&raw) {
        h.flags &= !FLAG_MORE;
        h.len = (raw.len() - HEADER_LEN) as u32;
        record::set_header(&mut raw, &h);
    }
    raw
}

impl Joiner {
    /// Calls being joined (one per thread at most).
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("join.open", self.open.len());
    }

    /// Take one ring buffer record; whole calls (and records that are not
    /// data) are appended to `out`, in order per thread. Copies go into
    /// buffers taken from `pool` when it has some (allocating a fresh 32 KiB
    /// buffer per record made the heap grow and shrink, and page faults were
    /// a sixth of the recorder's time when streaming).
    pub fn push(&mut self, raw: &[u8], out: &mut Vec<Vec<u8>>, pool: &mut Vec<Vec<u8>>) {
        let copy = |pool: &mut Vec<Vec<u8>>, bytes: &[u8], room: usize| {
            let mut v = pool.pop().unwrap_or_default();
            v.clear();
            v.reserve(room);
            v.extend_from_slice(bytes);
            v
        };
        let Some(h) = record::header(raw) else {
            out.push(copy(pool, raw, raw.len()));
            return;
        };
        let more = h.flags & FLAG_MORE != 0;
        if h.kind != KIND_DATA {
            // A gap (or anything else) of this thread ends what it joined.
            if let Some(o) = self.open.remove(&h.tid) {
                out.push(finished(o.raw));
            }
            out.push(copy(pool, raw, raw.len()));
            return;
        }
        let body = raw
            .get(HEADER_LEN..HEADER_LEN + h.len as usize)
            .unwrap_or(&[]);
        if let Some(o) = self.open.get_mut(&h.tid) {
            let joinable = record::header(&o.raw).is_some_and(|first| {
                first.sock_ino == h.sock_ino
                    && first.offset + (o.raw.len() - HEADER_LEN) as u64 == h.offset
            }) && o.raw.len() + body.len() <= HEADER_LEN + MAX_JOINED;
            if joinable {
                o.raw.extend_from_slice(body);
                o.old = false;
                if !more {
                    if let Some(o) = self.open.remove(&h.tid) {
                        out.push(finished(o.raw));
                    }
                }
                return;
            }
            if let Some(o) = self.open.remove(&h.tid) {
                out.push(finished(o.raw));
            }
        }
        let mut own = copy(
            pool,
            &raw[..HEADER_LEN],
            if more { 2 * raw.len() } else { raw.len() },
        );
        own.extend_from_slice(body);
        if more {
            self.open.insert(
                h.tid,
                Open {
                    raw: own,
                    old: false,
                },
            );
        } else {
            out.push(own);
        }
    }

    /// Called about every 100 ms: a call whose last record never came (its
    /// gap record did not fit in the ring either) is handed on as it is.
    pub fn tick(&mut self, out: &mut Vec<Vec<u8>>) {
        let stale: Vec<u32> = self
            .open
            .iter()
            .filter(|(_, o)| o.old)
            .map(|(&t, _)| t)
            .collect();
        for tid in stale {
            if let Some(o) = self.open.remove(&tid) {
                out.push(finished(o.raw));
            }
        }
        for o in self.open.values_mut() {
            o.old = true;
        }
    }

    /// End of capture: everything still open.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) {
        for (_, o) in self.open.drain() {
            out.push(finished(o.raw));
        }
    }
}

#[cfg(test)]
mod tests;
