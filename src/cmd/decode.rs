//! `decode`: a capture file through the same decoder as `trace`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use super::capture_file::is_broken_pipe;
use super::telemetry::Telemetry;
use crate::cli::DecodeArgs;
use crate::decode::PathInfo;
use crate::error::Fatal;
use crate::flow::Comm;
use crate::input::{self, ReadError, ReadOptions};
use crate::output::table::Sizing;
use crate::pcapng::comment::SchemaNote;
use crate::pipeline::{Item, Output, Pipeline, What};
use crate::servers::Binary;

/// Run `decode`.
pub fn run(args: &DecodeArgs) -> Result<()> {
    let input = super::capture_file::input(&args.file)?;
    let schemas = super::view::schemas(&args.view)?;
    let binaries = super::view::file_registry(&schemas, &args.schemas_from)?;
    let given: Vec<Arc<Binary>> = binaries
        .as_ref()
        .map_or_else(Vec::new, |r| r.learned_since(0));
    let mut telemetry = Telemetry::new(&args.otlp, None, None, true)?;
    let (mut view, out) = super::view::parts(&args.view, schemas, binaries, Sizing::File);
    view.forms.text |= telemetry.wants_text();
    let out = telemetry.tap(Some(out));
    telemetry.start()?;
    let mut sink = Pipeline::new(view, Servers::of(out)).attributing(!args.view.no_attribution);
    let opts = ReadOptions {
        http2_ports: args.ports.clone(),
    };
    // The reader buffers its input itself.
    let result = input::read(input, &opts, &mut sink);
    let last_ns = sink.last_ns();
    let written = sink.finish(last_ns).and_then(|()| sink.out.flush());
    telemetry.finish();
    let unnamed = sink.calls().unnamed;
    if unnamed > 0 {
        eprintln!(
            "containerdsnoop: {unnamed} call{} stayed unnamed: header fields from before the capture, \
             and the file holds no HPACK table recovered from the server for {}",
            if unnamed == 1 { "" } else { "s" },
            if unnamed == 1 { "it" } else { "them" }
        );
    }
    if let Some(line) = sink.from_containers.summary() {
        eprintln!("containerdsnoop: {line}");
    }
    if let Some(line) = crate::pipeline::evicted_summary(sink.evicted()) {
        eprintln!("containerdsnoop: {line}");
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
            // Only binaries whose schemas could change a shown message
            // (the reader keeps each note once).
            let served = summary
                .schema_notes
                .iter()
                .filter(|n| sink.out.served_by(n));
            for note in served {
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

/// Most server names [`Servers`] keeps; past them, every binary counts as
/// the server of a shown message.
const MAX_SERVERS: usize = 1024;

/// The output, and the servers of the shown messages of a known method
/// (requests to them, responses from them): the messages a server binary's
/// own schemas, given with `--schemas-from`, could decode differently. A
/// server without a name is not counted: live, no binary's schemas were
/// looked up for it either.
struct Servers {
    out: Box<dyn Output>,
    /// The servers' comms.
    comms: HashSet<Comm>,
    /// There were more than [`MAX_SERVERS`]: any binary may have been one.
    overflow: bool,
}

impl Servers {
    fn of(out: Box<dyn Output>) -> Self {
        Servers {
            out,
            comms: HashSet::new(),
            overflow: false,
        }
    }

    /// Whether the binary of `note` may have served a shown message: a
    /// server's comm is its executable's file name as the kernel keeps it,
    /// cut to 15 bytes (`containerd-shim` for `containerd-shim-runc-v2`).
    fn served_by(&self, note: &SchemaNote) -> bool {
        let name = Path::new(&note.path)
            .file_name()
            .map_or_else(|| note.path.clone().into(), |n| n.to_string_lossy());
        self.overflow || self.comms.contains(&Comm::from_name(&name))
    }
}

impl Output for Servers {
    fn item(&mut self, item: &Item) -> Result<()> {
        if let (
            What::Message {
                path: PathInfo::Known(_),
                decoded: Some(_),
                ..
            },
            Some(comm),
        ) = (&item.what, item.conn.server.comm)
        {
            if self.comms.len() < MAX_SERVERS {
                self.comms.insert(comm);
            } else {
                self.overflow |= !self.comms.contains(&comm);
            }
        }
        self.out.item(item)
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush()
    }
}

/// What to tell the user about a binary whose schemas decoded the capture
/// when it was recorded, unless it is among the `given` ones (same build
/// ID, or same path when the note has none).
pub fn schemas_hint(note: &SchemaNote, given: &[Arc<Binary>]) -> Option<String> {
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
