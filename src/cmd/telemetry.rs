//! What the commands set up for span export and metrics (`--otlp-endpoint`,
//! `--metrics-addr`, `agent`): the exporter and the metrics from the
//! arguments, the tap in front of the table, the counters refreshed each
//! tick, the agent's status line, the summary at exit.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cli::OtlpArgs;
use crate::error::Fatal;
use crate::export::metrics::{CaptureCounts, ExportCounts, Metrics};
use crate::export::otlp::{self, Exporter, Options, Target};
use crate::export::Tap;
use crate::pipeline::Output;

/// The export and metrics of one command.
#[derive(Default)]
pub struct Telemetry {
    exporter: Option<Arc<Exporter>>,
    /// Message events on spans.
    messages: bool,
    metrics: Option<Arc<Metrics>>,
    /// Where metrics are to be served, and once served, where they are.
    metrics_addr: Option<SocketAddr>,
    served: Option<SocketAddr>,
    /// The agent's status line: every this often.
    status_every: Option<Duration>,
    last_status: Option<Instant>,
    /// Why the capture could not attach (the agent stays up and says so).
    pub attach_error: Option<String>,
    /// The capture's hook, once attached.
    pub hook: Option<String>,
}

impl Telemetry {
    /// From the arguments: spans to `--otlp-endpoint` (or the environment,
    /// or `fallback`), metrics at `metrics_addr`; `offline` (a capture
    /// file) waits for room in a full queue, live drops.
    pub fn new(
        otlp: &OtlpArgs,
        metrics_addr: Option<SocketAddr>,
        fallback: Option<&str>,
        offline: bool,
    ) -> Result<Telemetry> {
        let target = Target::resolve(
            otlp.otlp_endpoint.as_deref(),
            otlp.otlp_certificate.as_deref(),
            |k| std::env::var(k).ok(),
            fallback,
        )
        .map_err(Fatal::setup)?;
        if !(otlp.otlp_flush_timeout.is_finite() && otlp.otlp_flush_timeout >= 0.0) {
            return Err(Fatal::setup(
                "--otlp-flush-timeout must be a number of seconds, 0 or more",
            )
            .into());
        }
        let request_timeout = match (
            otlp.otlp_timeout,
            std::env::var("OTEL_EXPORTER_OTLP_TIMEOUT"),
        ) {
            (Some(s), _) => s,
            (None, Ok(ms)) => ms
                .trim()
                .parse::<f64>()
                .map(|ms| ms / 1000.0)
                .map_err(|_| {
                    Fatal::setup(format!(
                        "OTEL_EXPORTER_OTLP_TIMEOUT={ms:?} is not a number of milliseconds"
                    ))
                })?,
            (None, Err(_)) => 5.0,
        };
        if !(request_timeout.is_finite() && request_timeout > 0.0) {
            return Err(Fatal::setup(
                "the OTLP request timeout must be a number of seconds above 0",
            )
            .into());
        }
        let roots = match target.as_ref().and_then(|t| t.certificate.as_deref()) {
            Some(file) => Some(trusted_certificates(file)?),
            None => None,
        };
        let exporter = target.map(|t| {
            let resource = otlp::resource(
                otlp::host_name().as_deref(),
                std::env::var("NODE_NAME").ok().as_deref(),
            );
            let opts = Options {
                blocking: offline,
                roots,
                request_timeout: Duration::from_secs_f64(request_timeout),
                ..Options::new(
                    otlp.otlp_queue,
                    Duration::from_secs_f64(otlp.otlp_flush_timeout),
                )
            };
            Arc::new(Exporter::new(t, resource, opts))
        });
        Ok(Telemetry {
            exporter,
            messages: otlp.otlp_messages,
            metrics: metrics_addr.map(|_| Arc::new(Metrics::new())),
            metrics_addr,
            ..Telemetry::default()
        })
    }

    /// Print a status line (one JSON object) every `every` at [`Telemetry::tick`].
    pub fn with_status(mut self, every: Duration) -> Telemetry {
        self.status_every = Some(every);
        self
    }

    /// Whether spans are exported.
    pub fn exports(&self) -> bool {
        self.exporter.is_some()
    }

    /// Whether message events are asked for (their text is then decoded).
    pub fn wants_text(&self) -> bool {
        self.exporter.is_some() && self.messages
    }

    /// The tap in front of `inner`: spans and metrics when on, items on
    /// to `inner`.
    pub fn tap(&self, inner: Option<Box<dyn Output>>) -> Box<dyn Output> {
        let mut tap = Tap::new(inner);
        if let Some(e) = &self.exporter {
            tap = tap.exporting(e.clone(), self.messages);
        }
        if let Some(m) = &self.metrics {
            tap = tap.counting(m.clone());
        }
        Box::new(tap)
    }

