//! The capture's bytes written by a thread of their own, so that a slow
//! `write(2)` (page cache, disk, a pipe to Wireshark) does not stop the
//! ring buffer from being drained: up to `QUEUED` buffers of `BUF` bytes
//! wait for it, then writing blocks as a plain file would.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// Bytes gathered before a buffer is handed to the writing thread.
const BUF: usize = 1 << 20;
/// Buffers that may wait for the writing thread: at most this many MiB of
/// memory, spent only while the output is slower than the capture.
const QUEUED: usize = 8;

/// A `Write` whose bytes reach `out` from another thread.
pub struct Spool {
    buf: Vec<u8>,
    full: Option<SyncSender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    /// The first error the writing thread met; every later call returns it.
    failed: Arc<Mutex<Option<io::Error>>>,
    thread: Option<JoinHandle<()>>,
}

/// An error that keeps its OS code (ENOSPC, EPIPE) and kind for the caller.
fn same_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl Spool {
    /// Start the writing thread on `out`.
    pub fn new(mut out: Box<dyn Write + Send>) -> io::Result<Self> {
        let (full, to_write) = mpsc::sync_channel::<Vec<u8>>(QUEUED);
        let (give_back, empty) = mpsc::channel::<Vec<u8>>();
        let failed = Arc::new(Mutex::new(None));
        let seen = failed.clone();
        let thread = thread::Builder::new()
            .name("pcapng-writer".into())
            .spawn(move || {
                for mut buf in to_write {
                    let result = out.write_all(&buf).and_then(|()| out.flush());
                    if let Err(e) = result {
                        if let Ok(mut f) = seen.lock() {
                            f.get_or_insert(e);
                        }
                        // Dropping the receiver fails the next send.
                        return;
                    }
                    buf.clear();
                    let _ = give_back.send(buf);
                }
            })?;
        Ok(Spool {
            buf: Vec::with_capacity(BUF),
            full: Some(full),
            empty,
            failed,
            thread: Some(thread),
        })
    }

    fn error(&self) -> Option<io::Error> {
        self.failed.lock().ok()?.as_ref().map(same_error)
    }

    /// Hand the gathered bytes to the writing thread (blocking while
    /// `QUEUED` buffers already wait).
    fn hand_over(&mut self) -> io::Result<()> {
        if let Some(e) = self.error() {
            return Err(e);
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUF));
        let buf = std::mem::replace(&mut self.buf, next);
        let sent = self.full.as_ref().map(|f| f.send(buf));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread stopped after an error: report that error.
            _ => Err(self
                .error()
                .unwrap_or_else(|| io::Error::other("the capture's writing thread stopped"))),
        }
    }

    /// Let the writing thread finish what it was given, and wait for it.
    fn stop_thread(&mut self) {
        self.full = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Write out everything and stop the thread; the first write error, if any.
    pub fn close(mut self) -> io::Result<()> {
        let handed = self.hand_over();
        self.stop_thread();
        handed?;
        match self.error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Write for Spool {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > BUF && !self.buf.is_empty() {
            self.hand_over()?;
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    /// Hands what was gathered to the writing thread without waiting for
    /// it to reach the output (`close` waits).
    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

#[cfg(test)]
mod tests;
