//! `redact`: a shareable copy of a capture, secrets overwritten in place.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;

use anyhow::Result;

use crate::cli::RedactArgs;
use crate::error::Fatal;
use crate::input::{ReadError, ReadOptions};
use crate::protobuf::{SchemaSet, Schemas};
use crate::redact::{self, Error};

/// Run `redact`.
pub fn run(args: &RedactArgs) -> Result<()> {
    let shown = args.file.display();
    if args.file.as_os_str() == "-" {
        return Err(Fatal::setup(
            "redact reads its input three times: give it a file, not standard input (-)",
        )
        .into());
    }
    let mut input =
        File::open(&args.file).map_err(|e| Fatal::setup(format!("cannot open {shown}: {e}")))?;
    if !input.metadata().is_ok_and(|m| m.is_file()) {
        return Err(Fatal::setup(format!(
            "{shown} is not a regular file: redact reads its input three times"
        ))
        .into());
    }
    let same = |m: std::fs::Metadata| {
        input
            .metadata()
            .is_ok_and(|i| i.dev() == m.dev() && i.ino() == m.ino())
    };
    if std::fs::metadata(&args.output).is_ok_and(same) {
        return Err(Fatal::setup(format!(
            "{} is the input: write the redacted copy to another file",
            args.output.display()
        ))
        .into());
    }
    let bundled = match args.protos.is_empty() {
        true => Schemas::embedded(),
        false => Schemas::with_extra(&args.protos).map_err(|e| Fatal::setup(format!("{e:#}")))?,
    };
    let schemas = match super::view::file_registry(&bundled, &args.schemas_from)? {
        Some(r) => r.set_for(None).as_ref().clone(),
        None => SchemaSet::single(bundled),
    };
    let opts = ReadOptions {
        http2_ports: args.ports.clone(),
    };
    let mut out = io::BufWriter::with_capacity(
        1 << 20,
        super::capture_file::open(&args.output, args.force)?,
    );
    let result = redact::redact(&mut input, &schemas, &opts, &mut out);
    drop(out);
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            // No half-written copy is left behind (a device or FIFO stays).
            let to_file = args.output.as_os_str() != "-";
            if to_file && std::fs::symlink_metadata(&args.output).is_ok_and(|m| m.is_file()) {
                let _ = std::fs::remove_file(&args.output);
            }
            return Err(match e {
                Error::Read(ReadError::Sink(e)) => e,
                Error::Read(e) => Fatal::input(format!("{shown}: {e}")).into(),
                e @ Error::Write(_) => Fatal::output(e.to_string()).into(),
            });
        }
    };
    let f = summary.found;
    let mut places = Vec::new();
    if f.messages > 0 {
        places.push(format!("{} message{}", f.messages, plural(f.messages)));
    }
    if f.headers > 0 {
        places.push(format!("{} header{}", f.headers, plural(f.headers)));
    }
    let mut msg = match f.values {
        0 => "no secret values found".to_string(),
        n => format!(
            "{n} secret value{} ({} bytes) overwritten in {} ({} packet{})",
            plural(n),
            f.bytes,
            places.join(" and "),
            summary.packets,
            plural(summary.packets),
        ),
    };
    if f.compressed > 0 {
        msg += &format!(
            "; {} compressed message{} overwritten whole",
            f.compressed,
            plural(f.compressed)
        );
    }
    if f.unchecked > 0 {
        msg += &format!(
            "; {} message{} of unknown methods or schemas not checked (add --proto?)",
            f.unchecked,
            plural(f.unchecked)
        );
    }
    eprintln!("containerdsnoop: {msg}; wrote {}", args.output.display());
    if let Some(e) = summary.stopped {
        eprintln!(
            "containerdsnoop: {shown}: {e}; the copy stops at byte {}",
            summary.copied
        );
    }
    Ok(())
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
