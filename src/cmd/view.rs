//! Building the output a command asked for (table or NDJSON on stdout).

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use anyhow::Result;

use crate::calls::Output;
use crate::cli::ViewArgs;
use crate::error::Fatal;
use crate::output::glob::MethodFilter;
use crate::output::json::Json;
use crate::output::table::{Table, TableOptions};
use crate::protobuf::Schemas;

/// The terminal's width, when stdout is a terminal.
fn terminal_width() -> Option<usize> {
    if !io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills the winsize we own.
    let ws = unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) != 0 {
            return None;
        }
        ws
    };
    (ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// The schemas: containerd's and the CRI's, plus `--proto` ones; secret
/// fields hidden unless `--show-secrets`.
pub fn schemas(view: &ViewArgs) -> Result<Arc<Schemas>> {
    let schemas = match view.protos.is_empty() {
        true => Schemas::embedded(),
        false => Schemas::with_extra(&view.protos).map_err(|e| Fatal::setup(format!("{e:#}")))?,
    };
    Ok(Arc::new(schemas.with_redaction(!view.show_secrets)))
}

/// The output on stdout, line-buffered for a terminal, block-buffered otherwise.
pub fn output(view: &ViewArgs) -> Result<Box<dyn Output>> {
    let schemas = schemas(view)?;
    let methods = MethodFilter::new(&view.methods);
    // A live status line on the same terminal is erased before each write.
    let stdout: Box<dyn Write> = match io::stdout().is_terminal() {
        true => Box::new(super::status::BelowStatus(io::stdout())),
        false => Box::new(io::stdout()),
    };
    let out: Box<dyn Write> = Box::new(io::BufWriter::with_capacity(1 << 16, stdout));
    Ok(if view.json {
        Box::new(Json::new(out, schemas, methods))
    } else {
        let opts = TableOptions {
            full: view.full,
            width: terminal_width(),
            methods,
        };
        Box::new(Table::new(out, opts, schemas))
    })
}
