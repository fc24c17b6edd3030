//! Calls as the report draws them: each finished call of the pipeline
//! (`What::CallEnd`) with its request's time, its first request message's
//! text and how many messages went each way, gathered from the messages
//! before its end.

use std::collections::HashMap;
use std::sync::Arc;

use crate::flow::{ConnId, Process};
use crate::output::grpc_status_name;

/// Characters of a call's first request kept for its hover text.
pub const EXCERPT_CHARS: usize = 160;
/// Calls in flight whose messages are followed at most; past it a call's
/// excerpt and message counts are not kept (counted on the page).
pub const MAX_PENDING: usize = 65_536;

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Status 0.
    Ok,
    /// A non-zero status.
    Failed(u32),
    /// The stream was reset (HTTP/2 RST_STREAM error code).
    Reset(u32),
    /// An HTTP/1.x response of status 400 or above (Docker, Podman).
    HttpFailed(u16),
    /// An HTTP/1.x response below 400.
    HttpOk(u16),
    /// It ended with no status seen (trailers lost, or a protocol without one).
    NoStatus,
    /// Still open when the capture ended.
    Open,
}

impl Outcome {
    /// The outcome of an HTTP/1.x call's end, by its status.
    pub fn of_http(status: u16, unfinished: bool) -> Outcome {
        match (unfinished, status) {
            (true, _) => Outcome::Open,
            (false, 400..) => Outcome::HttpFailed(status),
            (false, _) => Outcome::HttpOk(status),
        }
    }

    /// The outcome of a call end.
    pub fn of(status: Option<u32>, reset: Option<u32>, unfinished: bool) -> Outcome {
        match (unfinished, reset, status) {
            (true, _, _) => Outcome::Open,
            (false, Some(code), _) => Outcome::Reset(code),
            (false, None, Some(0)) => Outcome::Ok,
            (false, None, Some(s)) => Outcome::Failed(s),
            (false, None, None) => Outcome::NoStatus,
        }
    }

    /// Whether it is an error (a failure status or a reset).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Outcome::Failed(_) | Outcome::Reset(_) | Outcome::HttpFailed(_)
        )
    }

    /// The CSS class that colours it.
    pub fn class(self) -> &'static str {
        match self {
            Outcome::Ok | Outcome::HttpOk(_) => "ok",
            Outcome::Failed(_) | Outcome::HttpFailed(_) => "err",
            Outcome::Reset(_) => "rst",
            Outcome::NoStatus => "nost",
            Outcome::Open => "open",
        }
    }

    /// What a person reads: `OK`, `NOT_FOUND (5)`, `RST_STREAM CANCEL`.
    pub fn label(self) -> String {
        match self {
            Outcome::Ok => "OK".to_string(),
            Outcome::Failed(s) => format!("{} ({s})", grpc_status_name(s)),
            Outcome::HttpOk(s) | Outcome::HttpFailed(s) => format!("HTTP {s}"),
            Outcome::Reset(code) => format!(
                "RST_STREAM {}",
                crate::decode::h2::frame::error_code_name(code).unwrap_or("UNKNOWN")
            ),
            Outcome::NoStatus => "no status".to_string(),
            Outcome::Open => "open at the end".to_string(),
        }
    }
}

/// One finished call.
#[derive(Clone, Debug)]
pub struct Call {
    /// Its place among the calls, in the order they ended.
    pub seq: u64,
    /// Its connection.
    pub conn: ConnId,
    /// Its stream.
    pub stream: u32,
    /// Its method path (`<unknown>` when not known).
    pub method: Arc<str>,
    /// The pod it is about, as `namespace/name`, when known.
    pub pod: Option<Arc<str>>,
    /// The container it is about (name, else id), when known.
    pub container: Option<String>,
    /// When its request came, when that was seen.
    pub start_ns: Option<u64>,
    /// When it ended (the end of the capture for an open call).
    pub end_ns: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// More than one message went one way: a stream, not a unary call.
    pub streaming: bool,
    /// The first part of its first request message, secrets redacted.
    pub excerpt: Option<String>,
    /// The first part of its status message (grpc-message), if any.
    pub status_message: Option<String>,
    /// Its connection's client.
    pub client: Process,
    /// Its connection's server.
    pub server: Process,
}

impl Call {
    /// Request to end, when the request was seen.
    pub fn duration_ns(&self) -> Option<u64> {
        self.start_ns.map(|s| self.end_ns.saturating_sub(s))
    }
}

/// What was seen of a call before its end.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// When its first request message came.
    pub first_request_ns: Option<u64>,
    /// Request messages.
    pub requests: u32,
    /// Response messages.
    pub responses: u32,
    /// Its first request's text.
    pub excerpt: Option<String>,
}

/// The calls in flight, by connection and stream.
#[derive(Default)]
pub struct InFlight {
    calls: HashMap<(ConnId, u32), Seen>,
    /// Calls not followed because [`MAX_PENDING`] were.
    pub not_followed: u64,
}

impl InFlight {
    /// A message of the call on `stream` of `conn`: a request (with its
    /// text) or a response.
    pub fn message(&mut self, key: (ConnId, u32), ts_ns: u64, request: Option<&str>) {
        if !self.calls.contains_key(&key) {
            if self.calls.len() >= MAX_PENDING {
                self.not_followed += 1;
                return;
            }
            self.calls.insert(key, Seen::default());
        }
        let Some(seen) = self.calls.get_mut(&key) else {
            return;
        };
        match request {
            Some(text) => {
                seen.requests = seen.requests.saturating_add(1);
                seen.first_request_ns.get_or_insert(ts_ns);
                if seen.excerpt.is_none() {
                    seen.excerpt = Some(super::escape::cut(text, EXCERPT_CHARS));
                }
            }
            None => seen.responses = seen.responses.saturating_add(1),
        }
    }

    /// The call on `stream` of `conn` ended: what was seen of it.
    pub fn end(&mut self, key: (ConnId, u32)) -> Seen {
        self.calls.remove(&key).unwrap_or_default()
    }

    /// Calls followed now.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether none is followed.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}
