//! The span exporter: OTLP over HTTP/protobuf (`POST BASE/v1/traces`) from
//! its own thread, fed by a bounded queue that the capture never waits on.
//!
//! A full queue drops the span and counts it (`dropped`); a batch the
//! collector does not take (down, refused, timed out, 5xx) is retried with
//! exponential backoff and, past its attempts, counted `failed`; at exit
//! the queue is drained for at most the flush bound and what is left is
//! counted `failed` too. `sent + dropped + failed` is every span made.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_semantic_conventions::attribute as semconv;
use prost::Message;

use super::metrics::{ExportCounts, SharedCounts};
use super::queue::{Offered, SpanQueue};
use super::span::string;
use super::wire;

/// Most spans in one request (fewer when the queue holds fewer).
const MAX_BATCH: usize = 2048;
/// How long the first span of a batch waits for others.
const LINGER: Duration = Duration::from_millis(1000);
/// Attempts per batch before its spans count as failed.
const ATTEMPTS: u32 = 4;
/// First backoff between attempts; doubled each time.
const BACKOFF: Duration = Duration::from_millis(100);
/// One request's bound (connect, send, answer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the collector's addresses are used before they are looked up
/// again.
const RESOLVED_FOR: Duration = Duration::from_secs(30);

/// The collector's addresses, looked up at most once per [`RESOLVED_FOR`].
/// ureq's own resolver looks the name up on every request, in a thread of
/// its own whenever a timeout applies (as ours always does): a thread
/// started and ended per batch was a third of the exporting thread's CPU
/// time at 1,000 calls/s.
#[derive(Debug, Default)]
struct CachedResolver {
    inner: ureq::unversioned::resolver::DefaultResolver,
    /// The URI's scheme and authority, when they were looked up, and what
    /// they gave.
    last: Mutex<
        Option<(
            String,
            Instant,
            ureq::unversioned::resolver::ResolvedSocketAddrs,
        )>,
    >,
}

impl ureq::unversioned::resolver::Resolver for CachedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map_or("", |a| a.as_str())
        );
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, at, addrs)) = last.as_ref() {
            if *k == key && at.elapsed() < RESOLVED_FOR {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        *last = Some((key, Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

/// Where spans go: the traces URL and the headers to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The full URL, `.../v1/traces`.
    pub url: String,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: Vec<(String, String)>,
    /// A PEM file of the CA certificates an https collector is checked
    /// against, instead of the roots built in.
    pub certificate: Option<PathBuf>,
}

impl Target {
    /// The target from `--otlp-endpoint` (a base URL), else from the
    /// environment as `env` reads it: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
    /// (a full URL, used as given), `OTEL_EXPORTER_OTLP_ENDPOINT` (a base
    /// URL); else `fallback` (a base URL), else none. Its CA file from
    /// `--otlp-certificate` (`certificate`), else
    /// `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CERTIFICATE`.
    pub fn resolve(
        flag: Option<&str>,
        certificate: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        fallback: Option<&str>,
    ) -> Result<Option<Target>, String> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let url = match (
            flag,
            env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(base), _, _) => traces_url(base),
            (None, Some(full), _) => full.trim().to_string(),
            (None, None, Some(base)) => traces_url(&base),
            (None, None, None) => match fallback {
                Some(base) => traces_url(base),
                None => return Ok(None),
            },
        };
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(format!(
                "the OTLP endpoint {url:?} is not an http:// or https:// URL"
            ));
        }
        let headers = match env("OTEL_EXPORTER_OTLP_HEADERS") {
            Some(h) => parse_headers(&h)?,
            None => Vec::new(),
        };
        let certificate = certificate
            .map(Path::to_path_buf)
            .or_else(|| env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE").map(PathBuf::from))
            .or_else(|| env("OTEL_EXPORTER_OTLP_CERTIFICATE").map(PathBuf::from));
        Ok(Some(Target {
            url,
            headers,
            certificate,
        }))
    }
}

/// `base` + `/v1/traces` (one slash between).
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim().trim_end_matches('/'))
}

