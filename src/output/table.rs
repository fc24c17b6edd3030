//! The live table: one row per gRPC or ttrpc message, failed call and gap.
//! A request's MESSAGE starts with its call's namespace and timeout when
//! known, as in `[ns=default timeout=2s] id:"c1"`.
//!
//! ```text
//! TIMESTAMP       COMM         PID     TID     PEER              TYPE STREAM METHOD                          MESSAGE
//! 14:10:00.123456 ctr          4467    4470    containerd/1686   REQ       1 namespaces.v1.Namespaces/Create namespace:{name:"snoop"}
//! ```

use std::io::Write;

use anyhow::{Context, Result};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::{grpc_status_name, short_method, time};
use crate::decode::{CallMeta, PathInfo};
use crate::pipeline::{Item, Output, What};

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
}

/// Writes the table.
pub struct Table<W: Write> {
    w: W,
    opts: TableOptions,
    header_done: bool,
    /// Rows written.
    pub rows: u64,
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// `text` cut to `max` terminal columns, ending in `…` when cut.
fn cut_to_width(text: &str, max: usize) -> String {
    if text.width() <= max {
        return text.to_string();
    }
    let mut out = String::with_capacity(max + 3);
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

impl<W: Write> Table<W> {
    /// A table on `w`.
    pub fn new(w: W, opts: TableOptions) -> Self {
        Table {
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
            Some(max) if !self.opts.full => cut_to_width(row, max),
            _ => row.to_string(),
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
                (kind, stream.to_string(), self.method(path), text)
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
            opt(item.writer.comm),
            opt(item.writer.pid),
            opt(item.writer.tid),
            item.peer.short(),
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
mod tests {
    use super::*;

    #[test]
    fn request_context() {
        let meta = CallMeta {
            namespace: Some("default".into()),
            timeout_ns: Some(2_000_000_000),
        };
        assert_eq!(context(&meta), "[ns=default timeout=2s] ");
        assert_eq!(context(&CallMeta::default()), "");
    }

    #[test]
    fn rows_are_cut_by_terminal_columns() {
        assert_eq!(cut_to_width("abc", 3), "abc");
        assert_eq!(cut_to_width("abcdef", 4), "abc…");
        // Wide characters take two columns each.
        assert_eq!(cut_to_width("日本語テキスト", 7), "日本語…");
    }
}
