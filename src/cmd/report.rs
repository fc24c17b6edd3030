//! `report`: a capture file through the same pipeline as `decode`, into one
//! HTML page (`output::report`), written as `record` writes its capture:
//! mode 0600, never through a symlink, never over a file without --force.

use std::io::BufWriter;
use std::sync::Arc;

use anyhow::Result;

use super::capture_file;
use crate::cli::ReportArgs;
use crate::error::Fatal;
use crate::input::{self, ReadError, ReadOptions};
use crate::output::report::{Facts, Report};
use crate::pipeline::Pipeline;
use crate::protobuf::Forms;
use crate::servers::Binary;

/// Run `report`.
pub fn run(args: &ReportArgs) -> Result<()> {
    let input = super::capture_file::input(&args.file)?;
    let view_args = args.view();
    let schemas = super::view::schemas(&view_args)?;
    let binaries = super::view::file_registry(&schemas, &args.schemas_from)?;
    let given: Vec<Arc<Binary>> = binaries
        .as_ref()
        .map_or_else(Vec::new, |r| r.learned_since(0));
    // Opened before reading, so that a name already taken fails at once.
    let out = capture_file::open(&args.output, args.force)?;
    let view = super::view::view(&view_args, schemas, binaries, Forms::TEXT);
    let mut sink = Pipeline::new(view, Report::new());
    let opts = ReadOptions {
        http2_ports: args.ports.clone(),
    };
    let result = input::read(input, &opts, &mut sink);
    let last_ns = sink.last_ns();
    sink.finish(last_ns)?;
    let shown = args.file.display();
    let mut facts = Facts {
        source: shown.to_string(),
        protocols: sink.protocols(),
        unnamed: sink.calls().unnamed,
        containers: sink.from_containers.summary(),
        filters: filters(args),
        ..Facts::default()
    };
    let failure = match &result {
        Ok(summary) => {
            facts.packets = summary.packets;
            facts.bytes = summary.bytes;
            facts.gap_bytes = summary.gap_bytes;
            facts.duplicate_bytes = summary.retransmitted_bytes;
            facts.skipped_packets = summary.skipped_packets;
            facts.mid_connection = summary.mid_connection.len() as u64;
            facts.schema_hints = summary
                .schema_notes
                .iter()
                .filter_map(|n| super::decode::schemas_hint(n, &given))
                .collect();
            None
        }
        Err(ReadError::Sink(e)) => return Err(Fatal::input(format!("{e:#}")).into()),
        Err(e @ ReadError::Truncated { .. }) => Some(format!(
            "{shown}: {e}; everything before that point is in the report"
        )),
        Err(e) => Some(format!("{shown}: {e}")),
    };
    facts.problem.clone_from(&failure);
    let report = std::mem::take(&mut sink.out);
    let calls = report.calls();
    let mut w = BufWriter::with_capacity(1 << 16, out);
    report.write(&facts, &mut w)?;
    for hint in &facts.schema_hints {
        eprintln!("containerdsnoop: {hint}");
    }
    if let Some(f) = failure {
        return Err(Fatal::input(f).into());
    }
    eprintln!(
        "containerdsnoop: {calls} call{} in {}",
        if calls == 1 { "" } else { "s" },
        args.output.display()
    );
    Ok(())
}

/// The filters given, as they were typed.
fn filters(args: &ReportArgs) -> Vec<String> {
    let mut v = Vec::new();
    v.extend(args.methods.iter().map(|m| format!("--method {m}")));
    v.extend(args.pods.iter().map(|p| format!("--pod {p}")));
    v.extend(args.containers.iter().map(|c| format!("--container {c}")));
    if args.from_container {
        v.push("--from-container".to_string());
    }
    v
}
