//! `report`: one self-contained HTML page of a capture. A summary (time
//! span, connections and their processes, protocols, calls, errors, gaps),
//! a sortable table per method (calls, errors by status, latency
//! p50/p95/max, bytes), a timeline with a lane per connection, and a
//! sequence diagram per pod (or per connection when no pod is known).
//!
//! The page loads nothing: its CSS, SVG and script are inline, and the
//! drawings are SVG made here, so it reads the same with script disabled
//! (the script only highlights a method's calls on hover and sorts the
//! table). Everything that came from the capture is escaped for where it
//! goes ([`escape`]). Memory and page size stay bounded however many
//! calls a capture holds: past each bound calls are counted rather than
//! drawn one by one, and the page says so.
//!
//! Items come filtered and decoded from the pipeline, as for the table;
//! [`Report::write`] writes the page at the end.

pub mod calls;
pub mod drawn;
pub mod escape;
pub mod lanes;
pub mod methods;
pub mod page;
pub mod sequence;
pub mod summary;
pub mod svg;
pub mod table;
pub mod timeline;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::decode::PathInfo;
use crate::pipeline::{Item, Output, ProtocolCounts, What};
use calls::{Call, InFlight, Outcome};
use drawn::Drawn;
use lanes::{GapMark, Lanes};
use methods::Methods;
use sequence::{pod_label, Diagrams};

/// Notes of the decoders kept to list on the page.
pub const MAX_NOTES: usize = 20;

/// What the command knows of the capture besides its items.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The capture's name, as given.
    pub source: String,
    /// Packets read.
    pub packets: u64,
    /// Payload bytes read.
    pub bytes: u64,
    /// Bytes the capture marks as lost (gaps).
    pub gap_bytes: u64,
    /// Bytes seen twice and dropped (retransmissions, overlaps).
    pub duplicate_bytes: u64,
    /// Packets skipped (not TCP).
    pub skipped_packets: u64,
    /// Connections whose start the capture missed.
    pub mid_connection: u64,
    /// Connections by protocol.
    pub protocols: ProtocolCounts,
    /// Calls whose method stayed unknown.
    pub unnamed: u64,
    /// How many connections had their client in a container, if any.
    pub containers: Option<String>,
    /// The filters given (`--method ...`, `--pod ...`).
    pub filters: Vec<String>,
    /// Why the capture could not be read to its end, if so.
    pub problem: Option<String>,
    /// Server binaries whose own schemas decoded the capture when it was
    /// recorded, and how to use them here (`decode`'s hints).
    pub schema_hints: Vec<String>,
}

/// Totals over the whole capture.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    /// Calls that ended.
    pub calls: u64,
    /// Calls by how they ended.
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Messages.
    pub messages: u64,
    /// Gaps in the shown connections, and the bytes they lost.
    pub gaps: u64,
    /// Bytes lost in them.
    pub gap_bytes: u64,
    /// Decoder notes (resynchronisations, HPACK resets, GOAWAY).
    pub notes: u64,
    /// The first [`MAX_NOTES`] notes, as `cN: text`.
    pub first_notes: Vec<String>,
    /// First and last time of an item.
    pub span: Option<(u64, u64)>,
}

/// Collects the calls and writes the page.
#[derive(Default)]
pub struct Report {
    in_flight: InFlight,
    methods: Methods,
    lanes: Lanes,
    drawn: Drawn,
    diagrams: Diagrams,
    totals: Totals,
}

impl Report {
    /// An empty report.
    pub fn new() -> Report {
        Report::default()
    }

    /// Calls that ended so far.
    pub fn calls(&self) -> u64 {
        self.totals.calls
    }

    /// Writes the page to `w`.
    pub fn write(self, facts: &Facts, w: &mut dyn Write) -> Result<()> {
        let html = page::render(self.parts(), facts);
        w.write_all(html.as_bytes()).context("writing the report")?;
        w.flush().context("writing the report")
    }

    fn parts(self) -> page::Parts {
        page::Parts {
            totals: self.totals,
            methods: self.methods,
            lanes: self.lanes,
            drawn: self.drawn.into_ranked(),
            diagrams: self.diagrams,
            not_followed: self.in_flight.not_followed,
        }
    }

