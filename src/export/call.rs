//! What the exporters read of a finished call: protocol, service and
//! method, status, times, written once for spans and metrics alike.

use crate::decode::{PathInfo, Protocol};
use crate::output::grpc_status_name;
use crate::pipeline::{Item, What};

/// What an HTTP API call (Docker, Podman) adds: never its target as sent,
/// which holds ids, names and query values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpPart {
    /// The request method, one of HTTP's own (RFC 9110, PATCH), else
    /// `_OTHER` (the conventions' name for any other token); None when the
    /// request was not seen.
    pub method: Option<&'static str>,
    /// The route the request matched ([`crate::decode::http1::HttpCall::route`]:
    /// `/containers/*/json`), when the API table has it.
    pub route: Option<&'static str>,
    /// The response's status code, when seen.
    pub status: Option<u16>,
}

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
    /// An HTTP API call's method, route and status.
    pub http: Option<HttpPart>,
}

impl<'a> Call<'a> {
    /// The call `item` ends; None for messages, gaps and notes.
    pub fn of(item: &'a Item) -> Option<Call<'a>> {
        let What::CallEnd {
            stream,
            path,
            meta,
            http_status,
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
        let http = (item.conn.protocol == Some(Protocol::Http1)).then(|| {
            let request = meta.http.as_deref();
            let method = request.and_then(|h| h.method.as_deref());
            HttpPart {
                method: method.map(http_method),
                route: request.and_then(|h| h.route),
                status: *http_status,
            }
        });
        let status = match (&http, status, reset, unfinished) {
            (Some(h), ..) => match (h.status, unfinished) {
                (Some(code), _) => http_status_name(code),
                (None, true) => "UNFINISHED",
                (None, false) => "NONE",
            },
            (None, Some(code), _, _) => grpc_status_name(*code),
            (None, None, Some(_), _) => "RST_STREAM",
            (None, None, None, true) => "UNFINISHED",
            (None, None, None, false) => "NONE",
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
            http,
        })
    }

    /// Whether the call failed: any status but OK, and not merely cut
    /// short by the end of its connection or of the capture (a long
    /// stream, such as Events/Subscribe, ends so at shutdown). An HTTP
    /// call failed when its server answered 5xx: the conventions leave a
    /// server span's 4xx (a container not found) unset, the client's
    /// mistake rather than the server's.
    pub fn failed(&self) -> bool {
        match &self.http {
            Some(h) => h.status.is_some_and(|s| s >= 500),
            None => !matches!(self.status, "OK" | "UNFINISHED"),
        }
    }

    /// The span's name: `service/method` (the RPC conventions' fully
    /// qualified method; `docker/ContainerCreate`, `podman/ImagePullLibpod`
    /// for the HTTP APIs), or, when the method is not known, `<protocol>
    /// unknown` (`GET unknown` for an HTTP route neither API has, `HTTP
    /// unknown` for a method of its own): never a guess, never a path.
    pub fn name(&self) -> String {
        self.name_parts().concat()
    }

    /// [`Call::name`] in three parts to write one after the other (a span
    /// is encoded with no string built for its name).
    pub fn name_parts(&self) -> [&'a str; 3] {
        match (self.service, self.method, &self.http) {
            (Some(s), Some(m), _) => [s, "/", m],
            (_, _, Some(h)) => match h.method {
                Some(m) if m != "_OTHER" => [m, " ", "unknown"],
                _ => ["HTTP", " ", "unknown"],
            },
            _ => [self.protocol, " ", "unknown"],
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

/// `method` if it is one of HTTP's (RFC 9110's and PATCH), else `_OTHER`:
/// a token from the wire must not become a metric label or span name.
fn http_method(method: &str) -> &'static str {
    const METHODS: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("_OTHER")
}

/// A status code as a label: the codes RFC 9110 and the APIs use, else its
/// class (`2xx`), so that labels stay few whatever a server answers.
pub fn http_status_name(code: u16) -> &'static str {
    const CODES: [(u16, &str); 46] = [
        (100, "100"),
        (101, "101"),
        (102, "102"),
        (103, "103"),
        (200, "200"),
        (201, "201"),
        (202, "202"),
        (203, "203"),
        (204, "204"),
        (205, "205"),
        (206, "206"),
        (207, "207"),
        (300, "300"),
        (301, "301"),
        (302, "302"),
        (303, "303"),
        (304, "304"),
        (307, "307"),
        (308, "308"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (406, "406"),
        (408, "408"),
        (409, "409"),
        (410, "410"),
        (411, "411"),
        (412, "412"),
        (413, "413"),
        (415, "415"),
        (416, "416"),
        (422, "422"),
        (426, "426"),
        (428, "428"),
        (429, "429"),
        (431, "431"),
        (500, "500"),
        (501, "501"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
        (505, "505"),
        (507, "507"),
        (511, "511"),
    ];
    if let Some((_, name)) = CODES.iter().find(|(c, _)| *c == code) {
        return name;
    }
    match code / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "other",
    }
}
