use clap::Parser;

use containerdsnoop::cli::{Cli, Command};
use containerdsnoop::cmd;
use containerdsnoop::error::Fatal;

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        #[cfg(feature = "bpf")]
        Command::Record(args) => cmd::live::record(args),
        #[cfg(feature = "bpf")]
        Command::Trace(args) => cmd::live::trace(args),
        #[cfg(feature = "bpf")]
        Command::Agent(args) => cmd::agent::run(args),
        #[cfg(not(feature = "bpf"))]
        Command::Record(_) | Command::Trace(_) | Command::Agent(_) => Err(Fatal::setup(
            "this containerdsnoop was built without its BPF program (--no-default-features): \
             rebuild it with the default features to record or trace",
        )
        .into()),
        Command::Decode(args) => cmd::decode::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Redact(args) => cmd::redact::run(args),
        Command::Schemas(args) => cmd::schemas::run(args),
    };
    if let Err(e) = result {
        let code = e.downcast_ref::<Fatal>().map_or(1, |f| f.code);
        eprintln!("containerdsnoop: {e:#}");
        std::process::exit(code);
    }
}
