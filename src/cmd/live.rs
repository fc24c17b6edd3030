//! `record` and `trace`: the tracer feeding the pcapng writer, the decoder, or both.

use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::capture_file::ReaderWatch;
use super::spool::Spool;
use super::status::{self, Status};
use super::telemetry::Telemetry;
use super::view::{self, StdoutPipeline};
use super::{install_stop_handler, mono_to_wall_offset};
use crate::capture::filter::Filters;
use crate::capture::preflight::Hook;
use crate::capture::record::Record;
use crate::capture::tracer::{Handler, KernelStats, Tracer};
use crate::capture::tracker::{self, Tracker};
use crate::cli::{FilterArgs, HookChoice, RecordArgs, TraceArgs};
use crate::decode::sniffer::{Sniffer, Sniffing};
use crate::error::Fatal;
use crate::export::metrics::CaptureCounts;
use crate::flow::{Discard, Sink, Tee};
use crate::pcapng::comment::{self, SchemaNote};
use crate::pcapng::PcapngWriter;
use crate::pipeline::CallCounts;
use crate::recovery::{Learned, Recovery, Seeder, SeederStats, Seeding};
use crate::servers::{self as registry, AskServers, SchemaRegistry};
use crate::sizes::Sizes;

type Writer = PcapngWriter<Spool>;
type Decoder = StdoutPipeline;

struct Live<'t> {
    tracker: Tracker,
    /// Tells what each connection speaks.
    sniffer: Sniffer,
    /// Places HPACK tables recovered from servers.
    seeder: Seeder,
    writer: Option<Writer>,
    /// The pcapng output's reader, when it can go away (a pipe).
    watch: Option<ReaderWatch>,
    decoder: Option<Decoder>,
    status: Status,
    deadline: Option<Instant>,
    stop: Arc<AtomicBool>,
    /// The counters of the last tick.
    kernel: KernelStats,
    /// Schemas from the servers' binaries, unless --no-binary-schemas.
    binaries: Option<Arc<SchemaRegistry>>,
    /// How many learned binaries the capture file names already.
    noted: usize,
    /// Where the entry counts go (`--state-sizes`).
    state_sizes: Option<PathBuf>,
    /// Open HTTP/1.x connections, whose servers are not asked for schemas.
    http_conns: std::collections::HashSet<crate::flow::ConnId>,
    /// Span export, metrics, the agent's status.
    telemetry: &'t mut Telemetry,
}

/// The stages between the tracker and the sinks: the sniffer, then the
/// recovery stage, which also takes what the uprobes read.
struct Stages<'a> {
    sniffer: &'a mut Sniffer,
    seeding: Seeding<'a>,
}

impl Stages<'_> {
    /// Where the tracker's flow events go.
    fn flow(&mut self) -> Sniffing<'_> {
        self.sniffer.sink(&mut self.seeding)
    }

    /// What a uprobe read, to the recovery stage's own door.
    fn learned(&mut self, l: Learned) -> Result<()> {
        self.seeding.learned(l)
    }
}

