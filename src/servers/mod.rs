//! The servers' executables and the schemas they carry: which schemas
//! decode each connection, the server's own binary's first (version-exact),
//! the bundled ones as the fallback. Its own layer, apart from the decoding
//! pipeline: `record` asks for the servers' binaries ([`AskServers`]) to
//! name them in the capture even when it decodes nothing.
//!
//! Live, a connection's server is known by pid (`Conn::server`); its
//! executable is `/proc/PID/exe` (which reaches binaries in containers and
//! binaries deleted since). Each distinct executable (by
//! [`CacheKey`]: device, inode, mtime, size) is scanned once, in a
//! background thread of low priority: the pipeline only ever looks up a
//! map, so the capture never waits for a scan. Until a scan is done, and for
//! a binary with no services, the bundled schemas decode. A pid's answer is
//! checked again after [`RECHECK`], so a reused pid or a re-executed server
//! is noticed.
//!
//! Offline, the binaries given with `--schemas-from` decode every
//! connection, in the order given, before the bundled schemas.
//!
//! Memory is bounded: at most [`MAX_BINARIES`] binaries' schemas are kept,
//! [`MAX_FILES`] executables and [`MAX_PIDS`] pids remembered.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::flow::{Conn, FlowEvent, Placement, Sink};
use crate::protobuf::binary::info::BinaryInfo;
use crate::protobuf::binary::{BinarySchemas, CacheKey};
use crate::protobuf::{SchemaSet, Schemas};
use crate::sizes::Sizes;

/// Most distinct executables whose schemas are kept (each pool is a few
/// MiB); later ones are decoded with the bundled schemas.
pub const MAX_BINARIES: usize = 32;
/// Most distinct executables remembered, with schemas or without.
pub const MAX_FILES: usize = 1024;
/// Most server pids remembered; past it, the settled ones are forgotten
/// (and looked up again when they show up).
pub const MAX_PIDS: usize = 4096;
/// How long a pid's executable is trusted before it is checked again.
pub const RECHECK: Duration = Duration::from_secs(5);

/// A binary whose schemas were learned.
#[derive(Debug)]
pub struct Binary {
    /// Its path, as `/proc/PID/exe` links to it or as the user gave it.
    pub path: String,
    /// The file that was read.
    pub key: Option<CacheKey>,
    /// What it says about itself (Go version, module, build IDs).
    pub info: BinaryInfo,
    /// Services it defines.
    pub services: usize,
    /// How long reading and scanning it took.
    pub took: Duration,
    /// Its schemas, then the bundled ones.
    pub set: Arc<SchemaSet>,
}

impl Binary {
    /// Its build ID: the GNU one if it has one, else Go's.
    pub fn build_id(&self) -> Option<&str> {
        self.info
            .gnu_build_id
            .as_deref()
            .or(self.info.go_build_id.as_deref())
    }
}

/// Finds and reads the executable of a process; replaced in tests.
pub trait Locate: Send + Sync {
    /// The file to read for process `pid`, the path to show for it, and its key.
    ///
    /// # Errors
    ///
    /// The process is gone or its executable cannot be read.
    fn locate(&self, pid: u32) -> Result<(PathBuf, String, CacheKey)>;
}

/// `/proc/PID/exe`, shown as the path it links to.
struct Proc;

impl Locate for Proc {
    fn locate(&self, pid: u32) -> Result<(PathBuf, String, CacheKey)> {
        let exe = PathBuf::from(format!("/proc/{pid}/exe"));
        let shown = std::fs::read_link(&exe)
            .with_context(|| format!("process {pid} is gone or its executable is hidden"))?;
        let key = CacheKey::of(&exe)?;
        Ok((exe, shown.display().to_string(), key))
    }
}

impl std::fmt::Debug for SchemaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.mode {
            Mode::Fixed { .. } => "fixed",
            Mode::Live { .. } => "live",
        };
        f.debug_struct("SchemaRegistry")
            .field("mode", &mode)
            .field("learned", &self.learned_count())
            .finish()
    }
}

