//! `agent`: the node agent a DaemonSet runs. `trace` with no table: every
//! finished call a span, metrics served, a JSON status line on stderr. On
//! a kernel it cannot attach to, it stays up, serving
//! `containerdsnoop_up 0` and saying why, rather than crash-looping.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;

use super::telemetry::Telemetry;
use super::{install_stop_handler, view};
use crate::cli::{AgentArgs, ViewArgs};
use crate::error::Fatal;

/// Where spans go when neither `--otlp-endpoint` nor the environment says:
/// the OTLP/HTTP default.
const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

/// Run `agent`.
pub fn run(args: &AgentArgs) -> Result<()> {
    let every = args.status_interval;
    if !(every.is_finite() && every > 0.0) {
        return Err(Fatal::setup("--status-interval must be a number of seconds above 0").into());
    }
    let view_args = ViewArgs {
        protos: args.protos.clone(),
        ..ViewArgs::default()
    };
    let schemas = view::schemas(&view_args)?;
    let binaries = view::live_registry(&schemas, &args.binaries);
    let mut telemetry = Telemetry::new(
        &args.otlp,
        Some(args.metrics_addr),
        Some(DEFAULT_ENDPOINT),
        false,
    )?
    .with_status(Duration::from_secs_f64(every));
    let decoder = view::pipeline(&view_args, schemas, binaries.clone(), &telemetry, false)?;
    let result = super::live::agent(&args.filter, decoder, binaries, &mut telemetry);
    match (result, telemetry.attach_error.is_some()) {
        (Err(e), true) => {
            eprintln!(
                "containerdsnoop: cannot attach ({e:#}); staying up with containerdsnoop_up 0"
            );
            stay_down(&mut telemetry)
        }
        (result, _) => result,
    }
}

/// Not attached: serve the metrics (up 0) and the status until SIGINT or SIGTERM.
fn stay_down(telemetry: &mut Telemetry) -> Result<()> {
    let stop = install_stop_handler()?;
    telemetry.start()?;
    if let Some(a) = telemetry.served() {
        eprintln!("containerdsnoop: metrics at http://{a}/metrics");
    }
    while !stop.load(Ordering::Relaxed) {
        telemetry.tick(None, 0);
        std::thread::sleep(Duration::from_millis(100));
    }
    telemetry.finish();
    Ok(())
}
