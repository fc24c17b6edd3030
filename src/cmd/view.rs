//! Building the pipeline a command asked for: its view (schemas, method
//! filter, the forms of messages to decode) and its output (table or NDJSON
//! on stdout).

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use anyhow::Result;

use std::path::PathBuf;

use super::telemetry::Telemetry;
use crate::cli::{BinarySchemaArgs, ViewArgs};
use crate::error::Fatal;
use crate::output::json::Json;
use crate::output::layout::MAX_PID_DIGITS;
use crate::output::table::{Sizing, Table, TableOptions};
use crate::pipeline::method_filter::MethodFilter;
use crate::pipeline::subject_filter::SubjectFilter;
use crate::pipeline::{Output, Pipeline, View};
use crate::protobuf::{Forms, Schemas};
use crate::servers::SchemaRegistry;

/// The pipeline writing to stdout.
pub type StdoutPipeline = Pipeline<Box<dyn Output>>;

/// The terminal's width, when stdout is a terminal.
fn terminal_width() -> Option<usize> {
    let (terminal_size::Width(w), _) = terminal_size::terminal_size_of(io::stdout())?;
    (w > 0).then_some(usize::from(w))
}

/// The schemas: containerd's and the CRI's, plus `--proto` ones; secret
/// fields hidden unless `--show-secrets`.
pub fn schemas(view: &ViewArgs) -> Result<Arc<Schemas>> {
    let schemas = match view.protos.is_empty() {
        true => Schemas::embedded(),
        false => Schemas::with_extra(&view.protos).map_err(|e| Fatal::setup(format!("{e:#}")))?,
    };
    let schemas = schemas.without_services(&view.exclude_bundled_services);
    Ok(Arc::new(schemas.with_redaction(!view.show_secrets)))
}

/// Live: each connection's server binary's schemas before `bundled`,
/// unless `--no-binary-schemas`.
pub fn live_registry(bundled: &Schemas, args: &BinarySchemaArgs) -> Option<Arc<SchemaRegistry>> {
    (!args.no_binary_schemas).then(|| Arc::new(SchemaRegistry::live(bundled.clone())))
}

/// Offline: the `--schemas-from` binaries' schemas before `bundled`, for
/// every connection; what they hold is told on stderr.
pub fn file_registry(bundled: &Schemas, paths: &[PathBuf]) -> Result<Option<Arc<SchemaRegistry>>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let registry = SchemaRegistry::from_binaries(paths, bundled.clone()).map_err(|e| {
        Fatal::setup(format!(
            "{e:#}; give a server's executable, such as /usr/bin/containerd"
        ))
    })?;
    for note in registry.take_notes() {
        eprintln!("containerdsnoop: {note}");
    }
    Ok(Some(Arc::new(registry)))
}

/// Digits of the largest pid this kernel gives (`pid_max` less one): the
/// live table's PID/TID and PEER start wide enough for them.
fn pid_digits() -> usize {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(MAX_PID_DIGITS, |max| {
            max.saturating_sub(1).max(1).to_string().len()
        })
}

/// The live pipeline `view` asks for (`trace`, `record --decode`), on
/// stdout when `shown` (see [`parts`]), through `telemetry`'s tap when
/// spans or metrics are on.
pub fn pipeline(
    view: &ViewArgs,
    schemas: Arc<Schemas>,
    binaries: Option<Arc<SchemaRegistry>>,
    telemetry: &Telemetry,
    shown: bool,
) -> Result<StdoutPipeline> {
    let sizing = Sizing::Live {
        pid_digits: pid_digits(),
    };
    let attributing = !view.no_attribution;
    let (mut v, output) = match shown {
        true => {
            let (v, o) = parts(view, schemas, binaries, sizing);
            (v, Some(o))
        }
        false => (self::view(view, schemas, binaries, Forms::NONE), None),
    };
    v.forms.text |= telemetry.wants_text();
    Ok(Pipeline::new(v, telemetry.tap(output)).attributing(attributing))
}

/// What `args` asks for: the view (messages decoded with `schemas`, or with
/// the schemas `binaries` picks for their connection) and the output on
/// stdout, line-buffered for a terminal, block-buffered otherwise; a table
/// sized as `sizing` says.
pub fn parts(
    args: &ViewArgs,
    schemas: Arc<Schemas>,
    binaries: Option<Arc<SchemaRegistry>>,
    sizing: Sizing,
) -> (View, Box<dyn Output>) {
    // A live status line on the same terminal is erased before each write.
    let stdout: Box<dyn Write> = match io::stdout().is_terminal() {
        true => Box::new(super::terminal::BelowStatus(io::stdout())),
        false => Box::new(io::stdout()),
    };
    let out: Box<dyn Write> = Box::new(io::BufWriter::with_capacity(1 << 16, stdout));
    let (output, forms): (Box<dyn Output>, Forms) = if args.json {
        (Box::new(Json::new(out)), Forms::JSON)
    } else {
        let opts = TableOptions {
            full: args.full,
            width: terminal_width(),
            sizing,
        };
        (Box::new(Table::new(out, opts)), Forms::TEXT)
    };
    (view(args, schemas, binaries, forms), output)
}

/// The view `args` asks for: messages decoded with `schemas` (or the
/// schemas `binaries` picks for their connection) in `forms`, filtered by
/// method, pod, container and client.
pub fn view(
    args: &ViewArgs,
    schemas: Arc<Schemas>,
    binaries: Option<Arc<SchemaRegistry>>,
    forms: Forms,
) -> View {
    View {
        schemas,
        methods: MethodFilter::new(&args.methods),
        forms,
        binaries,
        from_container: args.from_container,
        subjects: SubjectFilter::new(&args.pods, &args.containers),
    }
}
