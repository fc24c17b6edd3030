//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// See what kubelet, crictl, ctr and containerd's shims say to containerd.
///
/// Captures the bytes written on AF_UNIX stream sockets with eBPF (socket
/// tracepoints, or syscall tracepoints on kernels before 6.3; CO-RE: no
/// compiler or kernel headers needed at run time) and
/// writes them as a pcapng file that Wireshark's HTTP/2 and gRPC dissectors
/// open with no preferences set.
#[derive(Parser, Debug)]
#[command(name = "containerdsnoop", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Record AF_UNIX stream traffic to a pcapng file (needs root).
    ///
    /// Example: containerdsnoop record -o pull.pcapng, then open pull.pcapng
    /// in Wireshark, or: containerdsnoop record -o - | wireshark -k -i -
    Record(RecordArgs),
    /// Show the gRPC calls live, as a table (or NDJSON with --json) (needs root).
    ///
    /// Example: containerdsnoop trace --method '*Images*'
    Trace(TraceArgs),
    /// Decode a pcapng or pcap file offline: the same table (or NDJSON).
    ///
    /// Reads containerdsnoop's captures and any capture of cleartext HTTP/2
    /// gRPC over TCP. Example: containerdsnoop decode pull.pcapng --json | jq .
    Decode(DecodeArgs),
    /// Write one self-contained HTML page of a capture: summary, per-method
    /// latencies, a timeline of calls and a sequence diagram per pod.
    ///
    /// The page loads nothing from the network and reads with script
    /// disabled; secrets are redacted as in the table. Example:
    /// containerdsnoop report pods.pcapng -o report.html
    Report(ReportArgs),
    /// Copy a capture with its secrets overwritten, to share it.
    ///
    /// Passwords, tokens and registry credentials (CRI AuthConfig; any field
    /// named like password, secret, token, credential, auth) become `x`s of the
    /// same length: the copy keeps every packet and opens in Wireshark as the
    /// original does. Example: containerdsnoop redact pull.pcapng -o pull-shared.pcapng
    Redact(RedactArgs),
    /// List the protobuf schemas compiled into a Go binary, or export them as .proto files.
    ///
    /// Reads the descriptors that containerd, its shims, dockerd or any Go
    /// gRPC program registers, and prints its Go version, module and build
    /// ID, then each .proto file with its package and services. A process ID
    /// reads /proc/PID/exe (also for processes in containers). With --export,
    /// the files are written as .proto source for Wireshark's protobuf search
    /// path. Example: containerdsnoop schemas /usr/bin/containerd --export /tmp/protos
    Schemas(SchemasArgs),
    /// Run as a node agent (a Kubernetes DaemonSet's container): trace with
    /// no table, every finished call exported as an OpenTelemetry span,
    /// Prometheus metrics served, a one-line JSON status on stderr (needs the
    /// capture's privileges).
    ///
    /// On a kernel it cannot attach to, it stays up, says why in its status
    /// and serves `containerdsnoop_up 0`. SIGTERM flushes the queued spans
    /// and exits 0. Example: NODE_NAME=$(hostname) containerdsnoop agent
    /// --otlp-endpoint http://collector:4318 --metrics-addr 0.0.0.0:9464
    Agent(AgentArgs),
}