impl Live<'_> {
    /// Run `f` with the sink made of whatever this command writes.
    fn with_sink<T>(
        &mut self,
        f: impl FnOnce(&mut Tracker, &mut Stages<'_>) -> Result<T>,
    ) -> Result<T> {
        let registry = self.binaries.as_deref();
        let t = &mut self.tracker;
        let sniffer = &mut self.sniffer;
        let seeder = &mut self.seeder;
        let http = &mut self.http_conns;
        let stages = |inner: &mut dyn Sink| {
            f(
                t,
                &mut Stages {
                    sniffer,
                    seeding: seeder.sink(inner),
                },
            )
        };
        match (&mut self.writer, &mut self.decoder) {
            (Some(w), Some(d)) => stages(&mut AskServers {
                registry,
                inner: &mut Tee { a: w, b: d },
                http,
            }),
            (Some(w), None) => stages(&mut AskServers {
                registry,
                inner: w,
                http,
            }),
            (None, Some(d)) => stages(&mut AskServers {
                registry,
                inner: d,
                http,
            }),
            (None, None) => stages(&mut Discard),
        }
    }

    /// Tells the user what the registry learned, and names in the capture
    /// each binary whose schemas are used.
    fn schema_news(&mut self) -> Result<()> {
        let Some(reg) = &self.binaries else {
            return Ok(());
        };
        for note in reg.take_notes() {
            super::terminal::hide();
            eprintln!("containerdsnoop: {note}");
        }
        if reg.learned_count() == self.noted {
            return Ok(());
        }
        for b in reg.learned_since(self.noted) {
            self.noted += 1;
            if let Some(w) = &mut self.writer {
                w.note(&comment::schemas(&SchemaNote {
                    path: b.path.clone(),
                    version: registry::version_text(&b.info),
                    build_id: b.build_id().map(str::to_owned),
                }))?;
            }
        }
        Ok(())
    }
}

