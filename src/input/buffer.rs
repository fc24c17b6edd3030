//! The capture, read in chunks into a buffer that holds at most one block
//! (plus one read) at a time.

use std::io::{self, Read};

/// Bytes asked of the input at a time.
const READ_CHUNK: usize = 64 << 10;

/// The input, read in chunks, with the absolute offset of what is unread.
pub struct Input<R> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
    /// Absolute offset of the first unread byte.
    pub offset: u64,
}

impl<R: Read> Input<R> {
    /// Wrap `r`.
    pub fn new(r: R) -> Self {
        Input {
            r,
            buf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            offset: 0,
        }
    }

    /// Make `n` unread bytes available; false if the input ends first.
    pub fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.buf.len() - self.pos >= n {
            return Ok(true);
        }
        self.buf.drain(..self.pos);
        self.pos = 0;
        while self.buf.len() < n {
            let have = self.buf.len();
            self.buf.resize(have + (n - have).max(READ_CHUNK), 0);
            let got = loop {
                match self.r.read(&mut self.buf[have..]) {
                    Ok(got) => break got,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(have);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(have + got);
            if got == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The unread bytes buffered.
    pub fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Mark `n` buffered bytes as read.
    pub fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }
}
