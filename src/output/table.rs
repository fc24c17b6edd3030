//! The live table: one row per gRPC message, failed call and gap.
//!
//! ```text
//! TIMESTAMP       COMM         PID     TID     PEER              TYPE STREAM METHOD                          MESSAGE
//! 14:10:00.123456 ctr          4467    4470    containerd/1686   REQ       1 namespaces.v1.Namespaces/Create namespace:{name:"snoop"}
//! ```

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::glob::MethodFilter;
use super::{grpc_status_name, short_method, time};
use crate::calls::{Item, Output, Proc, What};
use crate::protobuf::Schemas;

/// Column widths (the last column takes the rest).
const WIDTHS: [usize; 8] = [15, 15, 7, 7, 20, 4, 6, 34];
const HEADERS: [&str; 9] = [
    "TIMESTAMP",
    "COMM",
    "PID",
    "TID",
    "PEER",
    "TYPE",
    "STREAM",
    "METHOD",
    "MESSAGE",
];

/// Table output options.
#[derive(Clone, Debug, Default)]
pub struct TableOptions {
    /// Do not cut rows to the terminal width; show full method paths.
    pub full: bool,
    /// Terminal width to cut rows to (None: do not cut).
    pub width: Option<usize>,
    /// Show only these methods.
    pub methods: MethodFilter,
}

/// Writes the table.
pub struct Table<W: Write> {
    w: W,
    opts: TableOptions,
    schemas: Arc<Schemas>,
    header_done: bool,
    /// Rows written.
    pub rows: u64,
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn peer_text(p: &Proc) -> String {
    match (&p.comm, p.pid) {
        (Some(c), Some(pid)) => format!("{c}/{pid}"),
        (None, Some(pid)) => format!("pid/{pid}"),
        (Some(c), None) => c.clone(),
        (None, None) => "-".to_string(),
    }
}

impl<W: Write> Table<W> {
    /// A table on `w`.
    pub fn new(w: W, opts: TableOptions, schemas: Arc<Schemas>) -> Self {
        Table {
            w,
            opts,
            schemas,
            header_done: false,
            rows: 0,
        }
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }

    fn line(&mut self, cells: [String; 9]) -> Result<()> {
        let mut row = String::with_capacity(160);
        for (i, cell) in cells.iter().enumerate() {
            if i < WIDTHS.len() {
                let w = WIDTHS[i];
                // Numbers right-aligned, text left-aligned.
                if matches!(i, 2 | 3 | 6) {
                    row.push_str(&format!("{cell:>w$} "));
                } else {
                    row.push_str(&format!("{cell:<w$} "));
                }
            } else {
                row.push_str(cell);
            }
        }
        let row = row.trim_end();
        let row = match self.opts.width {
            Some(max) if !self.opts.full && row.chars().count() > max => {
                let mut cut: String = row.chars().take(max.saturating_sub(1)).collect();
                cut.push('…');
                cut
            }
            _ => row.to_string(),
        };
        writeln!(self.w, "{row}").context("writing the table")
    }

    fn method(&self, path: &crate::decode::PathInfo) -> String {
        match path {
            crate::decode::PathInfo::Known(p) if self.opts.full => p.clone(),
            crate::decode::PathInfo::Known(p) => short_method(p).to_string(),
            crate::decode::PathInfo::Unknown => "<unknown>".to_string(),
        }
    }
}

fn path_of(what: &What) -> Option<Option<&str>> {
    let path = match what {
        What::Message { path, .. } | What::CallEnd { path, .. } => path,
        _ => return None,
    };
    Some(super::known(path))
}

impl<W: Write> Output for Table<W> {
    fn item(&mut self, item: &Item) -> Result<()> {
        if let Some(path) = path_of(&item.what) {
            if !self.opts.methods.accepts(path) {
                return Ok(());
            }
        } else if !self.opts.methods.is_empty() {
            return Ok(());
        }
        let (kind, stream, method, message) = match &item.what {
            What::Message {
                request,
                stream,
                path,
                compressed,
                payload,
                decompress_error,
            } => {
                let mut text = match decompress_error {
                    Some(e) => format!("<{} compressed bytes: {e}>", payload.len()),
                    None => {
                        let p = super::known(path);
                        self.schemas
                            .decode_forms(p, *request, payload, crate::protobuf::Forms::TEXT)
                            .text
                    }
                };
                if *compressed {
                    text.insert_str(0, "(compressed) ");
                }
                let kind = if *request { "REQ" } else { "RESP" };
                (kind, stream.to_string(), self.method(path), text)
            }
            What::CallEnd {
                stream,
                path,
                status,
                message,
                reset,
                latency_ns,
                unfinished,
            } => {
                let latency = latency_ns.map_or(String::new(), |ns| {
                    format!(" after {}", super::duration(ns))
                });
                let (kind, text) = if let Some(code) = reset {
                    let name = crate::decode::frame::error_code_name(*code).unwrap_or("UNKNOWN");
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
                    let _ = unfinished;
                    return Ok(());
                };
                (kind, stream.to_string(), self.method(path), text)
            }
            What::Gap { bytes, .. } => (
                "GAP",
                "-".to_string(),
                "-".to_string(),
                format!("{bytes} bytes lost"),
            ),
            What::Note { text, .. } => ("NOTE", "-".to_string(), "-".to_string(), text.clone()),
        };
        if !self.header_done {
            self.header_done = true;
            self.line(HEADERS.map(str::to_string))?;
        }
        self.rows += 1;
        self.line([
            time::local_clock(item.ts_ns),
            opt(item.writer.comm.clone()),
            opt(item.writer.pid),
            opt(item.writer.tid),
            peer_text(&item.peer),
            kind.to_string(),
            stream,
            method,
            message,
        ])
    }

    fn flush(&mut self) -> Result<()> {
        self.w.flush().context("writing the table")
    }
}