impl Handler for Live<'_> {
    fn sizes(&mut self, capture: &Sizes) -> Result<()> {
        let Some(path) = &self.state_sizes else {
            return Ok(());
        };
        let mut sizes = capture.clone();
        self.tracker.sizes(&mut sizes);
        self.sniffer.sizes(&mut sizes);
        self.seeder.sizes(&mut sizes);
        sizes.add("live.http_conns", self.http_conns.len());
        if let Some(w) = &self.writer {
            w.sizes(&mut sizes);
        }
        if let Some(d) = &self.decoder {
            d.sizes(&mut sizes);
        }
        if let Some(r) = &self.binaries {
            r.sizes(&mut sizes);
        }
        sizes
            .write_to(path)
            .with_context(|| format!("writing {}", path.display()))
    }

    fn record(&mut self, rec: Record<'_>) -> Result<()> {
        // What the uprobes read from servers enters the recovery stage
        // through its own door; everything else is a connection's bytes.
        self.with_sink(|t, s| match t.learned(&rec) {
            Some(l) => s.learned(l),
            None => t.record(&rec, &mut s.flow()),
        })
    }

    fn tick(&mut self, stats: &KernelStats) -> Result<()> {
        self.with_sink(|t, s| {
            t.tick(&mut s.flow())?;
            s.flow().tick()?;
            s.seeding.tick()
        })?;
        if let Some(r) = &self.binaries {
            r.tick();
        }
        self.schema_news()?;
        if let Some(w) = &mut self.writer {
            w.tick()?;
            w.get_mut().flush().context("writing the capture")?;
        }
        if self.watch.as_ref().is_some_and(ReaderWatch::reader_gone) {
            // Noticed at the next tick, not at the next captured write.
            return Err(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing the capture");
        }
        if let Some(d) = &mut self.decoder {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            d.tick(now)?;
            d.out.flush()?;
        }
        self.kernel = *stats;
        self.status.update(&self.tracker.stats, stats);
        let calls = self.decoder.as_ref().map_or(0, |d| {
            let c = d.calls();
            c.named + c.unnamed
        });
        self.telemetry
            .tick(Some(&capture_counts(&self.tracker.stats, stats)), calls);
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn filters(f: &FilterArgs) -> Result<Filters> {
    let filters = Filters::new(f.all, &f.sockets, &f.pids, &f.comms)
        .map_err(|e| Fatal::setup(e.to_string()))?;
    Ok(filters)
}

/// The capture's counters for the metrics.
fn capture_counts(flow: &tracker::FlowStats, kernel: &KernelStats) -> CaptureCounts {
    CaptureCounts {
        connections: flow.connections,
        open: flow.open,
        writes: flow.writes,
        bytes: flow.bytes,
        dropped_bytes: kernel.lost_bytes + kernel.fault_bytes,
        dropped_records: kernel.lost_records,
        gap_bytes: flow.gap_bytes,
        restarts: flow.resets,
    }
}

/// Once attached: a named socket that does not exist yet is worth a word,
/// not an error (containerd may start later).
fn warn_missing_sockets(filters: &Filters) {
    for p in filters
        .paths
        .iter()
        .filter(|p| !p.prefix && p.path.starts_with('/'))
    {
        if !std::path::Path::new(&p.path).exists() {
            eprintln!(
                "containerdsnoop: warning: there is no socket at {} yet; its connections are captured once it exists",
                p.path
            );
        }
    }
}

/// The raw OS error behind an error chain, if any.
fn os_error(e: &anyhow::Error) -> Option<i32> {
    e.chain().find_map(|c| {
        c.downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
            .or_else(|| match c.downcast_ref::<pcap_file::PcapError>() {
                Some(pcap_file::PcapError::IoError(io)) => io.raw_os_error(),
                _ => None,
            })
    })
}

/// Nice -10 for this thread and the ones it starts next: on a node whose CPUs
/// are saturated, a fair share among dozens of busy threads is too little
/// to drain the ring buffer, and records were dropped (16 ping-pong
/// connections on 2 CPUs: drops in 3 of 5 runs at nice 0, none at -10).
/// Best effort: without CAP_SYS_NICE the capture runs at its old priority.
fn raise_priority() {
    // SAFETY: setpriority has no memory-safety preconditions; on Linux,
    // PRIO_PROCESS with who = 0 applies to the calling thread.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) };
}

/// What a live command writes.
struct Plan<'a> {
    filter: &'a FilterArgs,
    pcapng: Option<(&'a std::path::Path, bool)>,
    decoder: Option<Decoder>,
    binaries: Option<Arc<SchemaRegistry>>,
    /// Spans and metrics (started once attached).
    telemetry: &'a mut Telemetry,
}

fn run(plan: Plan<'_>) -> Result<()> {
    let f = plan.filter;
    let filters = filters(f)?;
    let mut object = MaybeUninit::uninit();
    // Before any thread exists: the tracer may need a private mount namespace.
    let recovery = Recovery::new(!f.no_hpack_recovery);
    let mut tracer = Tracer::start(
        &mut object,
        &filters,
        f.ringbuf_size,
        match f.hook {
            HookChoice::Auto => None,
            HookChoice::Sock => Some(Hook::Sock),
            HookChoice::Syscalls => Some(Hook::Syscalls),
        },
        recovery.clone(),
    )
    .inspect_err(|e| plan.telemetry.attach_error = Some(format!("{e:#}")))?;
    if f.state_sizes.is_some() {
        tracer.report_sizes();
    }
    raise_priority();
    let stop = install_stop_handler()?;
    plan.telemetry.hook = Some(tracer.hook.describe().to_string());
    plan.telemetry.start()?;
    if let Some(a) = plan.telemetry.served() {
        eprintln!("containerdsnoop: metrics at http://{a}/metrics");
    }
    let comment = format!("containerdsnoop record: {}", filters.describe());
    let (writer, watch, target) = match plan.pcapng {
        Some((path, force)) => {
            let out = super::capture_file::open(path, force)?;
            let watch = ReaderWatch::of(&out);
            let spool =
                Spool::new(Box::new(out)).context("starting the capture's writing thread")?;
            // The ordering stage may hold a client's first write as long
            // as the tracker waits for a hole.
            let w = PcapngWriter::new(spool, &comment)?.with_wait(tracker::HOLD_TICKS);
            let target = if path.as_os_str() == "-" {
                "standard output".to_string()
            } else {
                path.display().to_string()
            };
            (Some(w), watch, Some(target))
        }
        None => (None, None, None),
    };
    match &target {
        Some(t) => eprintln!(
            "containerdsnoop: attached in {} ms (hook: {}); recording {} to {t} (Ctrl-C to stop)",
            tracer.attach_time.as_millis(),
            tracer.hook.describe(),
            filters.describe()
        ),
        None => eprintln!(
            "containerdsnoop: attached in {} ms (hook: {}); tracing {} (Ctrl-C to stop)",
            tracer.attach_time.as_millis(),
            tracer.hook.describe(),
            filters.describe()
        ),
    }
    warn_missing_sockets(&filters);
    let mut live = Live {
        tracker: Tracker::new(mono_to_wall_offset()).with_proc_names(),
        sniffer: Sniffer::new(),
        seeder: Seeder::new(recovery),
        writer,
        watch,
        decoder: plan.decoder,
        // On a terminal the table erases the status line before each write
        // (view::output) and the next tick draws it again below the rows.
        status: Status::default(),
        deadline: f
            .duration
            .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0))),
        stop: stop.clone(),
        kernel: KernelStats::default(),
        binaries: plan.binaries,
        noted: 0,
        state_sizes: f.state_sizes.clone(),
        http_conns: Default::default(),
        telemetry: plan.telemetry,
    };
    let result = tracer.run(&stop, &mut live);
    live.status.clear();
    let mut protocols = None;
    let mut calls = None;
    let mut from_containers = None;
    let mut evicted = 0;
    let result = result.and_then(|_| {
        live.with_sink(|t, s| {
            t.flush(&mut s.flow())?;
            s.flow().flush()?;
            s.seeding.flush()
        })?;
        live.schema_news()?;
        if let Some(d) = &mut live.decoder {
            d.finish(crate::output::time_now_ns())?;
            d.out.flush()?;
            let c = d.protocols();
            protocols = Some((c.grpc, c.ttrpc, c.http, c.other));
            calls = Some(d.calls());
            from_containers = d.from_containers.summary();
            evicted = d.evicted();
        }
        match live.writer.take() {
            Some(w) => {
                let stats = w.stats;
                // The decoder's names the pods too.
                if from_containers.is_none() {
                    from_containers = w.from_containers.summary();
                }
                let out = w.finish()?;
                out.close().context("writing the capture")?;
                // The writer decides from the same bytes, for every connection.
                protocols = Some((stats.grpc, stats.ttrpc, stats.http, stats.other));
                Ok(Some(stats))
            }
            None => Ok(None),
        }
    });
    // Calls the pipeline finished at the end are in the queue: flush it.
    live.telemetry.finish();
    // The kernel's counters now, with what the pipeline counted (as of its last tick).
    let kernel = KernelStats {
        uncopied: live.kernel.uncopied,
        unordered: live.kernel.unordered,
        vanished: live.kernel.vanished,
        ..tracer.stats()
    };
    let flow = live.tracker.stats;
    match result {
        Ok(ws) => {
            let written = match (ws, &target) {
                (Some(ws), Some(t)) => {
                    let mid = if ws.synthetic_prefaces > 0 {
                        let n = ws.synthetic_prefaces;
                        let s = if n == 1 { "" } else { "s" };
                        format!(" ({n} connection{s} began before the capture: synthetic preface added)")
                    } else {
                        String::new()
                    };
                    format!("; {} packets written to {t}{mid}", ws.packets)
                }
                _ => String::new(),
            };
            let protocols = protocols.map_or_else(String::new, status::protocols);
            eprintln!(
                "containerdsnoop: {}{protocols}{written}",
                status::line(&flow, &kernel)
            );
            if let Some(line) = recovery_summary(&live.seeder.stats, calls) {
                eprintln!("containerdsnoop: {line}");
            }
            if let Some(line) = from_containers {
                eprintln!("containerdsnoop: {line}");
            }
            if let Some(line) = crate::pipeline::evicted_summary(evicted) {
                eprintln!("containerdsnoop: {line}");
            }
            Ok(())
        }
        Err(e) if super::capture_file::is_broken_pipe(&e) => {
            eprintln!(
                "containerdsnoop: the reader of the output went away; {}",
                status::line(&flow, &kernel)
            );
            Ok(())
        }
        Err(e) if matches!(os_error(&e), Some(libc::ENOSPC | libc::EDQUOT)) => Err(Fatal::output(format!(
            "the disk is full ({e:#}): the capture stopped there and the file is valid up to its last complete block; {}",
            status::line(&flow, &kernel)
        ))
        .into()),
        Err(e) => Err(e),
    }
}

