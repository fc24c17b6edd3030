//! The table: one row per gRPC or ttrpc message, failed call and gap.
//! A request's MESSAGE starts with its call's namespace and timeout when
//! known, as in `[ns=default timeout=2s] id:"c1"`.
//!
//! ```text
//! TIMESTAMP    COMM                PID/TID PEER                  TYPE STREAM METHOD            MESSAGE
//! 14:10:00.123 ctr               4467/4470 containerd/1686       REQ    c0:1 Namespaces/Create namespace:{name:"snoop"}
//! ```
//!
//! - TIMESTAMP is local time to the millisecond (`--full`: microsecond).
//! - COMM and PID/TID name the writer: COMM is its process's name (as `ps`
//!   shows it, whichever thread wrote), PID/TID the pid alone when the
//!   thread is the process's main one. With `--full`, COMM is
//!   `process/thread` when the writing thread has a name of its own
//!   (`python3/event_engine`: grpcio writes from its `event_engine`
//!   threads). PEER is the other end as `comm/pid` (`pid/PID` while its
//!   name is unknown, `-` when nothing is).
//! - STREAM is `cN:S`: stream S of connection N (numbered in the order the
//!   capture saw them), because two connections between the same client
//!   and server both have a stream 1. Gaps and notes show `cN` only.
//! - METHOD is the service's name and the method (`--full`: the path).
//! - A row of a connection whose client runs inside a container says so
//!   first in MESSAGE: `[from_container=8806619fdd57] ` (the id's first 12
//!   characters, whole with `--full`), inside a request's bracket with its
//!   namespace and timeout.
//!
//! Widths are in [`super::layout`]: they only grow, and the terminal bounds
//! METHOD and the row. The header is written above the first row, and again
//! above any row that widens a column, so that every row sits under a
//! header at its widths. Live, rows are written as they come; from a file
//! ([`Sizing::File`]), the first rows are held to size the columns.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::layout::{cut_to_width, Layout, COLUMNS, MAX_PID_DIGITS};
use super::per_subject::PerSubject;
use super::{grpc_status_name, short_method, time};
use crate::decode::http1::HttpCall;
use crate::decode::{CallMeta, PathInfo};
use crate::flow::Process;
use crate::pipeline::{Item, Output, What};
use crate::subjects::Subject;

/// Rows held to size the columns of a file's table: enough for the whole
/// of a usual session (the fixtures have at most 88 rows, a dockerd session
/// 297), after which a wider cell is rare and only writes the header again.
pub const BLOCK_ROWS: usize = 1024;
/// Text held at most to size the columns (the block ends at the row that
/// reaches it): a few large messages must not hold much memory.
pub const BLOCK_BYTES: usize = 4 << 20;

/// How the columns are sized before the first row is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizing {
    /// Rows are written as they come (`trace`, `record --decode`): columns
    /// start as wide as their cells can be, for pids of `pid_digits` digits.
    Live {
        /// Digits of the largest pid.
        pid_digits: usize,
    },
    /// Rows from a file (`decode`): the first [`BLOCK_ROWS`] rows (or
    /// [`BLOCK_BYTES`] of text) are held, and the columns sized from them.
    File,
}

impl Default for Sizing {
    fn default() -> Self {
        Sizing::Live {
            pid_digits: MAX_PID_DIGITS,
        }
    }
}

/// Table output options.
#[derive(Clone, Debug, Default)]
pub struct TableOptions {
    /// Do not cut rows to the terminal width; show full method paths and
    /// threads' own names.
    pub full: bool,
    /// Terminal width to cut rows to (None: do not cut).
    pub width: Option<usize>,
    /// How the columns are sized.
    pub sizing: Sizing,
}

/// The cells of a row.
type Cells = [String; COLUMNS + 1];

/// Rows held until the columns are sized.
#[derive(Default)]
struct Held {
    rows: Vec<Cells>,
    bytes: usize,
}

/// Writes the table.
pub struct Table<W: Write> {
    w: W,
    /// How each subject shows, worked out once.
    shown: PerSubject<Shown>,
    opts: TableOptions,
    layout: Layout,
    /// Rows not written yet ([`Sizing::File`], until the block is full).
    held: Option<Held>,
    /// Rows, written or held.
    pub rows: u64,
    /// Headers written: above the first row, and above each row that
    /// widened a column.
    pub headers: u64,
}

