//! The Prometheus metrics (OpenMetrics text, the `prometheus-client`
//! crate): calls by protocol, service, method and status, their durations,
//! the capture's and the export's counters, and `containerdsnoop_up`.
//!
//! No label holds a pid, an id or a raw path: services and methods come
//! from gRPC/ttrpc method paths (and, for the HTTP APIs, from the operation
//! a path was recognized as), cut to a safe alphabet and length, at most
//! [`MAX_NAMES`] services and [`MAX_NAMES`] methods a service; past that
//! they become `other` and the call is counted in
//! `containerdsnoop_calls_folded_total`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use super::call::Call;

/// Most services, and most methods a service, given their own label value.
pub const MAX_NAMES: usize = 200;
/// Longest label value kept (longer ones are cut).
const MAX_LABEL: usize = 128;

/// Labels of `containerdsnoop_calls_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    protocol: &'static str,
    service: String,
    method: String,
    status: &'static str,
}

/// Labels of `containerdsnoop_call_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    protocol: &'static str,
    service: String,
    method: String,
}

/// The capture's counters, as the live commands count them (totals since
/// the start).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureCounts {
    /// Connections seen.
    pub connections: u64,
    /// Connections open now.
    pub open: u64,
    /// Writes captured.
    pub writes: u64,
    /// Bytes captured.
    pub bytes: u64,
    /// Bytes the kernel side could not hand over (ring buffer full, faults).
    pub dropped_bytes: u64,
    /// Records the ring buffer dropped.
    pub dropped_records: u64,
    /// Bytes turned into gaps of known size.
    pub gap_bytes: u64,
    /// Connections whose offsets restarted.
    pub restarts: u64,
}

/// The span exporter's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportCounts {
    /// Spans the collector accepted.
    pub sent: u64,
    /// Spans dropped because the queue was full.
    pub dropped: u64,
    /// Spans that could not be delivered (collector down, refused, timed
    /// out) after their retries, or still queued at exit.
    pub failed: u64,
    /// Spans in the queue now.
    pub queued: u64,
}

type Durations = Family<MethodLabels, Histogram, fn() -> Histogram>;

/// The metrics of one process, shared by the pipeline (which counts) and
/// the HTTP server (which reads).
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    durations: Durations,
    folded: Counter,
    up: Gauge,
    connections: Counter,
    open: Gauge,
    writes: Counter,
    bytes: Counter,
    dropped_bytes: Counter,
    dropped_records: Counter,
    gap_bytes: Counter,
    restarts: Counter,
    spans_sent: Counter,
    spans_dropped: Counter,
    spans_failed: Counter,
    spans_queued: Gauge,
    /// The label values given so far: service -> methods.
    names: Mutex<HashMap<String, HashSet<String>>>,
}