    fn call_end(&mut self, item: &Item, stream: u32, path: &PathInfo, end: CallEnd) {
        let lane = self.lanes.of(&item.conn, item.ts_ns);
        let seen = self.in_flight.end((item.conn.id, stream));
        let outcome = match end.http_status {
            Some(s) => Outcome::of_http(s, end.unfinished),
            None => Outcome::of(end.status, end.reset, end.unfinished),
        };
        let subject = &item.subject;
        let pod = subject.pod.as_deref().filter(|p| p.is_known());
        let call = Call {
            seq: self.totals.calls,
            conn: item.conn.id,
            stream,
            method: self.methods.intern(path.known().unwrap_or(UNKNOWN)),
            pod: pod.map(|p| Arc::from(pod_label(p))),
            container: subject
                .container
                .as_ref()
                .map(|c| c.name.clone().unwrap_or_else(|| c.id.clone())),
            start_ns: end.latency_ns.map(|l| item.ts_ns.saturating_sub(l)),
            end_ns: item.ts_ns,
            outcome,
            streaming: seen.requests > 1 || seen.responses > 1,
            excerpt: seen.excerpt,
            status_message: end
                .message
                .filter(|m| !m.is_empty())
                .map(|m| escape::cut(&m, calls::EXCERPT_CHARS)),
            client: item.conn.client,
            server: item.conn.server,
        };
        self.totals.calls += 1;
        *self.totals.outcomes.entry(outcome).or_default() += 1;
        self.methods.call(&call);
        let l = &mut self.lanes.lanes[lane];
        l.calls += 1;
        l.errors += u64::from(outcome.is_error());
        self.diagrams.add(&call, pod);
        if let Some((lane, c)) = self.drawn.offer(lane, call) {
            let l = &mut self.lanes.lanes[lane];
            l.bins
                .add(c.start_ns.unwrap_or(c.end_ns), c.outcome.is_error());
            l.binned += 1;
        }
    }
}

/// How a method path that is not known is shown.
pub const UNKNOWN: &str = "<unknown>";

/// What a call's end says.
struct CallEnd {
    /// HTTP/1.x: the response's status.
    http_status: Option<u16>,
    status: Option<u32>,
    message: Option<String>,
    reset: Option<u32>,
    latency_ns: Option<u64>,
    unfinished: bool,
}

impl Output for Report {
    fn item(&mut self, item: &Item) -> Result<()> {
        let ts = item.ts_ns;
        self.totals.span = Some(match self.totals.span {
            Some((a, b)) => (a.min(ts), b.max(ts)),
            None => (ts, ts),
        });
        match &item.what {
            What::Message {
                dir,
                stream,
                path,
                payload,
                decompress_error,
                decoded,
                ..
            } => {
                self.totals.messages += 1;
                self.lanes.of(&item.conn, ts);
                let method = self.methods.intern(path.known().unwrap_or(UNKNOWN));
                self.methods
                    .message(&method, dir.is_request(), payload.len());
                let key = (item.conn.id, *stream);
                match (dir.is_request(), decompress_error, decoded) {
                    (false, ..) => self.in_flight.message(key, ts, None),
                    (true, Some(e), _) => {
                        let text = format!("<{} compressed bytes: {e}>", payload.len());
                        self.in_flight.message(key, ts, Some(&text));
                    }
                    (true, None, Some(d)) => self.in_flight.message(key, ts, Some(&d.text)),
                    (true, None, None) => self.in_flight.message(key, ts, Some("")),
                }
            }
            What::CallEnd {
                stream,
                path,
                http_status,
                status,
                message,
                reset,
                latency_ns,
                unfinished,
                meta,
            } => {
                // An h2c stream carries no `http` member: its status is HTTP/2's.
                let http_status = http_status.filter(|_| meta.http.is_some());
                let end = CallEnd {
                    http_status,
                    status: *status,
                    message: message.clone(),
                    reset: *reset,
                    latency_ns: *latency_ns,
                    unfinished: *unfinished,
                };
                self.call_end(item, *stream, path, end);
            }
            What::Gap { dir, bytes } => {
                let lane = self.lanes.of(&item.conn, ts);
                self.totals.gaps += 1;
                self.totals.gap_bytes = self.totals.gap_bytes.saturating_add(*bytes);
                self.lanes.gap(GapMark {
                    ts_ns: ts,
                    dir: *dir,
                    bytes: *bytes,
                    lane,
                });
            }
            What::Note { text, .. } => {
                self.lanes.of(&item.conn, ts);
                self.totals.notes += 1;
                if self.totals.first_notes.len() < MAX_NOTES {
                    let text = escape::cut(text, 200);
                    self.totals
                        .first_notes
                        .push(format!("c{}: {text}", item.conn.id));
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
