//! The live table: one row per gRPC or ttrpc message, failed call and gap.
//! A request's MESSAGE starts with its call's namespace and timeout when
//! known, as in `[ns=default timeout=2s] id:"c1"`.
//!
//! ```text
//! TIMESTAMP    COMM       PID/TID     PEER             TYPE  STREAM METHOD            MESSAGE
//! 14:10:00.123 ctr          4467/4470 containerd/1686  REQ    c0:1 Namespaces/Create namespace:{name:"snoop"}
//! ```
//!
//! - TIMESTAMP is local time to the millisecond (`--full`: microsecond).
//! - COMM and PID/TID name the writer; PID/TID is the pid alone when the
//!   thread is the process's main one. PEER is the other end as `comm/pid`
//!   (`pid/PID` while its name is unknown, `-` when nothing is).
//! - STREAM is `cN:S`: stream S of connection N (numbered in the order the
//!   capture saw them), because two connections between the same client
//!   and server both have a stream 1. Gaps and notes show `cN` only.
//! - METHOD is the service's name and the method (`--full`: the path).
//!
//! Widths are in [`super::layout`]: they only grow, and the terminal bounds
//! METHOD and the row.

use std::io::Write;

use anyhow::{Context, Result};

use super::layout::{cut_to_width, Layout};
use super::{grpc_status_name, short_method, time};
use crate::decode::{CallMeta, PathInfo};
use crate::flow::Process;
use crate::pipeline::{Item, Output, What};

/// Table output options.
#[derive(Clone, Debug, Default)]
pub struct TableOptions {
    /// Do not cut rows to the terminal width; show full method paths.
    pub full: bool,
    /// Terminal width to cut rows to (None: do not cut).
    pub width: Option<usize>,
}

/// Writes the table.
pub struct Table<W: Write> {
    w: W,
    opts: TableOptions,
    layout: Layout,
    header_done: bool,
    /// Rows written.
    pub rows: u64,
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

impl<W: Write> Table<W> {
    /// A table on `w`.
    pub fn new(w: W, opts: TableOptions) -> Self {
        Table {
            layout: Layout::new(opts.width, opts.full),
            w,
            opts,
            header_done: false,
            rows: 0,
        }
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }

    fn line(&mut self, cells: &[String; 8]) -> Result<()> {
        let row = self.layout.row(cells);
        self.line_raw(row)
    }

    /// Writes `row`, cut to the terminal unless `--full`.
    fn line_raw(&mut self, row: String) -> Result<()> {
        let row = match self.opts.width {
            Some(max) if !self.opts.full => cut_to_width(&row, max),
            _ => row,
        };
        writeln!(self.w, "{row}").context("writing the table")
    }

    fn method(&self, path: &PathInfo) -> String {
        match path {
            PathInfo::Known(p) if self.opts.full => p.clone(),
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
            } => {
                let mut text = match (decompress_error, decoded) {
                    (Some(e), _) => format!("<{} compressed bytes: {e}>", payload.len()),
                    (None, Some(d)) => d.text.clone(),
                    (None, None) => String::new(),
                };
                if *compressed {
                    text.insert_str(0, "(compressed) ");
                }
                if dir.is_request() {
                    text.insert_str(0, &context(meta));
                }
                let kind = if dir.is_request() { "REQ" } else { "RESP" };
                (kind, Some(*stream), self.method(path), text)
            }
            What::CallEnd {
                stream,
                path,
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
                (kind, Some(*stream), self.method(path), text)
            }
            What::Gap { bytes, .. } => {
                ("GAP", None, "-".to_string(), format!("{bytes} bytes lost"))
            }
            What::Note { text, .. } => ("NOTE", None, "-".to_string(), text.clone()),
        };
        let conn = item.conn.id;
        let cells = [
            time::local_clock(item.ts_ns, self.opts.full),
            item.writer
                .comm
                .map_or_else(|| "-".to_string(), |c| c.to_string()),
            pid_tid(&item.writer),
            item.peer.short(),
            kind.to_string(),
            stream.map_or_else(|| format!("c{conn}"), |s| format!("c{conn}:{s}")),
            method,
            message,
        ];
        if !self.header_done {
            // The header fits the first row: later rows may widen columns.
            self.header_done = true;
            self.layout.fit(&cells);
            let header = self.layout.header();
            self.line_raw(header)?;
        }
        self.rows += 1;
        self.line(&cells)
    }

    fn flush(&mut self) -> Result<()> {
        self.w.flush().context("writing the table")
    }
}

/// `[ns=NS timeout=T] ` for a request whose call named either, else "".
fn context(meta: &CallMeta) -> String {
    let mut parts = Vec::new();
    if let Some(ns) = &meta.namespace {
        parts.push(format!("ns={ns}"));
    }
    if let Some(t) = meta.timeout_ns {
        parts.push(format!("timeout={}", super::duration_short(t)));
    }
    match parts.is_empty() {
        true => String::new(),
        false => format!("[{}] ", parts.join(" ")),
    }
}

#[cfg(test)]
mod tests;
