//! The presentation model: what a person reads, one [`Item`] per message,
//! finished call, lost range and note, built from decoder events. Messages
//! arrive here already filtered and decoded, so outputs only format.

use crate::decode::{self, CallMeta, Event, PathInfo, Protocol};
use crate::flow::{Conn, ConnId, Dir, Process};
use crate::protobuf::Decoded;
use crate::subjects::Subject;

/// Connection context shared by the items of one connection.
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    /// Connection number in this capture.
    pub id: ConnId,
    /// Socket path (or `ip:port` for foreign captures).
    pub path: Option<String>,
    /// The client process.
    pub client: Process,
    /// The server process.
    pub server: Process,
    /// The protocol its bytes showed, once decided.
    pub protocol: Option<Protocol>,
    /// HPACK tables recovered from the server were applied (see `recovery`):
    /// header fields from before the capture are exact from then on.
    pub hpack_recovered: bool,
}

impl ConnInfo {
    /// Brings what is known of `conn` up to date (its owners are learned as
    /// it goes), allocating only when its path changed.
    pub fn refresh(&mut self, conn: &Conn) {
        self.id = conn.id;
        if self.path != conn.path {
            self.path.clone_from(&conn.path);
        }
        self.client = conn.shown(Dir::ToServer);
        self.server = conn.shown(Dir::ToClient);
    }

    /// The process that sends in direction `dir`.
    pub fn sender(&self, dir: Dir) -> Process {
        match dir {
            Dir::ToServer => self.client,
            Dir::ToClient => self.server,
        }
    }
}

/// What happened, ready for output.
#[derive(Clone, Debug)]
pub enum What {
    /// A gRPC or ttrpc message.
    Message {
        /// Request or response.
        dir: Dir,
        /// HTTP/2 or ttrpc stream id.
        stream: u32,
        /// Method path.
        path: PathInfo,
        /// Namespace and timeout of its call.
        meta: CallMeta,
        /// The compressed flag of the message.
        compressed: bool,
        /// The message bytes (decompressed).
        payload: Vec<u8>,
        /// Why a compressed message could not be decompressed.
        decompress_error: Option<String>,
        /// The payload decoded with the schemas, in the forms the output
        /// asked for; None when it could not be decompressed.
        decoded: Option<Decoded>,
        /// HTTP/1.x: what the message is (a body, a stream's piece) and,
        /// when summarised, its type and size.
        http: Option<Box<decode::http1::Part>>,
    },
    /// A call ended.
    CallEnd {
        /// HTTP/2 or ttrpc stream id.
        stream: u32,
        /// Method path.
        path: PathInfo,
        /// Namespace and timeout of the call.
        meta: CallMeta,
        /// The HTTP status of the response, when seen.
        http_status: Option<u16>,
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
        /// Direction.
        dir: Dir,
        /// Bytes lost.
        bytes: u64,
    },
    /// The decoder noted something about the stream (resync, HPACK desync, GOAWAY, errors).
    Note {
        /// Direction.
        dir: Dir,
        /// One line of text.
        text: String,
    },
}

impl What {
    /// The method path of a message or call; None for gaps and notes.
    pub fn path(&self) -> Option<&PathInfo> {
        match self {
            What::Message { path, .. } | What::CallEnd { path, .. } => Some(path),
            What::Gap { .. } | What::Note { .. } => None,
        }
    }
}

/// One output item.
#[derive(Clone, Debug)]
pub struct Item {
    /// Wall-clock time, ns since the epoch.
    pub ts_ns: u64,
    /// The connection.
    pub conn: ConnInfo,
    /// Who wrote the bytes that completed it (the client for requests).
    pub writer: Process,
    /// The other end.
    pub peer: Process,
    /// What.
    pub what: What,
    /// The pod and container its call is about, as far as known
    /// (messages and call ends).
    pub subject: Subject,
    /// Where the writer and the peer run, when in a container the map
    /// knows (the cgroup names the container, the traffic its pod).
    pub ends: Ends,
}