fn duration_histogram() -> Histogram {
    // 100 µs to about 26 s, by factors of 4.
    Histogram::new(exponential_buckets(0.0001, 4.0, 10))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// The metrics, all zero, `containerdsnoop_up` 0.
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            calls: Family::default(),
            durations: Durations::new_with_constructor(duration_histogram),
            folded: Counter::default(),
            up: Gauge::default(),
            connections: Counter::default(),
            open: Gauge::default(),
            writes: Counter::default(),
            bytes: Counter::default(),
            dropped_bytes: Counter::default(),
            dropped_records: Counter::default(),
            gap_bytes: Counter::default(),
            restarts: Counter::default(),
            spans_sent: Counter::default(),
            spans_dropped: Counter::default(),
            spans_failed: Counter::default(),
            spans_queued: Gauge::default(),
            names: Mutex::default(),
            registry: Registry::default(),
        };
        r.register(
            "containerdsnoop_up",
            "1 when the capture is attached to the kernel, 0 when it could not attach",
            m.up.clone(),
        );
        r.register(
            "containerdsnoop_calls",
            "Finished calls by protocol, service, method and status",
            m.calls.clone(),
        );
        r.register_with_unit(
            "containerdsnoop_call_duration",
            "Call duration, request's first byte to response's last (calls whose start was seen)",
            Unit::Seconds,
            m.durations.clone(),
        );
        r.register(
            "containerdsnoop_calls_folded",
            "Calls counted under service or method `other` (past 200 distinct names)",
            m.folded.clone(),
        );
        let counters = [
            ("containerdsnoop_connections", "Connections captured", &m.connections),
            ("containerdsnoop_writes", "Writes captured", &m.writes),
            ("containerdsnoop_captured_bytes", "Bytes captured", &m.bytes),
            (
                "containerdsnoop_dropped_bytes",
                "Bytes the kernel side could not hand over (ring buffer full, page faults)",
                &m.dropped_bytes,
            ),
            (
                "containerdsnoop_dropped_records",
                "Records the ring buffer dropped",
                &m.dropped_records,
            ),
            (
                "containerdsnoop_gap_bytes",
                "Bytes lost to gaps of known size",
                &m.gap_bytes,
            ),
            (
                "containerdsnoop_offset_restarts",
                "Connections whose stream offsets restarted",
                &m.restarts,
            ),
            (
                "containerdsnoop_spans_sent",
                "Spans the collector accepted",
                &m.spans_sent,
            ),
            (
                "containerdsnoop_spans_dropped",
                "Spans dropped because the export queue was full",
                &m.spans_dropped,
            ),
            (
                "containerdsnoop_spans_failed",
                "Spans not delivered: collector down, refused or timed out after retries, or unsent at exit",
                &m.spans_failed,
            ),
        ];
        for (name, help, c) in counters {
            r.register(name, help, c.clone());
        }
        r.register(
            "containerdsnoop_open_connections",
            "Connections open now",
            m.open.clone(),
        );
        r.register(
            "containerdsnoop_spans_queued",
            "Spans waiting in the export queue",
            m.spans_queued.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// Count a finished call.
    pub fn call(&self, call: &Call<'_>) {
        let (service, method, folded) = self.label_names(call);
        if folded {
            self.folded.inc();
        }
        if let Some(s) = call.seconds() {
            self.durations
                .get_or_create(&MethodLabels {
                    protocol: call.protocol,
                    service: service.clone(),
                    method: method.clone(),
                })
                .observe(s);
        }
        self.calls
            .get_or_create(&CallLabels {
                protocol: call.protocol,
                service,
                method,
                status: call.status,
            })
            .inc();
    }

    /// The service and method label values of `call`, and whether either
    /// was folded into `other`.
    fn label_names(&self, call: &Call<'_>) -> (String, String, bool) {
        let (Some(service), Some(method)) = (call.service, call.method) else {
            return ("unknown".into(), "unknown".into(), false);
        };
        let (service, method) = (label(service), label(method));
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let services = names.len();
        let Some(methods) = (match names.get_mut(&service) {
            Some(m) => Some(m),
            None if services < MAX_NAMES => Some(names.entry(service.clone()).or_default()),
            None => None,
        }) else {
            return ("other".into(), "other".into(), true);
        };
        if methods.contains(&method) || methods.len() < MAX_NAMES {
            methods.insert(method.clone());
            (service, method, false)
        } else {
            (service, "other".into(), true)
        }
    }

    /// Whether the capture is attached (`containerdsnoop_up`).
    pub fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    /// The capture's totals now.
    pub fn set_capture(&self, c: &CaptureCounts) {
        let set = |counter: &Counter, v: u64| counter.inner().store(v, Ordering::Relaxed);
        set(&self.connections, c.connections);
        set(&self.writes, c.writes);
        set(&self.bytes, c.bytes);
        set(&self.dropped_bytes, c.dropped_bytes);
        set(&self.dropped_records, c.dropped_records);
        set(&self.gap_bytes, c.gap_bytes);
        set(&self.restarts, c.restarts);
        store_gauge(&self.open, c.open);
    }

    /// The exporter's totals now.
    pub fn set_export(&self, e: &ExportCounts) {
        let set = |counter: &Counter, v: u64| counter.inner().store(v, Ordering::Relaxed);
        set(&self.spans_sent, e.sent);
        set(&self.spans_dropped, e.dropped);
        set(&self.spans_failed, e.failed);
        store_gauge(&self.spans_queued, e.queued);
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn store_gauge(g: &Gauge, v: u64) {
    let inner: &AtomicI64 = g.inner();
    inner.store(i64::try_from(v).unwrap_or(i64::MAX), Ordering::Relaxed);
}

/// A label value from untrusted text: letters, digits, `_`, `.` and `-`
/// kept, anything else `_`, at most [`MAX_LABEL`] characters.
pub fn label(s: &str) -> String {
    s.chars()
        .take(MAX_LABEL)
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => c,
            _ => '_',
        })
        .collect()
}

/// Counters the exporter thread updates and everyone reads.
#[derive(Debug, Default)]
pub struct SharedCounts {
    /// Spans accepted by the collector.
    pub sent: AtomicU64,
    /// Spans dropped, queue full.
    pub dropped: AtomicU64,
    /// Spans not delivered.
    pub failed: AtomicU64,
}

impl SharedCounts {
    /// A snapshot; `queued` is left 0 for the exporter, whose queue knows it.
    pub fn get(&self) -> ExportCounts {
        ExportCounts {
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            queued: 0,
        }
    }
}
