//! `containerdsnoop record`: capture to pcapng.

use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::status::{self, Status};
use super::{install_stop_handler, mono_to_wall_offset};
use crate::capture::filter::Filters;
use crate::capture::record::Record;
use crate::capture::tracer::{Handler, KernelStats, Tracer};
use crate::cli::RecordArgs;
use crate::flow::Tracker;
use crate::pcapng::PcapngWriter;

struct Recording<W: Write> {
    tracker: Tracker,
    writer: PcapngWriter<W>,
    status: Status,
    deadline: Option<Instant>,
    stop: Arc<AtomicBool>,
    kernel: KernelStats,
}

impl<W: Write> Handler for Recording<W> {
    fn record(&mut self, rec: Record<'_>) -> Result<()> {
        self.tracker.record(&rec, &mut self.writer)
    }

    fn tick(&mut self, stats: &KernelStats) -> Result<()> {
        self.kernel = *stats;
        self.tracker.tick(&mut self.writer)?;
        self.writer.tick()?;
        self.writer
            .get_mut()
            .flush()
            .context("writing the capture")?;
        self.status.update(&self.tracker.stats, stats);
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.stop.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Whether an error is the reader of our output going away (`| head`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
        || e.chain().any(|c| {
            c.downcast_ref::<pcap_file::PcapError>()
                .is_some_and(|p| matches!(p, pcap_file::PcapError::IoError(io) if io.kind() == io::ErrorKind::BrokenPipe))
        })
}

/// Run `record`.
pub fn run(args: &RecordArgs) -> Result<()> {
    let f = &args.filter;
    let filters = Filters::new(f.all, &f.sockets, &f.pids, &f.comms)
        .map_err(|e| crate::error::Fatal::setup(e.to_string()))?;
    let mut object = MaybeUninit::uninit();
    // Before any thread exists: the tracer may need a private mount namespace.
    let tracer = Tracer::start(&mut object, &filters, f.ringbuf_size)?;
    let stop = install_stop_handler()?;
    let out = super::output::open(&args.output, args.force)?;
    let comment = format!("containerdsnoop record: {}", filters.describe());
    let writer = PcapngWriter::new(io::BufWriter::with_capacity(1 << 20, out), &comment)?;
    let target = if args.output.as_os_str() == "-" {
        "standard output".to_string()
    } else {
        args.output.display().to_string()
    };
    eprintln!(
        "containerdsnoop: attached in {} ms; recording {} to {target} (Ctrl-C to stop)",
        tracer.attach_time.as_millis(),
        filters.describe()
    );
    let mut rec = Recording {
        tracker: Tracker::new(mono_to_wall_offset()),
        writer,
        status: Status::default(),
        deadline: f
            .duration
            .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0))),
        stop: stop.clone(),
        kernel: KernelStats::default(),
    };
    let result = tracer.run(&stop, &mut rec);
    rec.status.clear();
    let result = result.and_then(|()| {
        rec.tracker.flush(&mut rec.writer)?;
        let stats = rec.writer.stats;
        let mut out = rec.writer.finish()?;
        out.flush().context("writing the capture")?;
        Ok(stats)
    });
    let kernel = tracer.stats();
    let flow = rec.tracker.stats;
    match result {
        Ok(ws) => {
            eprintln!(
                "containerdsnoop: {}; {} packets written to {target}{}",
                status::line(&flow, &kernel),
                ws.packets,
                if ws.synthetic_prefaces > 0 {
                    format!(
                        " ({} connections began before the capture: synthetic preface added)",
                        ws.synthetic_prefaces
                    )
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        Err(e) if is_broken_pipe(&e) => {
            eprintln!(
                "containerdsnoop: the reader of the output went away; {}",
                status::line(&flow, &kernel)
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}