/// How decoded calls are shown.
#[derive(Args, Debug, Clone, Default)]
pub struct ViewArgs {
    /// NDJSON: one object per message (with the message as proto3 JSON) and per finished call.
    #[arg(long)]
    pub json: bool,
    /// Show only calls whose method path matches this glob (repeatable),
    /// e.g. '*Namespaces/*' or '/runtime.v1.ImageService/*'; Docker and
    /// Podman API calls are named '/docker/OPERATION' and
    /// '/podman/OPERATION' ('*ContainerCreate*' matches both).
    #[arg(long = "method", value_name = "GLOB")]
    pub methods: Vec<String>,
    /// Show only calls about this pod, NAMESPACE/NAME, either part a glob
    /// (repeatable): its CRI calls, its shim's Task calls and events, and
    /// containerd's calls about its containers, learned from the traffic.
    #[arg(long = "pod", value_name = "NAMESPACE/NAME", value_parser = crate::pipeline::subject_filter::parse_pod)]
    pub pods: Vec<String>,
    /// Show only calls about this container (repeatable): 4 or more hex
    /// characters are an id prefix, anything else a container name (which
    /// may match containers in several pods).
    #[arg(long = "container", value_name = "ID_OR_NAME")]
    pub containers: Vec<String>,
    /// Show only connections whose client runs inside a container (its
    /// cgroup names one: a pod with the runtime socket mounted). `record`
    /// still writes every byte.
    #[arg(long)]
    pub from_container: bool,
    /// Do not cut table rows to the terminal width; show full method paths,
    /// microseconds, and the writing thread's name after its process's
    /// (COMM `python3/event_engine`) when the thread has one of its own.
    #[arg(long)]
    pub full: bool,
    /// Extra protobuf schemas (a .proto file or a directory of them, repeatable)
    /// for other gRPC services on unix sockets: CSI drivers, device plugins, BuildKit.
    #[arg(long = "proto", value_name = "FILE_OR_DIR")]
    pub protos: Vec<PathBuf>,
    /// Show secret fields (passwords, tokens, registry auth) instead of
    /// `<redacted N bytes>`.
    #[arg(long)]
    pub show_secrets: bool,
    /// For testing only: leave this service (full name, repeatable) out of
    /// the bundled schemas, to check that a binary's own schemas decode it.
    #[arg(long = "exclude-bundled-service", value_name = "SERVICE", hide = true)]
    pub exclude_bundled_services: Vec<String>,
    /// For benchmarks only: no pod or container attribution (the subject
    /// map is not kept and nothing waits for it), to measure its cost.
    #[arg(long, hide = true, conflicts_with_all = ["pods", "containers"])]
    pub no_attribution: bool,
}

/// Where finished calls are exported as OpenTelemetry spans.
#[derive(Args, Debug, Clone, Default)]
pub struct OtlpArgs {
    /// Export each finished call as a span, OTLP over HTTP/protobuf, to this
    /// base URL (http or https; `/v1/traces` is appended), e.g.
    /// http://127.0.0.1:4318. Default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    /// (used as given) or OTEL_EXPORTER_OTLP_ENDPOINT when set; headers
    /// from OTEL_EXPORTER_OTLP_HEADERS (`key=value,...`).
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Add each request and response to its call's span as an event (its
    /// protobuf text form, secrets redacted as in the table, cut to 1 KiB;
    /// at most 64 events a span).
    #[arg(long)]
    pub otlp_messages: bool,
    /// Spans held for the exporting thread; past it, live commands drop
    /// spans and count them (the capture never waits for the collector);
    /// `decode` waits.
    #[arg(long, value_name = "SPANS", default_value_t = 8192)]
    pub otlp_queue: usize,
    /// The longest one request to the collector may take (connect, send,
    /// answer) [default: OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds) when set, else 5].
    #[arg(long, value_name = "SECONDS")]
    pub otlp_timeout: Option<f64>,
    /// At exit (end of input, SIGINT, SIGTERM), the longest to wait for the
    /// queued spans to reach the collector; what is left is counted failed.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    pub otlp_flush_timeout: f64,
    /// Trust the CA certificates in this PEM file for an https collector,
    /// instead of the Mozilla roots built in. Default:
    /// OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE or
    /// OTEL_EXPORTER_OTLP_CERTIFICATE when set.
    #[arg(long, value_name = "FILE")]
    pub otlp_certificate: Option<std::path::PathBuf>,
}

/// Where Prometheus metrics are served.
#[derive(Args, Debug, Clone, Default)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics (OpenMetrics text) at http://ADDR:PORT/metrics:
    /// calls by protocol, service, method and status, their durations, the
    /// capture's and the export's counters, containerdsnoop_up.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// `agent`'s options.