/// `key=value,key2=value2`, values percent-decoded (the OTLP exporter
/// specification's form of `OTEL_EXPORTER_OTLP_HEADERS`).
pub fn parse_headers(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_HEADERS: {part:?} is not key=value"
            ));
        };
        let (k, v) = (percent_decode(k.trim()), percent_decode(v.trim()));
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if k.is_empty() || !k.chars().all(token) || v.chars().any(|c| c.is_control()) {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_HEADERS: {k:?} is not a valid header"
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The resource every span is sent under: `service.name` containerdsnoop,
/// its version, `host.name`, and `k8s.node.name` when `node` is given
/// (`NODE_NAME`, from the downward API).
pub fn resource(host: Option<&str>, node: Option<&str>) -> Vec<KeyValue> {
    let mut a = vec![
        string(semconv::SERVICE_NAME, "containerdsnoop"),
        string(semconv::SERVICE_VERSION, env!("CARGO_PKG_VERSION")),
    ];
    if let Some(h) = host.filter(|h| !h.is_empty()) {
        a.push(string(semconv::HOST_NAME, h));
    }
    if let Some(n) = node.filter(|n| !n.is_empty()) {
        a.push(string(semconv::K8S_NODE_NAME, n));
    }
    a
}

/// This machine's host name (the UTS namespace's).
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
}

/// How the exporter runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Spans the queue holds.
    pub queue: usize,
    /// At exit, the longest to wait for the queue to drain.
    pub flush_timeout: Duration,
    /// One request's bound.
    pub request_timeout: Duration,
    /// Wait for room in a full queue instead of dropping (offline: a
    /// capture file can wait for the collector, a live capture cannot).
    pub blocking: bool,
    /// The CA certificates an https collector is checked against, instead
    /// of the Mozilla roots built in.
    pub roots: Option<Vec<Certificate>>,
}

/// A CA certificate ([`certificates`]).
pub type Certificate = ureq::tls::Certificate<'static>;

/// The certificates of a PEM file (other items, such as keys, are
/// skipped); an error when it holds none or one does not parse.
pub fn certificates(pem: &[u8]) -> Result<Vec<Certificate>, String> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("not a PEM certificate file ({e})")),
        }
    }
    if out.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(out)
}

impl Options {
    /// `queue` spans, `flush_timeout` at exit, the default request bound
    /// (5 s, as `OTEL_EXPORTER_OTLP_TIMEOUT`'s default).
    pub fn new(queue: usize, flush_timeout: Duration) -> Options {
        Options {
            queue: queue.max(1),
            flush_timeout,
            request_timeout: REQUEST_TIMEOUT,
            blocking: false,
            roots: None,
        }
    }
}

/// The queue, and what both sides of it count.
struct Shared {
    queue: SpanQueue,
    counts: SharedCounts,
    /// Spans taken by the thread and not yet counted sent or failed.
    in_flight: Mutex<u64>,
    /// The main side gave up waiting at exit and counted what was left.
    abandoned: AtomicBool,
    /// Past this (ns after `epoch`), the thread stops trying; 0: none yet.
    deadline_ns: AtomicU64,
    /// The last request failed: a blocking sender drops rather than waits
    /// (a stalled collector does not hang a replay).
    failing: AtomicBool,
    /// Why the last failed request failed.
    last_error: Mutex<Option<String>>,
}

/// The exporter: the queue's sending side, shared by whoever makes spans
/// and whoever ends the program.
pub struct Exporter {
    /// The thread's side, until it is spawned.
    worker: Mutex<Option<Worker>>,
    done: Mutex<Option<Receiver<()>>>,
    shared: Arc<Shared>,
    epoch: Instant,
    flush_timeout: Duration,
    blocking: bool,
    /// Where the spans go.
    pub target: Target,
}

