//! Real receivers for what `--otlp-endpoint` and `--metrics-addr` serve: the
//! rotel OpenTelemetry collector (PyPI `rotel`, pinned, in the venv
//! scripts/install-deps.sh makes) printing every span it receives, and
//! Debian's Prometheus scraping `/metrics`.
//!
//! Why rotel's debug log rather than oteltest's sink: rotel is a collector
//! (OTLP receiver, batching, exporter pipeline) in one static binary that
//! starts in milliseconds and prints each received span, attribute by
//! attribute, as it decoded it from our protobuf; the sink needs a Python
//! gRPC/protobuf stack of its own versions beside Debian's python3-grpcio.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Where scripts/install-deps.sh makes the venv (`OTEL_VENV` overrides).
pub const VENV: &str = "/opt/containerdsnoop/otel-venv";

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind 127.0.0.1:0")
        .port()
}

/// The rotel-agent binary of the venv's `rotel` wheel.
fn rotel_agent() -> PathBuf {
    let venv = std::env::var("OTEL_VENV").unwrap_or_else(|_| VENV.into());
    let lib = Path::new(&venv).join("lib");
    let found = fs::read_dir(&lib).ok().and_then(|d| {
        d.filter_map(Result::ok)
            .map(|e| e.path().join("site-packages/rotel/rotel-agent"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "no rotel-agent under {}: run scripts/install-deps.sh (pip install rotel==0.0.1a15 in {venv})",
            lib.display()
        )
    })
}

/// One span as the collector printed it.
#[derive(Clone, Debug, Default)]
pub struct ReceivedSpan {
    pub name: String,
    pub kind: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `STATUS_CODE_ERROR`, or empty when unset.
    pub status: String,
    pub status_message: String,
    /// key -> value as printed: `Str(x)` is `x`, `Int(5)` is `5`.
    pub attrs: BTreeMap<String, String>,
    /// The resource's attributes.
    pub resource: BTreeMap<String, String>,
    /// Its events' names.
    pub events: Vec<BTreeMap<String, String>>,
}

impl ReceivedSpan {
    /// An attribute's value; panics naming the span when absent.
    pub fn attr(&self, key: &str) -> &str {
        self.attrs
            .get(key)
            .unwrap_or_else(|| panic!("span {} has no {key}: {:?}", self.name, self.attrs))
    }
}

/// A rotel collector on free ports, its debug log of traces in a file.
pub struct Collector {
    child: Option<Child>,
    out: PathBuf,
    /// `http://127.0.0.1:PORT`, the OTLP/HTTP base URL.
    pub endpoint: String,
}

impl Collector {
    /// Start one, its log in `dir`; waits until its HTTP port accepts.
    pub fn start(dir: &Path) -> Collector {
        let (http, grpc) = (free_port(), free_port());
        let out = dir.join(format!("rotel-{http}.out"));
        let child = Command::new(rotel_agent())
            .args(["start", "--exporter", "blackhole", "--debug-log", "traces"])
            .args(["--debug-log-verbosity", "detailed"])
            .arg("--otlp-http-endpoint")
            .arg(format!("127.0.0.1:{http}"))
            .arg("--otlp-grpc-endpoint")
            .arg(format!("127.0.0.1:{grpc}"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(out.with_extension("err")).unwrap())
            .spawn()
            .expect("cannot start rotel-agent");
        let c = Collector {
            child: Some(child),
            out,
            endpoint: format!("http://127.0.0.1:{http}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
            assert!(Instant::now() < deadline, "rotel did not listen on {http}");
            thread::sleep(Duration::from_millis(20));
        }
        c
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        parse(&fs::read_to_string(&self.out).unwrap_or_default())
    }

    /// Waits (at most `timeout`) until `n` spans came, and a little more
    /// for any extra; returns them all.
    pub fn wait_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.spans();
            if s.len() >= n {
                thread::sleep(Duration::from_millis(500));
                return self.spans();
            }
            if Instant::now() >= deadline {
                return s;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Strip ANSI colour codes.
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `Str(x)` -> `x`, `Int(5)` -> `5`, `Bool(true)` -> `true`.
fn value(v: &str) -> String {
    for p in ["Str(", "Int(", "Bool(", "Double("] {
        if let Some(rest) = v.strip_prefix(p) {
            return rest.strip_suffix(')').unwrap_or(rest).to_string();
        }
    }
    v.to_string()
}

/// rotel's detailed debug log of traces, as spans.
pub fn parse(log: &str) -> Vec<ReceivedSpan> {
    let log = plain(log);
    let mut spans = Vec::new();
    let mut resource = BTreeMap::new();
    let mut cur: Option<ReceivedSpan> = None;
    // Where `-> k: v` lines go: resource, span, or the last event.
    #[derive(PartialEq)]
    enum At {
        Resource,
        Span,
        Event,
        Other,
    }
    let mut at = At::Other;
    let field = |l: &str, name: &str| {
        l.trim()
            .strip_prefix(name)
            .and_then(|r| r.trim_start().strip_prefix(':'))
            .map(|r| r.trim().to_string())
    };
    for line in log.lines() {
        let t = line.trim();
        if t.starts_with("ResourceSpans #") {
            resource = BTreeMap::new();
            at = At::Other;
        } else if t == "Resource attributes:" {
            at = At::Resource;
        } else if t.starts_with("ScopeSpans #") {
            at = At::Other;
        } else if t.starts_with("Span #") {
            spans.extend(cur.take());
            cur = Some(ReceivedSpan {
                resource: resource.clone(),
                ..Default::default()
            });
            at = At::Other;
        } else if t == "Attributes:" {
            at = At::Span;
        } else if t.starts_with("SpanEvent #") {
            if let Some(s) = cur.as_mut() {
                s.events.push(BTreeMap::new());
            }
            at = At::Event;
        } else if let Some(kv) = t.strip_prefix("-> ") {
            let Some((k, v)) = kv.split_once(": ") else {
                continue;
            };
            let v = value(v);
            match (&at, cur.as_mut()) {
                (At::Resource, _) => {
                    resource.insert(k.to_string(), v);
                }
                (At::Span, Some(s)) => {
                    s.attrs.insert(k.to_string(), v);
                }
                (At::Event, Some(s)) => {
                    if let Some(e) = s.events.last_mut() {
                        e.insert(k.trim_end_matches(':').to_string(), v);
                    }
                }
                _ => {}
            }
        } else if let Some(s) = cur.as_mut() {
            if let Some(v) = field(t, "Name") {
                s.name = v;
            } else if let Some(v) = field(t, "Kind") {
                s.kind = v;
            } else if let Some(v) = field(t, "Start time") {
                s.start_ns = v.parse().unwrap_or(0);
            } else if let Some(v) = field(t, "End time") {
                s.end_ns = v.parse().unwrap_or(0);
            } else if let Some(v) = field(t, "Status code") {
                s.status = v;
            } else if let Some(v) = field(t, "Status message") {
                s.status_message = v;
            }
        }
    }
    spans.extend(cur);
    spans
}

/// GET `url`: the body when the answer is 200.
pub fn get(url: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let mut resp = agent.get(url).call().ok()?;
    resp.body_mut().read_to_string().ok()
}

/// Debian's Prometheus scraping `target` (ADDR:PORT) every 500 ms, its
/// data in `dir`.
pub struct Prometheus {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: PathBuf,
}

impl Prometheus {
    /// Start it; waits until it answers.
    pub fn start(dir: &Path, target: &str) -> Prometheus {
        let port = free_port();
        let config = dir.join("prometheus.yml");
        fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n\
                 scrape_configs:\n  - job_name: containerdsnoop\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(log.with_extension("err")).unwrap())
            .spawn()
            .expect("cannot start prometheus (apt-get install prometheus)");
        let p = Prometheus {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.get("/-/ready").is_none() {
            assert!(
                Instant::now() < deadline,
                "prometheus not ready: {}",
                fs::read_to_string(p.log.with_extension("err")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(100));
        }
        p
    }

    /// GET `path` on its HTTP API; the body when 200.
    pub fn get(&self, path: &str) -> Option<String> {
        get(&format!("{}{path}", self.url))
    }

    /// An instant query's result vector: (labels, value).
    pub fn query(&self, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let enc: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let Some(body) = self.get(&format!("/api/v1/query?query={enc}")) else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|s| {
                        let labels = s["metric"]
                            .as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect();
                        let value = s["value"][1].as_str().unwrap().parse().unwrap();
                        (labels, value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