#[derive(Args, Debug)]
pub struct AgentArgs {
    /// Which connections to capture (`--socket` repeatable, the defaults
    /// otherwise).
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Span export (on: the endpoint defaults to the OTEL_EXPORTER_OTLP_*
    /// variables, else http://localhost:4318).
    #[command(flatten)]
    pub otlp: OtlpArgs,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (also the probes' endpoint).
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:9464")]
    pub metrics_addr: std::net::SocketAddr,
    /// Seconds between two status lines on stderr (one JSON object a line).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub status_interval: f64,
    /// Extra protobuf schemas (a .proto file or a directory of them, repeatable).
    #[arg(long = "proto", value_name = "FILE_OR_DIR")]
    pub protos: Vec<PathBuf>,
    /// Schemas from the servers' binaries.
    #[command(flatten)]
    pub binaries: BinarySchemaArgs,
}

/// Where live commands take schemas from besides the bundled ones.
#[derive(Args, Debug, Clone, Default)]
pub struct BinarySchemaArgs {
    /// Do not read the schemas compiled into each connection's server
    /// binary (/proc/PID/exe); decode with the bundled ones (and --proto) only.
    #[arg(long)]
    pub no_binary_schemas: bool,
}

/// `trace`'s options.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// Which connections to capture.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// How to show them.
    #[command(flatten)]
    pub view: ViewArgs,
    /// Schemas from the servers' binaries.
    #[command(flatten)]
    pub binaries: BinarySchemaArgs,
    /// Span export.
    #[command(flatten)]
    pub otlp: OtlpArgs,
    /// Metrics.
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `decode`'s options.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// The capture to read (pcapng or pcap; `-` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// A TCP port that carries HTTP/2 (server side) when no client preface
    /// was captured (repeatable). Port 80 is always tried.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Decode with the schemas compiled into this server binary first (a
    /// Go executable such as /usr/bin/containerd; repeatable, the first
    /// given wins), the bundled ones as the fallback, for every connection.
    #[arg(long = "schemas-from", value_name = "BINARY")]
    pub schemas_from: Vec<PathBuf>,
    /// How to show the calls.
    #[command(flatten)]
    pub view: ViewArgs,
    /// Span export: replay the capture's calls into a collector.
    #[command(flatten)]
    pub otlp: OtlpArgs,
}

/// `report`'s options.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The capture to read (pcapng or pcap; `-` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the page (created with mode 0600), or `-` for standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// A TCP port that carries HTTP/2 (server side) when no client preface
    /// was captured (repeatable), as for `decode`.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Decode with the schemas compiled into this server binary first
    /// (repeatable), as for `decode`.
    #[arg(long = "schemas-from", value_name = "BINARY")]
    pub schemas_from: Vec<PathBuf>,
    /// Report only calls whose method path matches this glob (repeatable), as for `decode`.
    #[arg(long = "method", value_name = "GLOB")]
    pub methods: Vec<String>,
    /// Report only calls about this pod, NAMESPACE/NAME, either part a glob
    /// (repeatable), as for `decode`.
    #[arg(long = "pod", value_name = "NAMESPACE/NAME", value_parser = crate::pipeline::subject_filter::parse_pod)]
    pub pods: Vec<String>,
    /// Report only calls about this container (repeatable), as for `decode`.
    #[arg(long = "container", value_name = "ID_OR_NAME")]
    pub containers: Vec<String>,
    /// Report only connections whose client runs inside a container.
    #[arg(long)]
    pub from_container: bool,
    /// Extra protobuf schemas (a .proto file or a directory of them, repeatable).
    #[arg(long = "proto", value_name = "FILE_OR_DIR")]
    pub protos: Vec<PathBuf>,
}

impl ReportArgs {
    /// The view options these stand for: filters and schemas as for
    /// `decode`, secrets always redacted (a page is made to be shared).
    pub fn view(&self) -> ViewArgs {
        ViewArgs {
            methods: self.methods.clone(),
            pods: self.pods.clone(),
            containers: self.containers.clone(),
            from_container: self.from_container,
            protos: self.protos.clone(),
            ..ViewArgs::default()
        }
    }
}

/// `redact`'s options.
#[derive(Args, Debug)]
pub struct RedactArgs {
    /// The capture to copy (pcapng or pcap; a file: it is read three times).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Where to write the redacted copy, or `-` for standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// A TCP port that carries HTTP/2 (server side) when no client preface
    /// was captured (repeatable), as for `decode`.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Extra protobuf schemas (a .proto file or a directory of them,
    /// repeatable) whose secret fields are redacted too.
    #[arg(long = "proto", value_name = "FILE_OR_DIR")]
    pub protos: Vec<PathBuf>,
    /// Find secret fields with the schemas compiled into this server binary
    /// first (repeatable), as for `decode`.
    #[arg(long = "schemas-from", value_name = "BINARY")]
    pub schemas_from: Vec<PathBuf>,
}