/// The container and pod of each process of an item, as the subject map
/// names them (empty for the host and for containers it does not know).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ends {
    /// The writer's container.
    pub writer: Subject,
    /// The peer's container.
    pub peer: Subject,
}

impl Item {
    /// What the map says of the container the connection's client runs
    /// in (the writer of requests, the peer of responses).
    pub fn client_subject(&self) -> &Subject {
        if self.writer.container == self.conn.client.container {
            &self.ends.writer
        } else {
            &self.ends.peer
        }
    }
}

/// The item a decoder event becomes, if any (`ts_ns`: the time of the flow
/// event, for events that carry no write of their own). Messages are left
/// undecoded (`decoded: None`).
pub fn of_event(info: &ConnInfo, ev: Event, ts_ns: u64) -> Option<Item> {
    let item = |ts_ns, writer, dir: Dir, what| Item {
        ts_ns,
        conn: info.clone(),
        writer,
        peer: info.sender(dir.opposite()),
        what,
        subject: Subject::default(),
        ends: Ends::default(),
    };
    let note =
        |dir: Dir, text: String| item(ts_ns, info.sender(dir), dir, What::Note { dir, text });
    match ev {
        Event::CallStart { .. } | Event::Literals { .. } => None,
        // Finding the first frame of a direction whose start was not
        // seen, with nothing skipped, is not news.
        Event::Resync { skipped: 0, .. } => None,
        Event::Message {
            stream_id,
            dir,
            path,
            stamp,
            compressed,
            payload,
            decompress_error,
            meta,
            http,
            ..
        } => Some(item(
            stamp.ts_ns,
            stamp.by,
            dir,
            What::Message {
                dir,
                stream: stream_id,
                path,
                meta,
                compressed,
                payload,
                decompress_error: decompress_error.map(|e| e.to_string()),
                decoded: None,
                http,
            },
        )),
        Event::CallEnd {
            stream_id,
            path,
            http_status,
            status,
            message,
            reset,
            started_ns,
            ended_ns,
            unfinished,
            stamp,
            meta,
            ..
        } => {
            let writer = match stamp.by.pid {
                Some(_) => stamp.by,
                None => info.server,
            };
            let what = What::CallEnd {
                stream: stream_id,
                path,
                meta,
                http_status,
                status,
                message,
                reset,
                latency_ns: started_ns.map(|s| ended_ns.saturating_sub(s)),
                unfinished,
            };
            Some(item(ended_ns, writer, Dir::ToClient, what))
        }
        Event::Gap { dir, bytes } => {
            Some(item(ts_ns, info.sender(dir), dir, What::Gap { dir, bytes }))
        }
        Event::Resync { dir, skipped } => {
            let text = match info.protocol {
                Some(Protocol::Http1) => {
                    format!("HTTP/1.x message head found after skipping {skipped} bytes")
                }
                Some(Protocol::Ttrpc) => {
                    format!("ttrpc frame boundary found after skipping {skipped} bytes")
                }
                _ => format!("HTTP/2 frame boundary found after skipping {skipped} bytes"),
            };
            Some(note(dir, text))
        }
        Event::Desync { dir, reason } => Some(note(dir, format!("HPACK state reset: {reason}"))),
        Event::Goaway {
            dir,
            last_stream_id,
            error_code,
            debug,
            stamp,
        } => {
            let text = format!(
                "GOAWAY last_stream={last_stream_id} error={} {}",
                decode::h2::frame::error_code_name(error_code)
                    .map_or_else(|| error_code.to_string(), str::to_string),
                String::from_utf8_lossy(&debug)
            );
            Some(item(stamp.ts_ns, stamp.by, dir, What::Note { dir, text }))
        }
        Event::Error { dir, error } => Some(note(dir, error.to_string())),
    }
}
