//! `decode`: a capture file through the same decoder as `trace`.

use std::fs::File;
use std::io::{self, Read};

use anyhow::Result;

use super::output::is_broken_pipe;
use crate::cli::DecodeArgs;
use crate::error::Fatal;
use crate::input::{self, ReadError, ReadOptions};

/// Run `decode`.
pub fn run(args: &DecodeArgs) -> Result<()> {
    let input: Box<dyn Read> = if args.file.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let f = File::open(&args.file)
            .map_err(|e| Fatal::setup(format!("cannot open {}: {e}", args.file.display())))?;
        Box::new(f)
    };
    let mut sink = super::view::pipeline(&args.view)?;
    let opts = ReadOptions {
        http2_ports: args.ports.clone(),
    };
    // The reader buffers its input itself.
    let result = input::read(input, &opts, &mut sink);
    let last_ns = sink.last_ns();
    let written = sink.finish(last_ns).and_then(|()| sink.out.flush());
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
        (Ok(_), Ok(())) => Ok(()),
        (Err(ReadError::Sink(e)), Ok(())) => Err(e),
        (Err(e @ ReadError::Truncated { .. }), Ok(())) => Err(Fatal::input(format!(
            "{shown}: {e}; everything before that point was decoded"
        ))
        .into()),
        (Err(e), Ok(())) => Err(Fatal::input(format!("{shown}: {e}")).into()),
    }
}