/// What HPACK recovery did, when there is something to say: tables placed,
/// and calls that stayed unnamed with the reasons.
fn recovery_summary(s: &SeederStats, calls: Option<CallCounts>) -> Option<String> {
    let mut parts = Vec::new();
    if s.seeded > 0 {
        let mut p = format!(
            "{} recovered from the servers",
            super::counted(s.seeded, "HPACK table", "HPACK tables")
        );
        if let Some(c) = calls.filter(|c| c.recovered > 0) {
            p += &format!(
                " ({} named with them)",
                super::counted(c.recovered, "call", "calls")
            );
        }
        parts.push(p);
    }
    let unnamed = calls.map_or(0, |c| c.unnamed);
    if unnamed > 0 {
        let mut why: Vec<String> = s
            .unavailable
            .iter()
            .map(|(reason, n)| {
                format!(
                    "{reason} ({})",
                    super::counted(*n, "connection", "connections")
                )
            })
            .collect();
        if s.timeouts > 0 {
            why.push(format!(
                "no table came from the server in time ({})",
                super::counted(s.timeouts, "header block", "header blocks")
            ));
        }
        if s.rejected > 0 {
            why.push(format!(
                "tables that did not fit this server's layout ({})",
                super::counted(s.rejected, "table", "tables")
            ));
        }
        if why.is_empty() {
            why.push("header fields indexed before the capture".into());
        }
        parts.push(format!(
            "{} stayed unnamed: {}",
            super::counted(unnamed, "call", "calls"),
            why.join("; ")
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Run `record`.
pub fn record(args: &RecordArgs) -> Result<()> {
    let schemas = view::schemas(&args.view)?;
    let binaries = view::live_registry(&schemas, &args.binaries);
    let mut telemetry = Telemetry::new(&args.otlp, args.metrics.metrics_addr, None, false)?;
    if args.decode && args.output.as_os_str() == "-" {
        return Err(Fatal::setup(
            "--decode writes the table to standard output, so -o - cannot be used with it: name an output file",
        )
        .into());
    }
    // Spans and call metrics need the calls decoded, shown or not.
    let decoder = if args.decode || telemetry.exports() || args.metrics.metrics_addr.is_some() {
        Some(view::pipeline(
            &args.view,
            schemas,
            binaries.clone(),
            &telemetry,
            args.decode,
        )?)
    } else {
        None
    };
    run(Plan {
        filter: &args.filter,
        pcapng: Some((&args.output, args.force)),
        decoder,
        binaries,
        telemetry: &mut telemetry,
    })
}

/// Run `trace`.
pub fn trace(args: &TraceArgs) -> Result<()> {
    let schemas = view::schemas(&args.view)?;
    let binaries = view::live_registry(&schemas, &args.binaries);
    let mut telemetry = Telemetry::new(&args.otlp, args.metrics.metrics_addr, None, false)?;
    let decoder = Some(view::pipeline(
        &args.view,
        schemas,
        binaries.clone(),
        &telemetry,
        true,
    )?);
    run(Plan {
        filter: &args.filter,
        pcapng: None,
        decoder,
        binaries,
        telemetry: &mut telemetry,
    })
}

/// Run `agent`'s capture: `trace` with no table, through `telemetry`.
/// When the capture cannot attach, `telemetry.attach_error` says why.
pub fn agent(
    filter: &FilterArgs,
    decoder: Decoder,
    binaries: Option<Arc<SchemaRegistry>>,
    telemetry: &mut Telemetry,
) -> Result<()> {
    run(Plan {
        filter,
        pcapng: None,
        decoder: Some(decoder),
        binaries,
        telemetry,
    })
}
