//! `decode`: a capture file through the same decoder as `trace`.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use anyhow::Result;

use super::capture_file::is_broken_pipe;
use crate::cli::DecodeArgs;
use crate::error::Fatal;
use crate::input::{self, ReadError, ReadOptions};
use crate::output::table::Sizing;
use crate::pcapng::comment::SchemaNote;
use crate::pipeline::Pipeline;
use crate::servers::Binary;

/// Run `decode`.
pub fn run(args: &DecodeArgs) -> Result<()> {
    let input: Box<dyn Read> = if args.file.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let f = File::open(&args.file)
            .map_err(|e| Fatal::setup(format!("cannot open {}: {e}", args.file.display())))?;
        Box::new(f)
    };
    let schemas = super::view::schemas(&args.view)?;
    let binaries = super::view::file_registry(&schemas, &args.schemas_from)?;
    let given: Vec<Arc<Binary>> = binaries
        .as_ref()
        .map_or_else(Vec::new, |r| r.learned_since(0));
    let (view, out) = super::view::parts(&args.view, schemas, binaries, Sizing::File);
    let mut sink = Pipeline::new(view, out);
    let opts = ReadOptions {
        http2_ports: args.ports.clone(),
    };
    // The reader buffers its input itself.
    let result = input::read(input, &opts, &mut sink);
    let last_ns = sink.last_ns();
    let written = sink.finish(last_ns).and_then(|()| sink.out.flush());
    let unnamed = sink.calls().unnamed;
    if unnamed > 0 {
        eprintln!(
            "containerdsnoop: {unnamed} call{} stayed unnamed: header fields from before the capture, \
             and the file holds no HPACK table recovered from the server for {}",
            if unnamed == 1 { "" } else { "s" },
            if unnamed == 1 { "it" } else { "them" }
        );
    }
    let other = sink.protocols().other;
    if other > 0 {
        eprintln!(
            "containerdsnoop: {other} connection{} spoke neither gRPC nor ttrpc and {} not decoded",
            if other == 1 { "" } else { "s" },
            if other == 1 { "was" } else { "were" }
        );
    }
    let shown = args.file.display();
    match (result, written) {
        // The reader of our output went away (`| head`): done, quietly, as
        // grep and tshark end.
        (Err(ReadError::Sink(e)), _) | (_, Err(e)) if is_broken_pipe(&e) => Ok(()),
        (_, Err(e)) => Err(e),
        (Ok(summary), Ok(())) => {
            for note in &summary.schema_notes {
                if let Some(hint) = schemas_hint(note, &given) {
                    eprintln!("containerdsnoop: {hint}");
                }
            }
            Ok(())
        }
        (Err(ReadError::Sink(e)), Ok(())) => Err(e),
        (Err(e @ ReadError::Truncated { .. }), Ok(())) => Err(Fatal::input(format!(
            "{shown}: {e}; everything before that point was decoded"
        ))
        .into()),
        (Err(e), Ok(())) => Err(Fatal::input(format!("{shown}: {e}")).into()),
    }
}

/// What to tell the user about a binary whose schemas decoded the capture
/// when it was recorded, unless it is among the `given` ones (same build
/// ID, or same path when the note has none).
fn schemas_hint(note: &SchemaNote, given: &[Arc<Binary>]) -> Option<String> {
    let same = |b: &Arc<Binary>| match &note.build_id {
        Some(id) => b.build_id() == Some(id.as_str()),
        None => b.path == note.path,
    };
    if given.iter().any(same) {
        return None;
    }
    let about = crate::pcapng::comment::schemas(note);
    let about = about.strip_prefix("schemas from ").unwrap_or(&about);
    Some(format!(
        "this capture was decoded live with the schemas of {about}; add --schemas-from {} (that binary or a copy with the same build id) to decode it the same way",
        note.path
    ))
}