/// Which schemas decode each connection.
pub struct SchemaRegistry {
    bundled: Arc<SchemaSet>,
    mode: Mode,
}

enum Mode {
    /// The same set for every connection.
    Fixed {
        set: Arc<SchemaSet>,
        /// The binaries given, with services.
        binaries: Vec<Arc<Binary>>,
        notes: Mutex<Vec<String>>,
    },
    /// By the server's pid, learned in the background.
    Live {
        bundled: Schemas,
        shared: Arc<Mutex<Shared>>,
        locate: Arc<dyn Locate>,
        /// Binaries learned so far (read without the lock).
        learned: Arc<AtomicUsize>,
    },
}

/// What the pipeline and the background thread share.
#[derive(Default)]
struct Shared {
    pids: HashMap<u32, PidEntry>,
    binaries: HashMap<CacheKey, Option<Arc<Binary>>>,
    /// When exited processes were last forgotten.
    pruned: Option<Instant>,
    /// Binaries with services, in the order they were learned.
    learned: Vec<Arc<Binary>>,
    /// Messages for the user, not yet shown.
    notes: Vec<String>,
    /// The background thread's queue, once started.
    queue: Option<mpsc::Sender<u32>>,
    full_noted: bool,
}

struct PidEntry {
    /// The binary's schemas, when it has some and they are read.
    binary: Option<Arc<Binary>>,
    checked: Instant,
    pending: bool,
}

impl SchemaRegistry {
    /// Periodic work (live): server processes that exited are forgotten.
    pub fn tick(&self) {
        if let Mode::Live { shared, .. } = &self.mode {
            prune(&mut lock(shared), Instant::now());
        }
    }

    /// Server processes and executables remembered.
    pub fn sizes(&self, out: &mut Sizes) {
        if let Mode::Live { shared, .. } = &self.mode {
            let sh = lock(shared);
            out.add("servers.pids", sh.pids.len());
            out.add("servers.binaries", sh.binaries.len());
        }
    }

    /// `bundled` for every connection.
    pub fn bundled(bundled: Schemas) -> SchemaRegistry {
        let set = Arc::new(SchemaSet::single(bundled));
        SchemaRegistry {
            bundled: set.clone(),
            mode: Mode::Fixed {
                set,
                binaries: vec![],
                notes: Mutex::default(),
            },
        }
    }

    /// Every connection decoded by the binaries at `paths` (in this order),
    /// then by `bundled`; what to tell the user about each binary is in
    /// [`SchemaRegistry::take_notes`].
    ///
    /// # Errors
    ///
    /// A binary that cannot be read.
    pub fn from_binaries(paths: &[PathBuf], bundled: Schemas) -> Result<SchemaRegistry> {
        let mut layers = Vec::new();
        let mut binaries = Vec::new();
        let mut notes = Vec::new();
        for path in paths {
            let shown = path.display().to_string();
            let start = Instant::now();
            let found = BinarySchemas::from_path(path)
                .with_context(|| format!("cannot read the schemas of {shown} (--schemas-from)"))?;
            let b = binary(&shown, &found, &bundled, start.elapsed());
            notes.extend(describe(&b, &found));
            if b.services > 0 {
                layers.push(found.schemas(&shown).with_redaction(bundled.redacts()));
                binaries.push(Arc::new(b));
            }
        }
        layers.push(bundled.clone());
        Ok(SchemaRegistry {
            bundled: Arc::new(SchemaSet::single(bundled)),
            mode: Mode::Fixed {
                set: Arc::new(SchemaSet::new(layers)),
                binaries,
                notes: Mutex::new(notes),
            },
        })
    }

    /// Connections decoded by their server's own binary (read from
    /// `/proc/PID/exe` in the background), then by `bundled`.
    pub fn live(bundled: Schemas) -> SchemaRegistry {
        SchemaRegistry::live_with(bundled, Arc::new(Proc))
    }

