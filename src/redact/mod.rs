//! A shareable copy of a capture file: the values of secret fields (see
//! [`crate::protobuf::is_secret_name`]) overwritten in place, byte for byte,
//! so that every block, length, option and comment stays as it was and
//! Wireshark dissects the copy as it did the original.
//!
//! Three reads of the file, each bounded in memory like `decode`:
//! `find` decodes it (HTTP/2, gRPC, protobuf with the schemas) and notes
//! where, in each direction's stream, secret values lie; `patch` reads it
//! again to map those stream ranges to bytes of the packets that carry them
//! (retransmissions included), then copies the file with those bytes
//! replaced and each touched packet's TCP checksum adjusted.
//!
//! Header values are redacted too (`authorization`, `cookie`, names like
//! the fields'): where they were sent as literals, which is where their
//! octets are; later references to the HPACK table then show the redacted
//! entry.
//!
//! What cannot be named is not redacted: messages of unknown methods or
//! that do not fit their schema, calls whose headers the capture missed, and
//! messages whose compression could not be undone. A compressed message
//! holding secrets has its whole body overwritten.

mod find;
mod hpack;
mod patch;

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, Write};

use find::Finder;
pub use find::{Found, FILL};
use patch::Locator;

use crate::input::{self, ReadError, ReadOptions, ReadSummary};
use crate::protobuf::SchemaSet;

/// What a redaction did.
#[derive(Debug, Default)]
pub struct Summary {
    /// What the first read found.
    pub found: Found,
    /// The first read's summary.
    pub read: ReadSummary,
    /// Packets rewritten.
    pub packets: u64,
    /// Bytes of the input copied (all of it, unless `stopped`).
    pub copied: u64,
    /// The input is damaged or cut short here: the copy stops at the last
    /// whole block before it, since what follows was not read.
    pub stopped: Option<ReadError>,
}

/// Why no copy (or only part of one) was written.
#[derive(Debug)]
pub enum Error {
    /// The input could not be read, is not a capture, or its decoding failed.
    Read(ReadError),
    /// Writing the copy failed.
    Write(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read(e) => e.fmt(f),
            Error::Write(e) => write!(f, "writing the copy failed: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        Error::Read(e)
    }
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads `input` (a pcapng or pcap file) and writes its redacted copy to `out`.
///
/// # Errors
///
/// The input cannot be read or is not a capture, or writing fails. A capture
/// damaged or cut short part way is not an error: see [`Summary::stopped`].
pub fn redact(
    input: &mut File,
    schemas: &SchemaSet,
    opts: &ReadOptions,
    out: &mut dyn Write,
) -> Result<Summary, Error> {
    let mut finder = Finder::new(schemas);
    let mut counted = Counted {
        inner: io::BufReader::with_capacity(1 << 20, &mut *input),
        count: 0,
    };
    let (read, len, stopped) = match input::read(&mut counted, opts, &mut finder) {
        Ok(read) => (read, counted.count, None),
        Err(e @ (ReadError::Truncated { offset } | ReadError::Malformed { offset, .. })) => {
            (ReadSummary::default(), offset, Some(e))
        }
        Err(e) => return Err(e.into()),
    };
    let (secrets, found) = finder.finish().map_err(ReadError::Sink)?;

    // The second read sees exactly the bytes the first one decoded, even if
    // the file grows meanwhile (a capture still being recorded).
    input.rewind().map_err(ReadError::Io)?;
    let mut locator = Locator::new(&secrets);
    let again = io::BufReader::with_capacity(1 << 20, (&mut *input).take(len));
    match input::read(again, opts, &mut locator) {
        Ok(_) | Err(ReadError::Truncated { .. } | ReadError::Malformed { .. }) => {}
        Err(e) => return Err(e.into()),
    }

    input.rewind().map_err(ReadError::Io)?;
    let input = io::BufReader::with_capacity(1 << 20, &mut *input);
    patch::copy(input, out, len, &locator.patches)
        .and_then(|()| out.flush())
        .map_err(Error::Write)?;
    Ok(Summary {
        found,
        read,
        packets: locator.patches.len() as u64,
        copied: len,
        stopped,
    })
}
