//! One call, one payload: the BPF program emits a send of more than
//! SNOOP_CHUNK bytes (or one whose copy stopped early) as several records
//! flagged SNOOP_F_MORE but the last. They come from one program run on one
//! CPU, so they are consecutive among that thread's records; other threads'
//! records may come between them. They are joined here, before the flow
//! layer, so that a write is one packet of the capture (up to the segment
//! size of the pcapng writer).

use std::collections::HashMap;

use super::record::{self, FLAG_MORE, HEADER_LEN, KIND_DATA};

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
mod tests {
    use super::*;
    use crate::capture::record::{parse, Payload, OFFSET_BASE};
    use crate::capture::skel::types::snoop_event;

    fn rec(tid: u32, ino: u64, off: u64, more: bool, body: &[u8]) -> Vec<u8> {
        let h = snoop_event {
            sock_ino: ino,
            tid,
            offset: OFFSET_BASE + off,
            kind: KIND_DATA,
            flags: if more { FLAG_MORE } else { 0 },
            len: body.len() as u32,
            ..Default::default()
        };
        let mut v = vec![0u8; HEADER_LEN];
        record::set_header(&mut v, &h);
        v.extend_from_slice(body);
        v
    }

    fn bytes(raw: &[u8]) -> (u64, Vec<u8>) {
        match parse(raw).unwrap().payload {
            Payload::Data { offset, bytes } => (offset, bytes.to_vec()),
            p => panic!("not data: {p:?}"),
        }
    }

    #[test]
    fn records_of_one_call_become_one_payload_across_threads() {
        let mut j = Joiner::default();
        let mut out = vec![];
        let mut pool = vec![vec![7u8; 3]];
        j.push(&rec(1, 10, 0, true, b"ab"), &mut out, &mut pool);
        j.push(&rec(2, 20, 0, false, b"other"), &mut out, &mut pool);
        j.push(&rec(1, 10, 2, true, b"cd"), &mut out, &mut pool);
        j.push(&rec(1, 10, 4, false, b"e"), &mut out, &mut pool);
        assert!(pool.is_empty(), "the pooled buffer was used");
        assert_eq!(out.len(), 2);
        assert_eq!(bytes(&out[0]), (0, b"other".to_vec()));
        assert_eq!(bytes(&out[1]), (0, b"abcde".to_vec()));
        let h = record::header(&out[1]).unwrap();
        assert_eq!(h.flags & FLAG_MORE, 0);
    }

    #[test]
    fn a_call_cut_short_is_handed_on_at_the_second_tick() {
        let mut j = Joiner::default();
        let mut out = vec![];
        j.push(&rec(1, 10, 0, true, b"ab"), &mut out, &mut vec![]);
        j.tick(&mut out);
        assert!(out.is_empty());
        j.tick(&mut out);
        assert_eq!(bytes(&out[0]), (0, b"ab".to_vec()));
    }

    #[test]
    fn a_discontinuity_starts_a_new_payload() {
        let mut j = Joiner::default();
        let mut out = vec![];
        j.push(&rec(1, 10, 0, true, b"ab"), &mut out, &mut vec![]);
        j.push(&rec(1, 10, 9, false, b"zz"), &mut out, &mut vec![]);
        assert_eq!(out.len(), 2);
        assert_eq!(bytes(&out[1]), (9, b"zz".to_vec()));
    }
}
