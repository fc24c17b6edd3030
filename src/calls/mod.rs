//! Flow events -> HTTP/2 and gRPC decoding -> what a person reads: one
//! [`Item`] per gRPC message, finished call and lost range. The same sink
//! serves the live tracer and the offline reader.

use std::collections::HashMap;

use anyhow::Result;

use crate::capture::record::Writer;
use crate::decode::{self, ConnDecoder, Event, PathInfo};
use crate::flow::{Conn, ConnId, Dir, FlowEvent, Side, Sink};

/// A process at one end of a connection, as far as it is known.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Proc {
    /// Process id.
    pub pid: Option<u32>,
    /// Thread id (of the write).
    pub tid: Option<u32>,
    /// Thread name.
    pub comm: Option<String>,
}

impl Proc {
    fn of_side(side: &Side) -> Proc {
        Proc {
            pid: side.pid,
            tid: None,
            comm: side.comm.map(|c| c.to_string()),
        }
    }

    fn of_meta(m: &decode::Meta) -> Proc {
        Proc {
            pid: m.pid,
            tid: m.tid,
            comm: m.comm.clone(),
        }
    }
}

/// Connection context shared by the items of one connection.
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    /// Connection number in this capture.
    pub id: ConnId,
    /// Socket path (or `ip:port` for foreign captures).
    pub path: Option<String>,
    /// The client process.
    pub client: Proc,
    /// The server process.
    pub server: Proc,
}

/// What happened, ready for output.
#[derive(Clone, Debug)]
pub enum What {
    /// A gRPC message.
    Message {
        /// True for client-to-server.
        request: bool,
        /// HTTP/2 stream id.
        stream: u32,
        /// Method path.
        path: PathInfo,
        /// The compressed flag of the message.
        compressed: bool,
        /// The message bytes (decompressed).
        payload: Vec<u8>,
        /// Why a compressed message could not be decompressed.
        decompress_error: Option<String>,
    },
    /// A call ended.
    CallEnd {
        /// HTTP/2 stream id.
        stream: u32,
        /// Method path.
        path: PathInfo,
        /// grpc-status (0 is OK).
        status: Option<u32>,
        /// grpc-message.
        message: Option<String>,
        /// RST_STREAM error code.
        reset: Option<u32>,
        /// Request to end, in nanoseconds, when the start was seen.
        latency_ns: Option<u64>,
        /// The connection closed with the call open.
        unfinished: bool,
    },
    /// Bytes lost in one direction.
    Gap {
        /// True for client-to-server.
        request: bool,
        /// Bytes lost.
        bytes: u64,
    },
    /// The decoder noted something about the stream (resync, HPACK desync, GOAWAY, errors).
    Note {
        /// True for client-to-server.
        request: bool,
        /// One line of text.
        text: String,
    },
}

/// One output item.
#[derive(Clone, Debug)]
pub struct Item {
    /// Wall-clock time, ns since the epoch.
    pub ts_ns: u64,
    /// The connection.
    pub conn: ConnInfo,
    /// Who wrote the bytes that completed it (the client for requests).
    pub writer: Proc,
    /// The other end.
    pub peer: Proc,
    /// What.
    pub what: What,
}

/// Receives items (table, JSON).
pub trait Output {
    /// One item. An error stops the pipeline (e.g. the reader of stdout went away).
    fn item(&mut self, item: &Item) -> Result<()>;
    /// Push buffered output out (called about every 100 ms live, and at the end).
    fn flush(&mut self) -> Result<()>;
}

impl<O: Output + ?Sized> Output for Box<O> {
    fn item(&mut self, item: &Item) -> Result<()> {
        (**self).item(item)
    }

    fn flush(&mut self) -> Result<()> {
        (**self).flush()
    }
}

struct ConnState {
    info: ConnInfo,
    dec: ConnDecoder,
}

/// The decoding sink.
pub struct CallSink<O: Output> {
    conns: HashMap<ConnId, ConnState>,
    events: Vec<Event>,
    last_ns: u64,
    /// Where items go.
    pub out: O,
}

fn meta_of(ts_ns: u64, w: &Writer) -> decode::Meta {
    let known = w.pid != 0;
    decode::Meta {
        ts_ns,
        pid: known.then_some(w.pid),
        tid: known.then_some(w.tid),
        comm: known.then(|| w.comm.to_string()),
    }
}

fn decode_dir(d: Dir) -> decode::Dir {
    match d {
        Dir::ToServer => decode::Dir::ClientToServer,
        Dir::ToClient => decode::Dir::ServerToClient,
    }
}

impl<O: Output> CallSink<O> {
    /// A sink writing items to `out`.
    pub fn new(out: O) -> Self {
        CallSink {
            conns: HashMap::new(),
            events: Vec::new(),
            last_ns: 0,
            out,
        }
    }

    /// Time of the latest event seen (for finishing at the end of a file).
    pub fn last_ns(&self) -> u64 {
        self.last_ns
    }

    fn emit(&mut self, id: ConnId, ts_ns: u64) -> Result<()> {
        let Some(st) = self.conns.get(&id) else {
            return Ok(());
        };
        for ev in self.events.drain(..) {
            if let Some(item) = item_of(&st.info, ev, ts_ns) {
                self.out.item(&item)?;
            }
        }
        Ok(())
    }

    /// End of input: finish open calls of every connection as unfinished.
    pub fn finish(&mut self, ts_ns: u64) -> Result<()> {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            if let Some(st) = self.conns.get_mut(&id) {
                st.dec.close(ts_ns, &mut self.events);
            }
            self.emit(id, ts_ns)?;
            self.conns.remove(&id);
        }
        Ok(())
    }
}

