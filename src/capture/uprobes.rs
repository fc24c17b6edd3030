//! Attaching the HPACK uprobes (`src/bpf/hpack.bpf.h`) to the Go servers
//! of the watched sockets, and telling the kernel side which connections
//! need no more tables.
//!
//! A server is looked at once per process: its executable (through
//! `/proc/PID/exe`, so a replaced or deleted binary still works) is read
//! for the two functions the probes need, by symbol table or, in a binary
//! without symbols, by the Go function table (`gobin`). Each executable is
//! probed once, for every process that runs it. The struct offsets the
//! probes follow are those of grpc-go 1.2x-1.5x with golang.org/x/net 0.1
//! or later ([`LAYOUT`]); a build they do not fit gives tables whose sizes
//! do not add up, which `recovery` rejects: unknown stays unknown.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use libbpf_rs::{Link, MapCore, MapFlags, UprobeOpts};

use super::filter::Filters;
use super::skel::types::snoop_hpack_layout;
use super::skel::SnoopSkel;
use crate::gobin::GoBinary;
use crate::recovery::{Availability, Done, Recovery};
use crate::sizes::Sizes;

/// `(*http2.Framer).readMetaFrame`: a header block about to be decoded.
pub const DECODER_FUNCTION: &str = "golang.org/x/net/http2.(*Framer).readMetaFrame";
/// grpc's `(*loopyWriter).writeHeader`: a header block about to be encoded.
pub const ENCODER_FUNCTION: &str =
    "google.golang.org/grpc/internal/transport.(*loopyWriter).writeHeader";
/// grpc's `(*http2Server).Write`: a message sent on a stream (whose
/// method names streams opened before the capture).
pub const STREAM_FUNCTION: &str = "google.golang.org/grpc/internal/transport.(*http2Server).Write";

/// Struct offsets of grpc-go (1.2x to 1.5x, `internal/transport`) over
/// golang.org/x/net 0.1 or later on a 64-bit platform, as compiled by Go
/// 1.17 or later (register ABI). Checked against containerd 1.6.20
/// (grpc 1.33.3, x/net 0.7.0, go1.19.8): docs/ARCHITECTURE.md.
pub const LAYOUT: snoop_hpack_layout = snoop_hpack_layout {
    framer_decoder: 168,
    framer_reader: 8,
    bufio_rd: 32,
    loopy_framer: 40,
    loopy_encoder: 56,
    framer_writer: 0,
    bufwriter_conn: 48,
    conn_fd: 0,
    netfd_sysfd: 16,
    headers_stream: 8,
    headers_frag: 24,
    server_conn: 40,
    stream_id: 0,
    stream_method: 72,
    table_ents: 0,
    table_size: 48,
    table_max_size: 52,
    field_size: 40,
    valid: 1,
};

// SAFETY: a `#[repr(C)]` struct of u32s generated from snoop.h.
unsafe impl plain::Plain for snoop_hpack_layout {}

/// One executable, by device and inode.
type ExeKey = (u64, u64);

/// What reading a server's executable found: where to attach, or why not.
pub struct Resolved {
    exe: ExeKey,
    found: Result<Offsets, Availability>,
}

/// An executable's path and the file offsets of the three functions.
struct Offsets {
    name: String,
    decoder: u64,
    encoder: u64,
    stream: u64,
}

/// Read `/proc/PID/exe` of a server for the functions the probes need.
/// Thread-safe and independent of the BPF object, so that the start-up can
/// do it while the programs load.
pub fn resolve(pid: u32) -> Option<Resolved> {
    let exe = format!("/proc/{pid}/exe");
    let m = std::fs::metadata(&exe).ok()?;
    let name = std::fs::read_link(&exe)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| exe.clone());
    let unavailable = |why: String| Availability::Unavailable(why);
    let found = (|| {
        if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            return Err(unavailable("uprobes on Go need x86_64 or arm64".into()));
        }
        let bin = GoBinary::open(std::path::Path::new(&exe))
            .map_err(|e| unavailable(format!("{name} not readable: {e:#}")))?;
        if !bin.is_go() {
            return Err(unavailable(format!("{name} is not a Go program")));
        }
        let found = bin.functions(&[DECODER_FUNCTION, ENCODER_FUNCTION, STREAM_FUNCTION]);
        let [Some(dec), Some(enc), Some(write)] = &found[..] else {
            return Err(unavailable(format!(
                "{name} has no grpc-go HTTP/2 server functions"
            )));
        };
        Ok(Offsets {
            name: name.clone(),
            decoder: dec.file_offset,
            encoder: enc.file_offset,
            stream: write.file_offset,
        })
    })();
    Some(Resolved {
        exe: (m.dev(), m.ino()),
        found,
    })
}

/// The servers listening on the watched paths now, each resolved: what
/// [`Uprobes::adopt`] attaches to.
pub fn scan_servers(filters: &Filters) -> Vec<(u32, Option<Resolved>)> {
    listeners(filters)
        .into_iter()
        .map(|pid| (pid, resolve(pid)))
        .collect()
}

/// The probes attached so far.
pub struct Uprobes {
    recovery: Recovery,
    by_exe: HashMap<ExeKey, Availability>,
    links: Vec<Link>,
    /// Ticks seen, to prune the server processes about once a second.
    ticks: std::cell::Cell<u32>,
}

