//! Flow events kept for later: the one owned form of a [`FlowEvent`], and
//! the one hold-and-replay buffer every stage that must wait uses (the
//! protocol sniffer until a connection's first bytes tell what it speaks,
//! the pcapng writer until both sides are named, the recovery stage until
//! a table comes), and the recorder tests and tools keep whole captures in.

use anyhow::Result;

use super::{Conn, Dir, FlowEvent, Process, Protocol, Sink};

/// A [`FlowEvent`] that owns what it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedEvent {
    /// [`FlowEvent::Open`].
    Open,
    /// [`FlowEvent::Protocol`].
    Protocol(Option<Protocol>),
    /// [`FlowEvent::Data`].
    Data {
        /// Direction.
        dir: Dir,
        /// Who wrote them.
        writer: Process,
        /// Offset of `bytes[0]` in this direction's stream.
        offset: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// [`FlowEvent::Gap`].
    Gap {
        /// Direction.
        dir: Dir,
        /// Where the missing range starts.
        offset: u64,
        /// How many bytes are missing.
        len: u64,
    },
    /// [`FlowEvent::Seed`].
    Seed {
        /// Direction whose table it rebuilds.
        dir: Dir,
        /// Stream offset it applies before.
        offset: u64,
        /// The whole frame, header included.
        frame: Vec<u8>,
        /// Where the table came from.
        origin: String,
    },
    /// [`FlowEvent::Close`].
    Close,
}

impl OwnedEvent {
    /// A copy of `ev`.
    pub fn of(ev: FlowEvent<'_>) -> Self {
        match ev {
            FlowEvent::Open => OwnedEvent::Open,
            FlowEvent::Protocol(p) => OwnedEvent::Protocol(p),
            FlowEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            } => OwnedEvent::Data {
                dir,
                writer: *writer,
                offset,
                bytes: bytes.to_vec(),
            },
            FlowEvent::Gap { dir, offset, len } => OwnedEvent::Gap { dir, offset, len },
            FlowEvent::Seed {
                dir,
                offset,
                frame,
                origin,
            } => OwnedEvent::Seed {
                dir,
                offset,
                frame: frame.to_vec(),
                origin: origin.to_owned(),
            },
            FlowEvent::Close => OwnedEvent::Close,
        }
    }

    /// The event, borrowing from `self`.
    pub fn as_event(&self) -> FlowEvent<'_> {
        match self {
            OwnedEvent::Open => FlowEvent::Open,
            OwnedEvent::Protocol(p) => FlowEvent::Protocol(*p),
            OwnedEvent::Data {
                dir,
                writer,
                offset,
                bytes,
            } => FlowEvent::Data {
                dir: *dir,
                writer,
                offset: *offset,
                bytes,
            },
            OwnedEvent::Gap { dir, offset, len } => FlowEvent::Gap {
                dir: *dir,
                offset: *offset,
                len: *len,
            },
            OwnedEvent::Seed {
                dir,
                offset,
                frame,
                origin,
            } => FlowEvent::Seed {
                dir: *dir,
                offset: *offset,
                frame,
                origin,
            },
            OwnedEvent::Close => FlowEvent::Close,
        }
    }

    /// Stream bytes it holds (a seed's frame is not stream bytes, and is small).
    pub fn data_len(&self) -> usize {
        match self {
            OwnedEvent::Data { bytes, .. } => bytes.len(),
            _ => 0,
        }
    }
}

/// One connection's events, in order with their times, kept until a stage
/// may hand them on. It counts the stream bytes it holds, which each stage
/// bounds by its own limit.
#[derive(Clone, Debug, Default)]
pub struct Held {
    events: Vec<(u64, OwnedEvent)>,
    bytes: usize,
}

impl Held {
    /// Keep `ev`, which happened at `ts_ns`.
    pub fn push(&mut self, ts_ns: u64, ev: FlowEvent<'_>) {
        self.push_owned(ts_ns, OwnedEvent::of(ev));
    }

    /// Keep an event already owned.
    pub fn push_owned(&mut self, ts_ns: u64, ev: OwnedEvent) {
        self.bytes += ev.data_len();
        self.events.push((ts_ns, ev));
    }

    /// Put `ev` at position `at` (clamped to the end).
    pub fn insert(&mut self, at: usize, ts_ns: u64, ev: OwnedEvent) {
        self.bytes += ev.data_len();
        self.events.insert(at.min(self.events.len()), (ts_ns, ev));
    }

    /// Stream bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Nothing is held.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events held, in order.
    pub fn events(&self) -> &[(u64, OwnedEvent)] {
        &self.events
    }

    /// Everything held, leaving the buffer empty.
    pub fn take(&mut self) -> Vec<(u64, OwnedEvent)> {
        self.bytes = 0;
        std::mem::take(&mut self.events)
    }

    /// Hand everything held to `sink`, as events of `conn`, in order.
    pub fn replay(&mut self, conn: &Conn, sink: &mut dyn Sink) -> Result<()> {
        for (ts, ev) in self.take() {
            sink.event(conn, ts, ev.as_event())?;
        }
        Ok(())
    }
}

/// A sink that keeps every event with its connection as it was then: for
/// tests and tools that look at a whole capture at once.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    /// The events in the order they came, each with its connection and time.
    pub events: Vec<(Conn, u64, OwnedEvent)>,
}

impl Sink for Recorder {
    fn event(&mut self, conn: &Conn, ts_ns: u64, ev: FlowEvent<'_>) -> Result<()> {
        self.events.push((conn.clone(), ts_ns, OwnedEvent::of(ev)));
        Ok(())
    }
}
