//! Frame headers of one direction, found without keeping a byte of the
//! payloads: for a stage that must know where frames start and what they
//! are (the recovery stage places tables before header blocks) but decodes
//! nothing. The decoder's [`super::framer`] keeps whole frames instead.
//!
//! It walks from the first byte it is given, which must be a frame
//! boundary; a gap, or bytes that are not frames (an unknown type, a length
//! no peer may send), lose the alignment for good.

use super::frame::{Head, Kind, HEAD_LEN, MAX_MAX_FRAME_SIZE};

/// Walks one direction's frame headers.
#[derive(Debug, Default)]
pub struct Heads {
    /// Stream offset up to which bytes were walked (None: not started).
    pos: Option<u64>,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// The frame header being read, and where it starts.
    head: Vec<u8>,
    head_at: u64,
    /// Alignment lost: nothing more is found.
    lost: bool,
}

impl Heads {
    /// Where the next frame starts, if the bytes so far end at a boundary.
    pub fn boundary(&self) -> Option<u64> {
        (!self.lost && self.skip == 0 && self.head.is_empty()).then(|| self.pos.unwrap_or(0))
    }

    /// Alignment is lost (a gap, or bytes that are not frames).
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Bytes are missing: alignment is lost.
    pub fn gap(&mut self) {
        self.lost = true;
    }

    /// Feed bytes at stream offset `offset`; pushes to `found` the frames
    /// whose header completes in them, with the stream offset where each
    /// header starts. Bytes already walked are skipped; bytes past a hole
    /// lose the alignment.
    pub fn feed(&mut self, offset: u64, bytes: &[u8], found: &mut Vec<(u64, Head)>) {
        if self.lost {
            return;
        }
        let pos = *self.pos.get_or_insert(offset);
        let end = offset + bytes.len() as u64;
        if offset > pos {
            self.lost = true;
            return;
        }
        if end <= pos {
            // Seen already (bytes replayed after a hold).
            return;
        }
        let mut i = (pos - offset) as usize;
        while i < bytes.len() {
            if self.skip > 0 {
                let n = self.skip.min((bytes.len() - i) as u64);
                self.skip -= n;
                i += n as usize;
                continue;
            }
            if self.head.is_empty() {
                self.head_at = offset + i as u64;
            }
            let take = (HEAD_LEN - self.head.len()).min(bytes.len() - i);
            self.head.extend_from_slice(&bytes[i..i + take]);
            i += take;
            if self.head.len() == HEAD_LEN {
                let Ok(raw) = <[u8; HEAD_LEN]>::try_from(&self.head[..]) else {
                    self.lost = true;
                    return;
                };
                let h = Head::parse(&raw);
                self.head.clear();
                if matches!(h.kind, Kind::Unknown(_)) || h.length > MAX_MAX_FRAME_SIZE {
                    self.lost = true;
                    return;
                }
                found.push((self.head_at, h));
                self.skip = u64::from(h.length);
            }
        }
        self.pos = Some(end);
    }
}

#[cfg(test)]
mod tests;