/// The writer's PID/TID cell: the pid alone for a main thread.
fn pid_tid(p: &Process) -> String {
    match (p.pid, p.tid) {
        (Some(pid), Some(tid)) if tid != pid => format!("{pid}/{tid}"),
        (Some(pid), _) => pid.to_string(),
        (None, Some(tid)) => format!("-/{tid}"),
        (None, None) => "-".to_string(),
    }
}

/// The writer's COMM cell: its process's name; with `--full`, followed by
/// `/` and its thread's name when the thread has one of its own
/// (`python3/event_engine`), as PID/TID adds the thread's id.
fn comm(p: &Process, full: bool) -> String {
    let process = p.comm.map_or_else(|| "-".to_string(), |c| c.to_string());
    match p.renamed_thread() {
        Some(thread) if full => format!("{process}/{thread}"),
        _ => process,
    }
}

impl<W: Write> Table<W> {
    /// A table on `w`.
    pub fn new(w: W, opts: TableOptions) -> Self {
        let (layout, held) = match opts.sizing {
            Sizing::Live { pid_digits } => (Layout::live(opts.width, opts.full, pid_digits), None),
            Sizing::File => (Layout::new(opts.width, opts.full), Some(Held::default())),
        };
        Table {
            shown: PerSubject::default(),
            layout,
            held,
            w,
            opts,
            rows: 0,
            headers: 0,
        }
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }

    /// A row: held while the columns are being sized, else written.
    fn push(&mut self, cells: Cells) -> Result<()> {
        self.rows += 1;
        let Some(held) = &mut self.held else {
            return self.write(&cells);
        };
        self.layout.fit(&cells);
        held.bytes += cells.iter().map(String::len).sum::<usize>();
        held.rows.push(cells);
        if held.rows.len() >= BLOCK_ROWS || held.bytes >= BLOCK_BYTES {
            self.release()?;
        }
        Ok(())
    }

    /// Writes the held rows, under a header sized for all of them; the
    /// rows after them are written as they come.
    fn release(&mut self) -> Result<()> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        held.rows.iter().try_for_each(|cells| self.write(cells))
    }

    /// Writes a row, after the header when it is the first or widens a
    /// column.
    fn write(&mut self, cells: &Cells) -> Result<()> {
        if self.layout.fit(cells) || self.headers == 0 {
            self.headers += 1;
            let header = self.layout.header();
            self.line(header)?;
        }
        let row = self.layout.row(cells);
        self.line(row)
    }

    /// Writes `row`, cut to the terminal unless `--full`.
    fn line(&mut self, row: String) -> Result<()> {
        let row = match self.opts.width {
            Some(max) if !self.opts.full => cut_to_width(&row, max),
            _ => row,
        };
        writeln!(self.w, "{row}").context("writing the table")
    }

    /// `from_container=<id>` when the item's connection has its client in
    /// a container (the id cut to 12 characters unless `--full`).
    fn container_mark(&self, item: &Item) -> Option<String> {
        let c = item.conn.client.container;
        let c = c.container()?;
        let id = match self.opts.full {
            true => c.id.as_str(),
            false => c.id.short(),
        };
        Some(format!("from_container={id}"))
    }

    /// `text` after the `[from_container=...]` mark, if the row has one.
    fn marked(&self, item: &Item, text: String) -> String {
        match self.container_mark(item) {
            Some(mark) => format!("[{mark}] {text}"),
            None => text,
        }
    }

    fn method(&self, path: &PathInfo) -> String {
        match path {
            // An HTTP route no API table names: `METHOD /path` as it is.
            PathInfo::Known(p) if self.opts.full || p.contains(' ') => p.clone(),
            PathInfo::Known(p) => short_method(p).to_string(),
            PathInfo::Unknown => "<unknown>".to_string(),
        }
    }
}

