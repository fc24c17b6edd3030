//! Sharing stderr's status line with output on the same terminal: the line
//! has no newline, so anything else printed there must erase it first.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the status line is on the terminal now.
pub static SHOWN: AtomicBool = AtomicBool::new(false);

/// Erase the status line if it is shown, so that other output starts on a
/// clean line; the next status update draws it again.
pub fn hide() {
    if SHOWN.swap(false, Ordering::Relaxed) {
        let mut err = io::stderr().lock();
        let _ = err.write_all(b"\r\x1b[K");
        let _ = err.flush();
    }
}

/// Standard output that erases the status line before it writes, for a
/// table or NDJSON going to the same terminal as the status line.
pub struct BelowStatus(pub io::Stdout);

impl Write for BelowStatus {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        hide();
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
