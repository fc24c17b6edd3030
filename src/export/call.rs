//! What the exporters read of a finished call: protocol, service and
//! method, status, times, written once for spans and metrics alike.

use crate::decode::PathInfo;
use crate::output::grpc_status_name;
use crate::pipeline::{Item, What};

/// A finished call, as spans and metrics name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call<'a> {
    /// `grpc`, `ttrpc`, or `unknown` (a connection whose protocol was not
    /// decided, which cannot end a call today).
    pub protocol: &'static str,
    /// The service, `containerd.services.images.v1.Images`; None when the
    /// method path is unknown (indexed before the capture) or not of the
    /// form `/service/method`.
    pub service: Option<&'a str>,
    /// The method, `List`; None as for `service`.
    pub method: Option<&'a str>,
    /// The status name: a gRPC status code's (`OK`, `NOT_FOUND`; ttrpc uses
    /// the same codes), else `RST_STREAM` (reset without a status),
    /// `UNFINISHED` (the connection or the capture ended first), or `NONE`
    /// (ended with no status).
    pub status: &'static str,
    /// The status message the server sent, if any.
    pub message: Option<&'a str>,
    /// Start (the request's first byte), ns since the epoch; None when the
    /// call began before the capture.
    pub start_ns: Option<u64>,
    /// End (the response's last byte or trailers), ns since the epoch.
    pub end_ns: u64,
    /// The stream (HTTP/2 or ttrpc stream id) on its connection.
    pub stream: u32,
    /// The containerd namespace the call was made in.
    pub namespace: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// The call `item` ends; None for messages, gaps and notes.
    pub fn of(item: &'a Item) -> Option<Call<'a>> {
        let What::CallEnd {
            stream,
            path,
            meta,
            status,
            message,
            reset,
            latency_ns,
            unfinished,
        } = &item.what
        else {
            return None;
        };
        let (service, method) = match path {
            PathInfo::Known(p) => split_path(p),
            PathInfo::Unknown => (None, None),
        };
        let status = match (status, reset, unfinished) {
            (Some(code), _, _) => grpc_status_name(*code),
            (None, Some(_), _) => "RST_STREAM",
            (None, None, true) => "UNFINISHED",
            (None, None, false) => "NONE",
        };
        Some(Call {
            protocol: item.conn.protocol.map_or("unknown", |p| p.name()),
            service,
            method,
            status,
            message: message.as_deref(),
            start_ns: latency_ns.map(|l| item.ts_ns.saturating_sub(l)),
            end_ns: item.ts_ns,
            stream: *stream,
            namespace: meta.namespace.as_deref(),
        })
    }

    /// Whether the call failed: any status but OK, and not merely cut
    /// short by the end of its connection or of the capture (a long
    /// stream, such as Events/Subscribe, ends so at shutdown).
    pub fn failed(&self) -> bool {
        !matches!(self.status, "OK" | "UNFINISHED")
    }

    /// The span's name: `service/method` (the RPC conventions' fully
    /// qualified method), or `<protocol> unknown` when the method is not
    /// known: never a guess.
    ///
    /// TODO(http branch merge): an HTTP API call's path is
    /// `/docker/OPERATION` or `/podman/OPERATION`, named `docker/OPERATION`
    /// here as is; one the decoder does not know is to be named
    /// `<request method> unknown` (`GET unknown`), from the call's HTTP
    /// part, which [`super::span`]'s `http_attributes` also reads.
    pub fn name(&self) -> String {
        match (self.service, self.method) {
            (Some(s), Some(m)) => format!("{s}/{m}"),
            _ => format!("{} unknown", self.protocol),
        }
    }

    /// The duration in seconds, when the start was seen.
    pub fn seconds(&self) -> Option<f64> {
        self.start_ns
            .map(|s| self.end_ns.saturating_sub(s) as f64 / 1e9)
    }
}

/// `/pkg.Service/Method` as (service, method); both None unless the path
/// has exactly that form with neither part empty.
fn split_path(path: &str) -> (Option<&str>, Option<&str>) {
    let Some(rest) = path.strip_prefix('/') else {
        return (None, None);
    };
    match rest.split_once('/') {
        Some((s, m)) if !s.is_empty() && !m.is_empty() && !m.contains('/') => (Some(s), Some(m)),
        _ => (None, None),
    }
}
