//! Finished calls for the systems a platform team already runs: each call
//! as an OpenTelemetry span posted over OTLP/HTTP ([`otlp`], built by
//! [`span`]), and Prometheus metrics served over HTTP ([`metrics`],
//! [`serve`]). [`Tap`] is the pipeline output that feeds both (and the
//! table or NDJSON behind it, if any); [`call`] is the one reading of a
//! finished call that both share, so a span's name and a metric's labels
//! never disagree.
//!
//! The capture never waits for these: spans go through a bounded queue ([`queue`]) to
//! the exporter's own thread, and a full queue drops (and counts) spans.

pub mod call;
pub mod metrics;
pub mod otlp;
pub mod queue;
pub mod serve;
pub mod span;
pub mod tap;
pub mod wire;

pub use tap::Tap;

#[cfg(test)]
mod tests;