/// `schemas`' options.
#[derive(Args, Debug)]
pub struct SchemasArgs {
    /// A Go executable, or a process ID (digits only; write ./123 for a file named 123).
    #[arg(value_name = "BINARY|PID")]
    pub target: String,
    /// Write each file found as .proto source under this directory, at its
    /// own path (created if needed; files there are replaced).
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
}

/// Which hook the user asked for (`--hook`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HookChoice {
    /// The sock tracepoints where the kernel has them, else the syscall tracepoints.
    #[default]
    Auto,
    /// The syscall tracepoints (Linux 5.17+); slows every system call of every task.
    Syscalls,
    /// tp_btf on sock_send_length and sock_recv_length (Linux 6.3+).
    Sock,
}

/// Which connections to capture.
#[derive(Args, Debug, Clone)]
pub struct FilterArgs {
    /// Socket path to capture (repeatable); a trailing `*` matches a prefix,
    /// `@name` an abstract socket. Replaces the defaults: containerd's gRPC
    /// socket, its ttrpc socket and its shims' sockets, Docker's and
    /// Podman's API sockets
    /// [default: /run/containerd/containerd.sock,
    /// /run/containerd/containerd.sock.ttrpc, /run/containerd/s/*,
    /// /run/docker.sock, /var/run/docker.sock, /run/podman/podman.sock]
    #[arg(long = "socket", value_name = "PATH")]
    pub sockets: Vec<String>,
    /// Capture every AF_UNIX stream connection, whatever its path.
    #[arg(long, conflicts_with = "sockets")]
    pub all: bool,
    /// Keep only connections where either side is this process (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Keep only connections where either side has this process name
    /// (repeatable): the name `ps` and the COMM column show
    /// (/proc/PID/comm). A thread's own name does not match (a grpcio
    /// client's writing thread `event_engine` is matched as `python3`).
    #[arg(long = "comm", value_name = "NAME")]
    pub comms: Vec<String>,
    /// Ring buffer size in bytes (K, M, G suffixes; a power of two, at least 64K).
    /// The recorder's memory is about twice this (the kernel maps the ring twice).
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = parse_ringbuf_size)]
    pub ringbuf_size: u32,
    /// Stop after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Where to hook in the kernel: `sock` (tracepoints in the socket layer,
    /// Linux 6.3+: no cost to other system calls), `syscalls` (syscall
    /// tracepoints, Linux 5.17+: every system call of every task takes the
    /// slow path while attached), or `auto` (sock where the kernel has it).
    #[arg(long, value_enum, value_name = "HOOK", default_value = "auto")]
    pub hook: HookChoice,
    /// Do not read the HPACK tables of connections that began before the
    /// capture from their server (uprobes on a Go gRPC server, such as
    /// containerd): header fields indexed before the capture (`:path`
    /// among them) then stay unknown until the tables turn over.
    #[arg(long)]
    pub no_hpack_recovery: bool,
    /// Write the entry count of every structure kept per connection,
    /// socket, process or stream to FILE as one JSON object, replaced
    /// about every 100 ms (for tests and for chasing memory growth).
    #[arg(long, value_name = "FILE", hide = true)]
    pub state_sizes: Option<std::path::PathBuf>,
}

/// `record`'s options.
#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Output pcapng file, or `-` for standard output (streamed, flushed as it goes).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Also show the decoded calls live on standard output, as `trace` does.
    #[arg(long)]
    pub decode: bool,
    /// How to show decoded calls (with --decode).
    #[command(flatten)]
    pub view: ViewArgs,
    /// Schemas from the servers' binaries (used with --decode, and noted in the file).
    #[command(flatten)]
    pub binaries: BinarySchemaArgs,
    /// Which connections to capture.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Span export (of the decoded calls: needs --decode).
    #[command(flatten)]
    pub otlp: OtlpArgs,
    /// Metrics (of the decoded calls with --decode; the capture's counters always).
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Parse a ring buffer size such as `32M`.
pub fn parse_ringbuf_size(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 32M"))?;
    let bytes = n.saturating_mul(mult);
    if !bytes.is_power_of_two() || !(64 << 10..=1 << 30).contains(&bytes) {
        return Err(format!(
            "{s}: the ring buffer size must be a power of two between 64K and 1G"
        ));
    }
    Ok(bytes as u32)
}

#[cfg(test)]
mod tests;
