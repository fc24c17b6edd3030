//! The bytes of one direction that a framer holds, and where they sit in
//! the direction's stream: shared by the HTTP/2 and the ttrpc framers.

use std::ops::Range;

/// Bytes fed and not consumed yet. `buf[pos..]` is what a framer still has
/// to look at; `base` is the stream offset of `buf[0]` (gaps count their
/// size, so offsets are the flow layer's).
#[derive(Debug, Default)]
pub struct StreamBuf {
    /// The bytes held.
    pub buf: Vec<u8>,
    /// Where the framer is in `buf`.
    pub pos: usize,
    base: u64,
}

impl StreamBuf {
    /// Appends captured bytes; what was consumed is let go first, so a
    /// range returned before this call is no longer valid.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.base = self.base.saturating_add(self.pos as u64);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The held bytes of `range` (empty if out of bounds).
    pub fn bytes(&self, range: Range<usize>) -> &[u8] {
        self.buf.get(range).unwrap_or_default()
    }

    /// Stream offset of the byte at `index` of `buf`.
    pub fn stream_offset(&self, index: usize) -> u64 {
        self.base.saturating_add(index as u64)
    }

    /// Bytes not consumed yet.
    pub fn unread(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    /// Everything held is given up, and the `n` bytes after it were lost:
    /// the next byte fed is at the offset after them.
    pub fn lose(&mut self, n: u64) {
        // Saturating: a capture file may claim any gap size.
        self.base = self
            .base
            .saturating_add(self.buf.len() as u64)
            .saturating_add(n);
        self.buf.clear();
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests;