impl Exporter {
    /// The exporter for `target`, its queue open; its thread starts with
    /// [`Exporter::spawn`] (a live capture starts threads only once
    /// attached).
    pub fn new(target: Target, resource: Vec<KeyValue>, opts: Options) -> Self {
        let shared = Arc::new(Shared {
            queue: SpanQueue::new(opts.queue, MAX_BATCH),
            counts: SharedCounts::default(),
            in_flight: Mutex::new(0),
            abandoned: AtomicBool::new(false),
            deadline_ns: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            last_error: Mutex::new(None),
        });
        let epoch = Instant::now();
        let worker = Worker {
            shared: shared.clone(),
            epoch,
            agent: ureq::Agent::with_parts(
                ureq::Agent::config_builder()
                    .tls_config(
                        ureq::tls::TlsConfig::builder()
                            .root_certs(match &opts.roots {
                                Some(certs) => ureq::tls::RootCerts::new_with_certs(certs),
                                None => ureq::tls::RootCerts::WebPki,
                            })
                            .build(),
                    )
                    .http_status_as_error(false)
                    .timeout_global(Some(opts.request_timeout))
                    .user_agent(concat!("containerdsnoop/", env!("CARGO_PKG_VERSION")))
                    .build(),
                ureq::unversioned::transport::DefaultConnector::new(),
                CachedResolver::default(),
            ),
            target: target.clone(),
            resource: Resource {
                attributes: resource,
                ..Default::default()
            }
            .encode_to_vec(),
            scope: InstrumentationScope {
                name: "containerdsnoop".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }
            .encode_to_vec(),
            request_timeout: opts.request_timeout,
            down: std::cell::Cell::new(false),
            body: RefCell::default(),
        };
        Exporter {
            worker: Mutex::new(Some(worker)),
            done: Mutex::new(None),
            shared,
            epoch,
            flush_timeout: opts.flush_timeout,
            blocking: opts.blocking,
            target,
        }
    }