    /// [`SchemaRegistry::live`] finding executables with `locate`.
    pub fn live_with(bundled: Schemas, locate: Arc<dyn Locate>) -> SchemaRegistry {
        SchemaRegistry {
            bundled: Arc::new(SchemaSet::single(bundled.clone())),
            mode: Mode::Live {
                bundled,
                shared: Arc::default(),
                locate,
                learned: Arc::default(),
            },
        }
    }

    /// The schemas for the messages of a connection whose server is
    /// `server_pid` now. Never waits for a scan:
    /// a server seen for the first time is looked up in the background and
    /// decoded with the bundled schemas meanwhile.
    pub fn set_for(&self, server_pid: Option<u32>) -> Arc<SchemaSet> {
        match (&self.mode, server_pid) {
            (Mode::Fixed { set, .. }, _) => set.clone(),
            (Mode::Live { .. }, None) => self.bundled.clone(),
            (Mode::Live { .. }, Some(pid)) => match self.ask(pid) {
                Some(b) => b.set.clone(),
                None => self.bundled.clone(),
            },
        }
    }

    /// The binary of server `pid`, if its schemas are known now; a lookup
    /// is started in the background if there is none or it is old.
    pub fn ask(&self, pid: u32) -> Option<Arc<Binary>> {
        let Mode::Live {
            bundled,
            shared,
            locate,
            learned,
        } = &self.mode
        else {
            return None;
        };
        let mut sh = lock(shared);
        let now = Instant::now();
        prune(&mut sh, now);
        let stale = match sh.pids.get(&pid) {
            Some(e) => !e.pending && now.duration_since(e.checked) >= RECHECK,
            None => true,
        };
        if stale {
            if sh.pids.len() >= MAX_PIDS {
                sh.pids.retain(|_, e| e.pending);
            }
            if sh.queue.is_none() {
                match spawn_worker(shared, bundled, locate, learned) {
                    Ok(tx) => sh.queue = Some(tx),
                    Err(e) => {
                        // Never asked again: the entry below stays settled.
                        let (tx, _) = mpsc::channel();
                        sh.queue = Some(tx);
                        sh.notes.push(format!("warning: cannot start the thread that reads server binaries ({e}); the bundled schemas decode every connection"));
                    }
                }
            }
            let sent = sh.queue.as_ref().is_some_and(|q| q.send(pid).is_ok());
            let e = sh.pids.entry(pid).or_insert(PidEntry {
                binary: None,
                checked: now,
                pending: false,
            });
            e.pending = sent;
            if !sent {
                e.checked = now;
            }
        }
        sh.pids.get(&pid).and_then(|e| e.binary.clone())
    }

    /// How many binaries with services were learned (or given) so far
    /// (cheap: no lock).
    pub fn learned_count(&self) -> usize {
        match &self.mode {
            Mode::Fixed { binaries, .. } => binaries.len(),
            Mode::Live { learned, .. } => learned.load(Ordering::Acquire),
        }
    }

    /// The binaries with services learned (or given) so far, from the
    /// `from`-th on.
    pub fn learned_since(&self, from: usize) -> Vec<Arc<Binary>> {
        match &self.mode {
            Mode::Fixed { binaries, .. } => binaries.iter().skip(from).cloned().collect(),
            Mode::Live { shared, .. } => lock(shared).learned.iter().skip(from).cloned().collect(),
        }
    }

    /// Messages for the user (a binary learned, or unusable), each once;
    /// each line would follow `containerdsnoop: `.
    pub fn take_notes(&self) -> Vec<String> {
        match &self.mode {
            Mode::Fixed { notes, .. } => {
                std::mem::take(&mut *notes.lock().unwrap_or_else(|p| p.into_inner()))
            }
            Mode::Live { shared, .. } => std::mem::take(&mut lock(shared).notes),
        }
    }
}