impl<W: Write> Output for Table<W> {
    fn item(&mut self, item: &Item) -> Result<()> {
        let (kind, stream, method, message) = match &item.what {
            What::Message {
                dir,
                stream,
                path,
                meta,
                compressed,
                payload,
                decompress_error,
                decoded,
                http,
            } => {
                // The row's text is built once: its prefix, then the
                // message (ids shortened as it is copied).
                let mark = self.container_mark(item);
                let shown = self.shown.of(&item.subject, Shown::new);
                let mut text = match (dir.is_request(), mark) {
                    (true, mark) => context_with(meta, &shown.label, mark),
                    (false, Some(mark)) => format!("[{mark}] "),
                    (false, None) => String::new(),
                };
                // The message: "(compressed)", then its text with ids
                // shortened as it is copied.
                let body = |out: &mut String| {
                    if *compressed {
                        out.push_str("(compressed) ");
                    }
                    match (decompress_error, decoded) {
                        (Some(e), _) => {
                            let _ = write!(out, "<{} compressed bytes: {e}>", payload.len());
                        }
                        (None, Some(d)) if self.opts.full => out.push_str(&d.text),
                        (None, Some(d)) => shown.push_shortened(out, &d.text),
                        (None, None) => {}
                    }
                };
                // An HTTP message's row begins with its request or status
                // line, unless it is a stream's piece.
                let row_type = http.as_ref().and_then(|p| p.kind.row_type());
                match (&meta.http, row_type) {
                    (Some(h), None) => {
                        let mut b = String::new();
                        body(&mut b);
                        text.push_str(&http_line(h, dir.is_request(), &b));
                    }
                    _ => body(&mut text),
                }
                let kind = match (row_type, dir.is_request()) {
                    (Some(t), _) => t,
                    (None, true) => "REQ",
                    (None, false) => "RESP",
                };
                (kind, Some(*stream), self.method(path), text)
            }
            What::CallEnd {
                stream,
                path,
                http_status,
                status,
                message,
                reset,
                latency_ns,
                ..
            } => {
                let latency = latency_ns.map_or(String::new(), |ns| {
                    format!(" after {}", super::duration(ns))
                });
                let (kind, text) = if let Some(code) = reset {
                    let name =
                        crate::decode::h2::frame::error_code_name(*code).unwrap_or("UNKNOWN");
                    ("RST", format!("stream reset: {name}{latency}"))
                } else if let Some(s) = http_status.filter(|&s| s >= 400) {
                    let msg = message.as_deref().unwrap_or("");
                    ("ERR", format!("HTTP {s}: {}{latency}", msg.escape_debug()))
                } else if let Some(s) = status.filter(|&s| s != 0) {
                    let msg = message.as_deref().unwrap_or("");
                    (
                        "ERR",
                        format!("{} ({s}): {msg}{latency}", grpc_status_name(s)),
                    )
                } else {
                    // OK calls show as their messages; unfinished ones are
                    // calls still open when the capture ended.
                    return Ok(());
                };
                (
                    kind,
                    Some(*stream),
                    self.method(path),
                    self.marked(item, text),
                )
            }
            What::Gap { bytes, .. } => (
                "GAP",
                None,
                "-".to_string(),
                self.marked(item, format!("{bytes} bytes lost")),
            ),
            What::Note { text, .. } => (
                "NOTE",
                None,
                "-".to_string(),
                self.marked(item, text.clone()),
            ),
        };
        let conn = item.conn.id;
        let cells = [
            time::local_clock(item.ts_ns, self.opts.full),
            comm(&item.writer, self.opts.full),
            pid_tid(&item.writer),
            item.peer.short(),
            kind.to_string(),
            stream.map_or_else(|| format!("c{conn}"), |s| format!("c{conn}:{s}")),
            method,
            message,
        ];
        self.push(cells)
    }

    /// Writes the rows held so far too (a file's table: at its end).
    fn flush(&mut self) -> Result<()> {
        self.release()?;
        self.w.flush().context("writing the table")
    }
}

/// An HTTP message's row text: a request's method and target before its
/// body, a response's status.
fn http_line(h: &HttpCall, request: bool, body: &str) -> String {
    let head = match (request, &h.method, &h.target, h.status) {
        (true, Some(m), Some(t), _) => format!("{m} {}", t.escape_debug()),
        (false, _, _, Some(s)) => s.to_string(),
        _ => return body.to_string(),
    };
    let resynced = if h.resynced { " (resynced)" } else { "" };
    match body.is_empty() {
        true => format!("{head}{resynced}"),
        false => format!("{head}{resynced} {body}"),
    }
}

/// `[ns=NS pod=NAMESPACE/NAME ctr=NAME timeout=T from_container=ID] ` for a
/// request whose call named any of them (names escaped: they come from the
/// wire) or whose client is in a container (`mark`), else "".
#[cfg(test)]
fn context(meta: &CallMeta, subject: &Subject, mark: Option<String>) -> String {
    context_with(meta, &subject_label(subject), mark)
}