impl Uprobes {
    /// Executables looked at, probes attached.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("uprobes.by_exe", self.by_exe.len());
        out.add("uprobes.links", self.links.len());
    }

    /// Fill the layout slot; nothing is attached yet.
    pub fn new(skel: &SnoopSkel<'_>, recovery: Recovery) -> anyhow::Result<Self> {
        if recovery.enabled() {
            let key = 0u32.to_ne_bytes();
            // SAFETY: plain old data (see the Plain impl above).
            let value = unsafe { plain::as_bytes(&LAYOUT) };
            skel.maps.hpack_layouts.update(&key, value, MapFlags::ANY)?;
        }
        Ok(Uprobes {
            recovery,
            by_exe: HashMap::new(),
            links: Vec::new(),
            ticks: std::cell::Cell::new(0),
        })
    }

    /// Attach to the servers [`scan_servers`] found.
    pub fn adopt(&mut self, skel: &SnoopSkel<'_>, servers: Vec<(u32, Option<Resolved>)>) {
        for (pid, resolved) in servers {
            self.settle(skel, pid, resolved);
        }
    }

    /// Look at server process `pid` (once).
    pub fn consider(&mut self, skel: &SnoopSkel<'_>, pid: u32) {
        if pid == 0 || !self.recovery.enabled() || self.recovery.knows(pid) {
            return;
        }
        self.settle(skel, pid, resolve(pid));
    }

    /// Record what `pid` allows, attaching to its executable if new.
    fn settle(&mut self, skel: &SnoopSkel<'_>, pid: u32, resolved: Option<Resolved>) {
        if !self.recovery.enabled() || self.recovery.knows(pid) {
            return;
        }
        let Some(r) = resolved else {
            let why = Availability::Unavailable("server process not readable".into());
            self.recovery.set(pid, why);
            return;
        };
        let a = match self.by_exe.get(&r.exe) {
            Some(a) => a.clone(),
            None => {
                let a = match &r.found {
                    Ok(o) => self.attach(skel, pid, o),
                    Err(a) => a.clone(),
                };
                self.by_exe.insert(r.exe, a.clone());
                a
            }
        };
        self.recovery.set(pid, a);
    }

    fn attach(&mut self, skel: &SnoopSkel<'_>, pid: u32, o: &Offsets) -> Availability {
        let exe = format!("/proc/{pid}/exe");
        let progs = [
            (&skel.progs.hpack_decoder, o.decoder),
            (&skel.progs.hpack_encoder, o.encoder),
            (&skel.progs.hpack_stream, o.stream),
        ];
        let mut links = Vec::new();
        for (prog, offset) in progs {
            // Every process running this executable (-1): the path names
            // the file, whatever mount namespace the server is in.
            let opts = UprobeOpts {
                cookie: 0,
                ..Default::default()
            };
            match prog.attach_uprobe_with_opts(-1, &exe, offset as usize, opts) {
                Ok(l) => links.push(l),
                Err(e) => {
                    return Availability::Unavailable(format!(
                        "uprobe on {} (pid {pid}) failed: {e}",
                        o.name
                    ))
                }
            }
        }
        self.links.extend(links);
        Availability::Probed(o.name.clone())
    }

    /// Tell the kernel side what is known of which connections (the
    /// `hpack_done` value of snoop.h).
    pub fn sync_done(&self, skel: &SnoopSkel<'_>) {
        // About once a second, server processes that exited are forgotten.
        let ticks = self.ticks.get().wrapping_add(1);
        self.ticks.set(ticks);
        if ticks % 10 == 0 {
            self.recovery
                .forget_exited(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        }
        for (ino, mark) in self.recovery.take_done() {
            let key = ino.to_ne_bytes();
            if mark == Done::Forget {
                let _ = skel.maps.hpack_done.delete(&key);
                continue;
            }
            let old = skel
                .maps
                .hpack_done
                .lookup(&key, MapFlags::ANY)
                .ok()
                .flatten()
                .and_then(|v| v.try_into().ok().map(u64::from_ne_bytes))
                .unwrap_or(0);
            let value = match mark {
                Done::Sides(bits) => old | u64::from(bits),
                Done::FirstStream(id) if old >> 32 == 0 => old | (u64::from(id) << 32),
                Done::FirstStream(_) | Done::Forget => old,
            };
            let _ = skel
                .maps
                .hpack_done
                .update(&key, &value.to_ne_bytes(), MapFlags::ANY);
        }
    }
}

/// Pids of the processes holding a listening socket on a watched path.
fn listeners(filters: &Filters) -> Vec<u32> {
    let Ok(table) = std::fs::read_to_string("/proc/net/unix") else {
        return vec![];
    };
    // Num RefCount Protocol Flags Type St Inode Path; listening sockets
    // have __SO_ACCEPTCON (0x10000) in Flags.
    let mut inodes = Vec::new();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(flags), Some(ino), Some(path)) = (f.get(3), f.get(6), f.get(7)) else {
            continue;
        };
        let listening = u32::from_str_radix(flags, 16).is_ok_and(|v| v & 0x10000 != 0);
        if listening && (filters.all || filters.paths.iter().any(|p| p.matches(path))) {
            if let Ok(ino) = ino.parse::<u64>() {
                inodes.push(ino);
            }
        }
    }
    if inodes.is_empty() {
        return vec![];
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut pids = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|l| wanted.iter().any(|w| l.as_os_str() == w.as_str()))
        });
        if holds {
            pids.push(pid);
        }
    }
    pids
}