    /// Start the exporting thread (once; later calls do nothing).
    pub fn spawn(&self) -> std::io::Result<()> {
        let Some(worker) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || {
                worker.run();
                let _ = done_tx.send(());
            })?;
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(done_rx);
        Ok(())
    }

    /// Queue the encoded span `span` ([`super::span::of_call`]); when the
    /// queue is full, drop and count it (live: never waits) or wait for
    /// room ([`Options::blocking`], offline, while the collector takes what
    /// is sent).
    pub fn send(&self, span: &[u8]) {
        let c = &self.shared.counts;
        let offered = loop {
            match self.shared.queue.offer(span) {
                Offered::Full if self.blocking && !self.shared.failing.load(Ordering::Relaxed) => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                o => break o,
            }
        };
        match offered {
            Offered::Queued => {}
            Offered::Full => {
                c.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Offered::Closed => {
                c.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Why the last request that failed did (a connection refused, a
    /// certificate not trusted, a status), if one did.
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The counters now; `queued` is what the queue and the thread hold.
    pub fn counts(&self) -> ExportCounts {
        let mut c = self.shared.counts.get();
        // The thread moves spans from the queue to its count under this
        // lock: held, each span is counted once.
        let in_flight = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        c.queued = self.shared.queue.len() as u64 + *in_flight;
        c
    }

    /// Close the queue and wait, at most the flush bound, for the thread
    /// to deliver what is queued; what is left then counts failed. Safe to
    /// call more than once.
    pub fn shutdown(&self) -> ExportCounts {
        let bound = self.flush_timeout;
        let deadline = self.epoch.elapsed() + bound;
        self.shared.deadline_ns.store(
            u64::try_from(deadline.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            Ordering::Relaxed,
        );
        self.shared.queue.close();
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner()).take();
        // A little past the bound: the thread itself stops at it.
        let finished =
            done.is_some_and(|d| d.recv_timeout(bound + Duration::from_millis(250)).is_ok());
        if !finished {
            let s = &self.shared;
            let mut in_flight = s.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if !s.abandoned.swap(true, Ordering::Relaxed) {
                let left = s.queue.clear() as u64 + *in_flight;
                *in_flight = 0;
                s.counts.failed.fetch_add(left, Ordering::Relaxed);
            }
        }
        self.counts()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The exporting thread's side.
struct Worker {
    shared: Arc<Shared>,
    epoch: Instant,
    agent: ureq::Agent,
    target: Target,
    /// The encoded `Resource` and `InstrumentationScope` of every request.
    resource: Vec<u8>,
    scope: Vec<u8>,
    request_timeout: Duration,
    /// The last batch failed every attempt: until one gets through, later
    /// batches get one attempt each (a collector that stays down costs
    /// one connection attempt a batch, not a backoff series).
    down: std::cell::Cell<bool>,
    /// The request being sent, its buffer kept from one batch to the next.
    body: RefCell<Vec<u8>>,
}

/// Why a request did not deliver.
enum Failure {
    /// Worth another attempt (connection refused, timeout, 429, 502-504).
    Retry,
    /// Not (another 4xx or 5xx): the batch fails now.
    Final,
}

impl Worker {
    fn run(&self) {
        let mut batch = Vec::new();
        while let Some(n) = self.gather(&mut batch) {
            if n > 0 {
                self.deliver(&batch, n);
            }
        }
    }

    /// Time left before the exit deadline, if one is set.
    fn left(&self) -> Option<Duration> {
        match self.shared.deadline_ns.load(Ordering::Relaxed) {
            0 => None,
            d => Some(Duration::from_nanos(d).saturating_sub(self.epoch.elapsed())),
        }
    }

    /// Take the next batch into `batch`: wait for a span, then for a
    /// batch's worth for up to [`LINGER`] (or the exit); then take what is
    /// queued, up to a batch. Two wake-ups a batch at most, never one a
    /// span. The spans taken (counted in flight); None once the queue is
    /// closed and empty.
    fn gather(&self, batch: &mut Vec<u8>) -> Option<usize> {
        let q = &self.shared.queue;
        if !q.wait_first() {
            return None;
        }
        if self.left().is_none() {
            q.wait_batch(LINGER);
        }
        // In flight before it leaves the queue: the counts never miss it.
        let mut in_flight = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let n = q.take(batch);
        *in_flight += n as u64;
        Some(n)
    }

    /// Post the `n` spans of `batch` with retries; count them sent or failed.
    fn deliver(&self, batch: &[u8], n: usize) {
        let n = n as u64;
        let mut body = self.body.borrow_mut();
        wire::request(
            &self.resource,
            &self.scope,
            opentelemetry_semantic_conventions::SCHEMA_URL,
            batch,
            &mut body,
        );
        let mut backoff = BACKOFF;
        let mut rejected = None;
        let attempts = if self.down.get() { 1 } else { ATTEMPTS };
        for attempt in 1..=attempts {
            let timeout = match self.left() {
                Some(l) if l.is_zero() => break,
                Some(l) => l.min(self.request_timeout),
                None => self.request_timeout,
            };
            let result = self.post(&body, timeout);
            self.shared
                .failing
                .store(result.is_err(), Ordering::Relaxed);
            match result {
                Ok(r) => {
                    rejected = Some(r);
                    break;
                }
                Err(Failure::Final) => break,
                Err(Failure::Retry) if attempt < attempts => {
                    let pause = self.left().map_or(backoff, |l| l.min(backoff));
                    std::thread::sleep(pause);
                    backoff *= 2;
                }
                Err(Failure::Retry) => {}
            }
        }
        let mut in_flight = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.shared.abandoned.load(Ordering::Relaxed) {
            return; // counted by the main side already
        }
        *in_flight = in_flight.saturating_sub(n);
        let c = &self.shared.counts;
        match rejected {
            Some(r) => {
                let r = r.min(n);
                c.sent.fetch_add(n - r, Ordering::Relaxed);
                c.failed.fetch_add(r, Ordering::Relaxed);
            }
            None => {
                c.failed.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Keep `e` as the last reason a request failed (the summary says it).
    fn note_error(&self, e: String) {
        *self
            .shared
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    /// One POST; the spans the collector said it rejected (partial success).
    fn post(&self, body: &[u8], timeout: Duration) -> Result<u64, Failure> {
        let mut req = self
            .agent
            .post(&self.target.url)
            .header("Content-Type", "application/x-protobuf");
        for (k, v) in &self.target.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body)
            .map_err(|e| {
                self.note_error(e.to_string());
                Failure::Retry
            })?;
        let status = resp.status().as_u16();
        if !(200..=299).contains(&status) {
            self.note_error(format!("the collector answered {status}"));
        }
        match status {
            200..=299 => {
                let mut body = resp.into_body();
                let bytes = body
                    .with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .unwrap_or_default();
                let rejected = ExportTraceServiceResponse::decode(bytes.as_slice())
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0));
                Ok(rejected)
            }
            429 | 502 | 503 | 504 => Err(Failure::Retry),
            _ => Err(Failure::Final),
        }
    }
}
