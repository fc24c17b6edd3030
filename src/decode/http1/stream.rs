//! The bytes of a hijacked Docker stream (attach, exec start) after the
//! switch: raw (a TTY's), or multiplexed stdout/stderr frames (moby's
//! `stdcopy`: an 8-byte header, the stream in byte 0, three zero bytes,
//! the length big-endian, then the bytes), or not known.
//!
//! Which one a stream is: a `multiplexed-stream` content type says
//! multiplexed; otherwise the container's or exec's `Tty` (learned from the
//! ContainerCreate or ExecStart body, [`Ttys`]) says raw (true) or
//! multiplexed (false), as dockerd 20.10 (API 1.41) sends
//! `raw-stream` for both; when nothing says, the framing is unknown and
//! the bytes are shown as written, never cut by a guessed header. A header
//! that is not one (a stream byte over 2, non-zero padding) ends
//! demultiplexing: the rest is shown with its framing unknown.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::part::PartKind;

/// Frame bytes gathered before they are shown, at most (a longer frame is
/// shown in pieces of this size).
const MAX_PIECE: usize = 64 << 10;
/// Containers and execs whose `Tty` is remembered, at most (oldest out first).
const MAX_TTYS: usize = 4096;

/// How a stream's bytes are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFraming {
    /// As written (a TTY).
    Raw,
    /// stdcopy frames.
    Multiplexed,
    /// Not known.
    Unknown,
}

/// The `Tty` of containers and execs by id (and a container's name), as
/// their create calls said, shared by every connection's decoder: a
/// container is created on one connection and attached to on another.
#[derive(Clone, Debug, Default)]
pub struct Ttys(Arc<Mutex<TtyMap>>);

#[derive(Debug, Default)]
struct TtyMap {
    by_id: HashMap<String, bool>,
    order: VecDeque<String>,
}

impl Ttys {
    /// `id` (a container's id or name, an exec's id) has `tty`.
    pub fn learn(&self, id: &str, tty: bool) {
        let Ok(mut m) = self.0.lock() else {
            return;
        };
        if m.by_id.insert(id.to_string(), tty).is_none() {
            m.order.push_back(id.to_string());
            if m.order.len() > MAX_TTYS {
                if let Some(old) = m.order.pop_front() {
                    m.by_id.remove(&old);
                }
            }
        }
    }

    /// What `id` was created with, if seen.
    pub fn tty(&self, id: &str) -> Option<bool> {
        self.0.lock().ok()?.by_id.get(id).copied()
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |m| m.by_id.len())
    }

    /// Nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One direction of a switched stream.
#[derive(Debug)]
pub struct Demux {
    framing: StreamFraming,
    /// Header bytes gathered while a header is cut across writes.
    head: Vec<u8>,
    /// The frame under way: its kind and bytes left.
    frame: Option<(PartKind, u32)>,
}

impl Demux {
    /// A stream of `framing`.
    pub fn new(framing: StreamFraming) -> Self {
        Demux {
            framing,
            head: Vec::new(),
            frame: None,
        }
    }

    /// The pieces of `data` (at stream offset `at`) to show, each with its
    /// kind and stream offset.
    pub fn split<'a>(&mut self, data: &'a [u8], at: u64, out: &mut Vec<(PartKind, &'a [u8], u64)>) {
        let mut pos = 0;
        while pos < data.len() {
            match self.framing {
                StreamFraming::Raw | StreamFraming::Unknown => {
                    let kind = match self.framing {
                        StreamFraming::Raw => PartKind::Stream,
                        _ => PartKind::StreamUnknown,
                    };
                    for (i, piece) in data[pos..].chunks(MAX_PIECE).enumerate() {
                        out.push((kind, piece, at + (pos + i * MAX_PIECE) as u64));
                    }
                    return;
                }
                StreamFraming::Multiplexed => {}
            }
            if let Some((kind, left)) = self.frame {
                let n = (left as usize).min(data.len() - pos).min(MAX_PIECE);
                out.push((kind, &data[pos..pos + n], at + pos as u64));
                pos += n;
                let left = left - n as u32;
                self.frame = (left > 0).then_some((kind, left));
                continue;
            }
            let need = 8 - self.head.len();
            let take = need.min(data.len() - pos);
            self.head.extend_from_slice(&data[pos..pos + take]);
            pos += take;
            if self.head.len() < 8 {
                return;
            }
            let h = std::mem::take(&mut self.head);
            let kind = match h[0] {
                0 => PartKind::Stdin,
                1 => PartKind::Stdout,
                2 => PartKind::Stderr,
                _ => PartKind::StreamUnknown,
            };
            if kind == PartKind::StreamUnknown || h[1..4] != [0, 0, 0] {
                // Not a stdcopy header: the rest is shown as written.
                self.framing = StreamFraming::Unknown;
                out.push((
                    PartKind::StreamUnknown,
                    &data[pos - take..pos],
                    at + (pos - take) as u64,
                ));
                continue;
            }
            let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
            self.frame = (len > 0).then_some((kind, len));
        }
    }
}

#[cfg(test)]
mod tests;