fn item_of(info: &ConnInfo, ev: Event, ts_ns: u64) -> Option<Item> {
    let (client, server) = (info.client.clone(), info.server.clone());
    let by = |request: bool| {
        if request {
            (client.clone(), server.clone())
        } else {
            (server.clone(), client.clone())
        }
    };
    let item = |ts_ns, writer, peer, what| Item {
        ts_ns,
        conn: info.clone(),
        writer,
        peer,
        what,
    };
    match ev {
        Event::CallStart { .. } | Event::Literals { .. } => None,
        Event::Message {
            stream_id,
            dir,
            path,
            meta,
            compressed,
            payload,
            decompress_error,
            ..
        } => {
            let request = dir == decode::Dir::ClientToServer;
            let (_, peer) = by(request);
            Some(item(
                meta.ts_ns,
                Proc::of_meta(&meta),
                peer,
                What::Message {
                    request,
                    stream: stream_id,
                    path,
                    compressed,
                    payload,
                    decompress_error: decompress_error.map(|e| e.to_string()),
                },
            ))
        }
        Event::CallEnd {
            stream_id,
            path,
            status,
            message,
            reset,
            started_ns,
            ended_ns,
            unfinished,
            meta,
            ..
        } => {
            let (writer, peer) = by(false);
            let writer = if meta.pid.is_some() {
                Proc::of_meta(&meta)
            } else {
                writer
            };
            Some(item(
                ended_ns,
                writer,
                peer,
                What::CallEnd {
                    stream: stream_id,
                    path,
                    status,
                    message,
                    reset,
                    latency_ns: started_ns.map(|s| ended_ns.saturating_sub(s)),
                    unfinished,
                },
            ))
        }
        Event::Gap { dir, bytes } => {
            let request = dir == decode::Dir::ClientToServer;
            let (w, p) = by(request);
            Some(item(ts_ns, w, p, What::Gap { request, bytes }))
        }
        // Finding the first frame of a direction whose start was not
        // seen, with nothing skipped, is not news.
        Event::Resync { skipped: 0, .. } => None,
        Event::Resync { dir, skipped } => {
            let request = dir == decode::Dir::ClientToServer;
            let (w, p) = by(request);
            let text = format!("HTTP/2 frame boundary found after skipping {skipped} bytes");
            Some(item(ts_ns, w, p, What::Note { request, text }))
        }
        Event::Desync { dir, reason } => {
            let request = dir == decode::Dir::ClientToServer;
            let (w, p) = by(request);
            let text = format!("HPACK state reset: {reason}");
            Some(item(ts_ns, w, p, What::Note { request, text }))
        }
        Event::Goaway {
            dir,
            last_stream_id,
            error_code,
            debug,
            meta,
        } => {
            let request = dir == decode::Dir::ClientToServer;
            let (_, p) = by(request);
            let text = format!(
                "GOAWAY last_stream={last_stream_id} error={} {}",
                decode::frame::error_code_name(error_code)
                    .map_or_else(|| error_code.to_string(), str::to_string),
                String::from_utf8_lossy(&debug)
            );
            Some(item(
                meta.ts_ns,
                Proc::of_meta(&meta),
                p,
                What::Note { request, text },
            ))
        }
        Event::Error { dir, error } => {
            let request = dir == decode::Dir::ClientToServer;
            let (w, p) = by(request);
            Some(item(
                ts_ns,
                w,
                p,
                What::Note {
                    request,
                    text: error.to_string(),
                },
            ))
        }
    }
}

impl<O: Output> Sink for CallSink<O> {
    fn event(&mut self, conn: &Conn, ts_ns: u64, ev: FlowEvent<'_>) -> Result<()> {
        self.last_ns = self.last_ns.max(ts_ns);
        let st = self.conns.entry(conn.id).or_insert_with(|| ConnState {
            info: ConnInfo::default(),
            // The decoder recognises a preface at the client's first byte;
            // without one the capture began mid-connection.
            dec: ConnDecoder::new(false),
        });
        st.info.id = conn.id;
        st.info.path = conn.path.clone();
        st.info.client = Proc::of_side(&conn.client);
        st.info.server = Proc::of_side(&conn.server);
        match ev {
            FlowEvent::Open => Ok(()),
            FlowEvent::Data {
                dir, writer, bytes, ..
            } => {
                let meta = meta_of(ts_ns, writer);
                st.dec.feed(decode_dir(dir), bytes, &meta, &mut self.events);
                self.emit(conn.id, ts_ns)
            }
            FlowEvent::Gap { dir, len, .. } => {
                st.dec.gap(decode_dir(dir), len, &mut self.events);
                self.emit(conn.id, ts_ns)
            }
            FlowEvent::Close => {
                st.dec.close(ts_ns, &mut self.events);
                self.emit(conn.id, ts_ns)?;
                self.conns.remove(&conn.id);
                Ok(())
            }
        }
    }
}

/// Both sinks: the pcapng writer and the decoder (`record --decode`).
pub struct Tee<'a, 'b> {
    /// First sink.
    pub a: &'a mut dyn Sink,
    /// Second sink.
    pub b: &'b mut dyn Sink,
}

impl Sink for Tee<'_, '_> {
    fn event(&mut self, conn: &Conn, ts_ns: u64, ev: FlowEvent<'_>) -> Result<()> {
        self.a.event(conn, ts_ns, ev)?;
        self.b.event(conn, ts_ns, ev)
    }
}