/// [`context`] with the subject's part already written ([`subject_label`]).
fn context_with(meta: &CallMeta, label: &str, mark: Option<String>) -> String {
    // Written in one string: every row of a pod has one.
    let mut s = String::new();
    let next = |s: &mut String| s.push(if s.is_empty() { '[' } else { ' ' });
    if let Some(ns) = &meta.namespace {
        next(&mut s);
        let _ = write!(s, "ns={}", ns.escape_debug());
    }
    if !label.is_empty() {
        next(&mut s);
        s.push_str(label);
    }
    if let Some(t) = meta.timeout_ns {
        next(&mut s);
        let _ = write!(s, "timeout={}", super::duration_short(t));
    }
    if let Some(m) = mark {
        next(&mut s);
        s.push_str(&m);
    }
    if !s.is_empty() {
        s.push_str("] ");
    }
    s
}

/// `pod=NAMESPACE/NAME ctr=NAME` for what `subject` names (names escaped),
/// "" when it names neither.
fn subject_label(subject: &Subject) -> String {
    let mut s = String::new();
    if let Some(p) = &subject.pod {
        let _ = match (p.namespace.is_empty(), p.name.is_empty()) {
            (_, true) => write!(s, "pod=uid:{}", p.uid.escape_debug()),
            (true, false) => write!(s, "pod={}", p.name.escape_debug()),
            (false, false) => write!(
                s,
                "pod={}/{}",
                p.namespace.escape_debug(),
                p.name.escape_debug()
            ),
        };
    }
    if let Some(c) = &subject.container {
        if !s.is_empty() {
            s.push(' ');
        }
        let _ = match &c.name {
            Some(n) => write!(s, "ctr={}", n.escape_debug()),
            None => write!(s, "ctr={}", short_id(&c.id).escape_debug()),
        };
    }
    s
}

/// A 64-hex id's first 12 characters (as `crictl` and `docker` show
/// them); any other text as it is.
fn short_id(id: &str) -> &str {
    match id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        true => &id[..12],
        false => id,
    }
}

/// How a subject shows in the table, worked out once per subject: a pod's
/// rows show the same subject again and again.
struct Shown {
    /// `pod=NAMESPACE/NAME ctr=NAME` ([`subject_label`]).
    label: String,
    /// The 64-hex ids whose names are known, to be shortened.
    named: Vec<Arc<str>>,
}

impl Shown {
    fn new(subject: &Subject) -> Self {
        let container = subject
            .container
            .as_ref()
            .filter(|c| c.name.is_some())
            .map(|c| Arc::from(c.id.as_str()));
        let sandbox = subject.sandbox_id.clone().filter(|_| subject.pod.is_some());
        let mut named: Vec<Arc<str>> = container.into_iter().chain(sandbox).collect();
        named.retain(|id| id.len() == 64);
        // A sandbox's own container has the sandbox's id.
        named.dedup();
        Shown {
            label: subject_label(subject),
            named,
        }
    }

    /// `text` appended to `out`, with the named ids shortened to their
    /// first 12 characters, each where it is a whole run of 64 hex digits
    /// (never part of a longer one).
    fn push_shortened(&self, out: &mut String, text: &str) {
        let b = text.as_bytes();
        let hex = |i: usize| b[i].is_ascii_hexdigit();
        let mut copied = 0;
        // A run of 64 hex digits that starts in [i, i + 64) holds byte
        // i + 63: where that byte is not a hex digit, no run starts there,
        // and the scan moves on by 64 bytes.
        let mut i = 0;
        while !self.named.is_empty() && i + 64 <= b.len() {
            let probe = i + 63;
            if !hex(probe) {
                i += 64;
                continue;
            }
            // The byte before `i` is not a hex digit (or `i` is 0): the run
            // holding the probe starts at `i` at the earliest.
            let (mut start, mut end) = (probe, probe + 1);
            while start > i && hex(start - 1) {
                start -= 1;
            }
            while end < b.len() && hex(end) {
                end += 1;
            }
            let run = &text[start..end];
            if run.len() == 64 && self.named.iter().any(|id| **id == *run) {
                out.push_str(&text[copied..start]);
                out.push_str(&run[..12]);
                copied = end;
            }
            // `end` is past the text or not a hex digit.
            i = end + 1;
        }
        out.push_str(&text[copied..]);
    }
}

#[cfg(test)]
mod tests;