/// The lock, even if a thread panicked holding it (the maps stay usable).
/// About every RECHECK, the processes that exited are forgotten (their
/// executables' schemas stay, bounded by MAX_BINARIES).
fn prune(sh: &mut Shared, now: Instant) {
    if sh.pruned.is_none_or(|at| now.duration_since(at) >= RECHECK) {
        sh.pruned = Some(now);
        sh.pids
            .retain(|pid, e| e.pending || std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the thread that reads binaries, and returns its queue.
fn spawn_worker(
    shared: &Arc<Mutex<Shared>>,
    bundled: &Schemas,
    locate: &Arc<dyn Locate>,
    learned: &Arc<AtomicUsize>,
) -> std::io::Result<mpsc::Sender<u32>> {
    let (tx, rx) = mpsc::channel::<u32>();
    let (shared, bundled, locate, learned) = (
        shared.clone(),
        bundled.clone(),
        locate.clone(),
        learned.clone(),
    );
    std::thread::Builder::new()
        .name("schemas".into())
        .spawn(move || {
            // Below the capture (which runs at nice -10): a scan takes a
            // CPU for a second at most, and must not slow the ring's reader.
            // SAFETY: setpriority has no memory-safety preconditions; with
            // PRIO_PROCESS and 0 it applies to the calling thread on Linux.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
            for pid in rx {
                let binary = lookup(pid, &shared, &bundled, locate.as_ref(), &learned);
                lock(&shared).pids.insert(
                    pid,
                    PidEntry {
                        binary,
                        checked: Instant::now(),
                        pending: false,
                    },
                );
            }
        })?;
    Ok(tx)
}

/// The binary of `pid`, read once per distinct file.
fn lookup(
    pid: u32,
    shared: &Mutex<Shared>,
    bundled: &Schemas,
    locate: &dyn Locate,
    learned: &AtomicUsize,
) -> Option<Arc<Binary>> {
    // A process that exited (or a kernel thread) has nothing to read: quietly bundled.
    let (read, shown, key) = locate.locate(pid).ok()?;
    {
        let mut sh = lock(shared);
        if let Some(known) = sh.binaries.get(&key) {
            return known.clone();
        }
        if sh.learned.len() >= MAX_BINARIES || sh.binaries.len() >= MAX_FILES {
            if !std::mem::replace(&mut sh.full_noted, true) {
                sh.notes.push(format!(
                    "note: the schemas of {MAX_BINARIES} server binaries (or {MAX_FILES} executables) are known already; {shown} and later ones are decoded with the bundled schemas"
                ));
            }
            return None;
        }
    }
    let start = Instant::now();
    let result = BinarySchemas::from_path(&read);
    let took = start.elapsed();
    let (binary, note) = match result {
        Ok(found) => {
            let b = binary(&shown, &found, bundled, took);
            let note = describe(&b, &found);
            let b = (b.services > 0).then(|| Arc::new(b));
            (b, note)
        }
        Err(e) => (None, Some(unreadable(&shown, &e))),
    };
    let mut sh = lock(shared);
    sh.binaries.insert(key, binary.clone());
    sh.notes.extend(note);
    if let Some(b) = &binary {
        sh.learned.push(b.clone());
        learned.store(sh.learned.len(), Ordering::Release);
    }
    binary
}

/// What was learned from the binary shown as `shown`.
fn binary(shown: &str, found: &BinarySchemas, bundled: &Schemas, took: Duration) -> Binary {
    let services = found.report.services().count();
    let own = found.schemas(shown).with_redaction(bundled.redacts());
    Binary {
        path: shown.to_owned(),
        key: found.key,
        info: found.info.clone(),
        services,
        took,
        set: Arc::new(SchemaSet::layered(own, bundled)),
    }
}

/// The Go version and program version a binary states, as `go1.19.8,
/// version 1.6.20~ds1`; empty when it states neither.
pub fn version_text(info: &BinaryInfo) -> String {
    let mut parts = Vec::new();
    if let Some(go) = &info.go_version {
        parts.push(go.clone());
    }
    let version = info.ldflags_version().or_else(|| {
        info.main_module
            .as_ref()
            .filter(|m| m.version != "(devel)")
            .map(|m| m.version.clone())
    });
    if let Some(v) = version {
        parts.push(format!("version {v}"));
    }
    parts.join(", ")
}

/// What to tell the user once a binary was read: its services, or why it
/// did not help. None for a binary that is simply not a protobuf server.
pub fn describe(b: &Binary, found: &BinarySchemas) -> Option<String> {
    let mut trouble = Vec::new();
    if !found.report.dropped.is_empty() {
        trouble.push(format!(
            "{} schema files left out as duplicates, inconsistent or incomplete; `containerdsnoop schemas {}` lists them",
            found.report.dropped.len(),
            b.path
        ));
    }
    if found.scan.gzip_broken > 0 {
        trouble.push(format!(
            "{} compressed schema files cut short or corrupt: the file is truncated or damaged",
            found.scan.gzip_broken
        ));
    }
    if !found.scan.limits_hit.is_empty() {
        trouble.push(format!(
            "scan limits reached: {}",
            found.scan.limits_hit.join("; ")
        ));
    }
    let version = version_text(&b.info);
    let about = if version.is_empty() {
        b.path.clone()
    } else {
        format!("{} ({version})", b.path)
    };
    let seen = found.scan.gzip_descriptors + found.scan.raw_descriptors;
    if b.services > 0 {
        let mut t = format!(
            "schemas from {about}: {} services, read in {} ms; they decode its connections, the bundled ones are the fallback",
            b.services,
            b.took.as_millis()
        );
        if !trouble.is_empty() {
            let _ = write!(t, " ({})", trouble.join(", "));
        }
        return Some(t);
    }
    if seen == 0 && trouble.is_empty() && b.info.go_version.is_none() {
        return None;
    }
    if trouble.is_empty() {
        trouble.push(format!("{seen} schema files found, none with a service"));
    }
    Some(format!(
        "warning: {about} gave no usable schemas ({}); its connections are decoded with the bundled schemas",
        trouble.join(", ")
    ))
}

/// The warning for a binary that could not be read.
fn unreadable(shown: &str, e: &anyhow::Error) -> String {
    format!("warning: cannot read the schemas of {shown} ({e:#}); its connections are decoded with the bundled schemas")
}

/// A flow sink that has every gRPC and ttrpc connection's server looked up
/// (so that `record` learns binaries even without `--decode`), then passes
/// the event on. HTTP/1.x servers (dockerd's, podman's API) are not: their
/// bodies are JSON, no schema decodes them.
pub struct AskServers<'a> {
    /// Where servers are looked up; None passes events on only.
    pub registry: Option<&'a SchemaRegistry>,
    /// The sink events go to.
    pub inner: &'a mut dyn Sink,
    /// Open connections that speak HTTP/1.x.
    pub http: &'a mut std::collections::HashSet<crate::flow::ConnId>,
}

impl Sink for AskServers<'_> {
    fn event(&mut self, conn: &Conn, ts_ns: u64, ev: FlowEvent<'_>) -> Result<()> {
        match ev {
            FlowEvent::Protocol(Some(crate::flow::Protocol::Http1)) => {
                self.http.insert(conn.id);
            }
            FlowEvent::Close => {
                self.http.remove(&conn.id);
            }
            _ => {}
        }
        if let (Some(r), Some(pid)) = (self.registry, conn.server.owner.pid) {
            if !self.http.contains(&conn.id) {
                r.ask(pid);
            }
        }
        self.inner.event(conn, ts_ns, ev)
    }

    fn placed(&mut self, conn: &Conn, placement: &Placement) -> Result<()> {
        self.inner.placed(conn, placement)
    }
}

#[cfg(test)]
mod tests;