    /// Start the exporting thread and the metrics server (live: once
    /// attached, as the capture starts threads only then).
    pub fn start(&mut self) -> Result<()> {
        if let Some(e) = &self.exporter {
            e.spawn().context("starting the span exporting thread")?;
        }
        if let (Some(m), Some(addr), None) = (&self.metrics, self.metrics_addr, self.served) {
            let bound = crate::export::serve::serve(addr, m.clone())
                .map_err(|e| Fatal::setup(format!("cannot serve metrics on {addr}: {e}")))?;
            self.served = Some(bound);
        }
        Ok(())
    }

    /// Where metrics are served, once they are.
    pub fn served(&self) -> Option<SocketAddr> {
        self.served
    }

    /// Refresh the metrics with the capture's counters (`None`: not
    /// attached) and the exporter's; print the status line when due.
    pub fn tick(&mut self, capture: Option<&CaptureCounts>, calls: u64) {
        let export = self.exporter.as_ref().map(|e| e.counts());
        if let Some(m) = &self.metrics {
            m.set_up(capture.is_some());
            if let Some(c) = capture {
                m.set_capture(c);
            }
            if let Some(e) = &export {
                m.set_export(e);
            }
        }
        let Some(every) = self.status_every else {
            return;
        };
        if self.last_status.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last_status = Some(Instant::now());
        self.status(capture, calls, export.as_ref());
    }

    /// The agent's status line.
    fn status(&self, capture: Option<&CaptureCounts>, calls: u64, export: Option<&ExportCounts>) {
        let mut s = serde_json::json!({
            "time": crate::output::time::rfc3339(crate::output::time_now_ns()),
            "attached": capture.is_some(),
        });
        if let Some(e) = &self.attach_error {
            s["error"] = e.as_str().into();
        }
        if let Some(h) = &self.hook {
            s["hook"] = h.as_str().into();
        }
        if let Some(c) = capture {
            s["connections"] = c.connections.into();
            s["open"] = c.open.into();
            s["writes"] = c.writes.into();
            s["bytes"] = c.bytes.into();
            s["dropped_bytes"] = c.dropped_bytes.into();
            s["gap_bytes"] = c.gap_bytes.into();
            s["calls"] = calls.into();
        }
        if let (Some(e), Some(x)) = (export, &self.exporter) {
            s["otlp"] = serde_json::json!({
                "url": x.target.url,
                "sent": e.sent,
                "dropped": e.dropped,
                "failed": e.failed,
                "queued": e.queued,
            });
            if let Some(why) = x.last_error() {
                s["otlp"]["last_error"] = why.into();
            }
        }
        if let Some(a) = self.served {
            s["metrics"] = a.to_string().into();
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{s}");
    }

    /// At exit: flush the queued spans (within the flush bound) and say
    /// what became of them.
    pub fn finish(&mut self) {
        let Some(e) = &self.exporter else {
            return;
        };
        let c = e.shutdown();
        if let Some(m) = &self.metrics {
            m.set_export(&c);
        }
        eprintln!(
            "containerdsnoop: {}",
            summary(&c, &e.target.url, e.last_error().as_deref())
        );
    }
}

/// The export's part of the final summary; `why`, the last reason a
/// request failed, closes it when spans failed.
pub fn summary(c: &ExportCounts, url: &str, why: Option<&str>) -> String {
    let spans = |n| super::counted(n, "span", "spans");
    let mut s = format!("{} exported to {url}", spans(c.sent));
    if c.dropped > 0 {
        s += &format!("; {} dropped (export queue full)", spans(c.dropped));
    }
    if c.failed > 0 {
        s += &format!(
            "; {} failed (collector down, refused or too slow)",
            spans(c.failed)
        );
        if let Some(why) = why {
            s += &format!("; last error: {why}");
        }
    }
    s
}

/// The CA certificates of the PEM file `file` ([`Target::certificate`]),
/// read and parsed now: a file that is missing or holds no certificate is
/// an error before the capture starts, not a failed span.
fn trusted_certificates(file: &std::path::Path) -> Result<Vec<otlp::Certificate>> {
    let pem = std::fs::read(file).map_err(|e| {
        Fatal::setup(format!(
            "cannot read the OTLP CA certificates {}: {e}",
            file.display()
        ))
    })?;
    Ok(otlp::certificates(&pem).map_err(|e| Fatal::setup(format!("{}: {e}", file.display())))?)
}
