//! The packet comments of containerdsnoop's pcapng files: written by the
//! writer, read back by the offline reader (`input`), defined once here.
//! Comments in other tools' captures simply do not parse. Who wrote what is
//! an escaped `key=value` list ([`fields`]): a comm is any 16 bytes.
//!
//! - the SYN of a connection: `connection 3 on /run/x.sock: client
//!   pid=17013 comm=ctr inode=5678; server pid=15367 comm=containerd
//!   inode=5679`, each side a field list: `pid` and `comm` (the process's
//!   name) when known, `inode` always. A side known only by SO_PEERCRED (it
//!   had not written when the SYN was written) says so: `server pid=20949
//!   pid_from=SO_PEERCRED inode=0` (the pid that called listen(), which for
//!   a shim is its `start` process, not the one that serves; a client's is
//!   the pid that connected).
//! - every data segment: `pid=17013 tid=17016 comm=python3
//!   thread_comm=event_engine`: the process, the thread and their names;
//!   then where the process runs, when known: `container=-` for the host,
//!   `container=<id>` and `pod_uid=<uid>` (when its cgroup names the pod)
//!   for a container. Sides of a SYN carry the same two fields.
//! - the bare ACK just past a gap: `1234 bytes lost`
//! - a preface made up for a connection seen mid-stream:
//!   `synthetic HTTP/2 preface: the capture began mid-connection`
//! - a frame made up to carry what was recovered from the server
//!   (`recovery`): `synthetic HTTP/2 PUSH_PROMISE: HPACK table recovered
//!   from the server, 12 entries from the decoder of containerd (pid 880),
//!   before stream 41` (a table; files written before say `HEADERS`),
//!   `synthetic HTTP/2 HEADERS: HPACK table recovered from the server,
//!   request headers of stream 5 (opened before the capture), ...`
//! - a name resolution block, packet-less, for each server binary whose
//!   own schemas decoded (see [`SchemaNote`]): `schemas from
//!   /usr/bin/containerd (go1.19.8, version 1.6.20~ds1, build id 4e3f...)`
//!
//! Files written before the field lists are read too: sides as `pid 17013
//! (ctr) inode 5678` (`bound by pid N (?) ...`, `connected by ...`), data
//! segments as `pid 17013 tid 17016 comm ctr`, whose name was the
//! thread's: it is read as the process's (what those files' tables showed),
//! the thread's own name unknown.

pub mod fields;

use self::fields::{Fields, FieldsWriter};
use crate::flow::{Comm, Conn, Container, ContainerId, InContainer, PodUid, Process, Side};

/// What the comment of a synthetic preface segment says.
pub const SYNTHETIC_PREFACE: &str = "synthetic HTTP/2 preface: the capture began mid-connection";

/// The path a connection on no named socket is shown with.
pub const UNNAMED: &str = "(unnamed)";

/// What the comment on a connection's SYN says.
#[derive(Debug, PartialEq, Eq)]
pub struct Opening {
    /// The connection's number in the capture that wrote the file.
    pub id: u64,
    /// The socket path (None for [`UNNAMED`]).
    pub path: Option<String>,
    /// The connecting side.
    pub client: Side,
    /// The bound side.
    pub server: Side,
}

/// The comment of a connection's SYN.
pub fn opening(conn: &Conn) -> String {
    format!(
        "connection {} on {}: client {}; server {}",
        conn.id,
        conn.path.as_deref().unwrap_or(UNNAMED),
        side(&conn.client),
        side(&conn.server)
    )
}

/// Field keys of the sides and writers.
const PID: &str = "pid";
const TID: &str = "tid";
const COMM: &str = "comm";
const THREAD_COMM: &str = "thread_comm";
const INODE: &str = "inode";
const CONTAINER: &str = "container";
const POD_UID: &str = "pod_uid";
/// The value of `container` for the host (no id starts with `-`).
const HOST: &[u8] = b"-";
/// Where a side's pid came from, when not from its writes.
const PID_FROM: &str = "pid_from";
const SO_PEERCRED: &[u8] = b"SO_PEERCRED";

/// A side's field list: `pid=17013 comm=ctr inode=5678`.
fn side(side: &Side) -> String {
    FieldsWriter::default()
        .number_if(PID, side.owner.pid.map(u64::from))
        .bytes_if(PID_FROM, side.from_creds.then_some(SO_PEERCRED))
        .bytes_if(COMM, side.owner.comm.as_ref().map(Comm::name))
        .bytes_if(CONTAINER, container_value(&side.owner.container))
        .bytes_if(POD_UID, pod_uid_value(&side.owner.container))
        .number(INODE, side.ino)
        .finish()
}

/// `container`'s value: `-` for the host, the id, nothing when unknown.
fn container_value(c: &InContainer) -> Option<&[u8]> {
    match c {
        InContainer::Unknown => None,
        InContainer::Host => Some(HOST),
        InContainer::Container(c) => Some(c.id.as_str().as_bytes()),
    }
}

fn pod_uid_value(c: &InContainer) -> Option<&[u8]> {
    Some(c.container()?.pod_uid.as_ref()?.as_str().as_bytes())
}

/// Where a process runs, from `container` and `pod_uid`: unknown when
/// absent, None when malformed.
fn parse_container(f: &Fields) -> Option<InContainer> {
    let Some(value) = f.get(CONTAINER) else {
        return Some(InContainer::Unknown);
    };
    if value == HOST {
        return Some(InContainer::Host);
    }
    let id = ContainerId::new(std::str::from_utf8(value).ok()?)?;
    let pod_uid = match f.get(POD_UID) {
        None => None,
        Some(uid) => Some(PodUid::new(std::str::from_utf8(uid).ok()?)?),
    };
    Some(InContainer::Container(Container { id, pod_uid }))
}

/// Reads a SYN's comment.
pub fn parse_opening(comment: &str) -> Option<Opening> {
    let rest = comment.strip_prefix("connection ")?;
    let (id, rest) = rest.split_once(" on ")?;
    let id = id.parse::<u64>().ok()?;
    // A side has no space but between its fields, so the last separators
    // are the real ones whatever the path holds.
    let (rest, server) = rest.rsplit_once("; server ")?;
    let (path, client) = rest.rsplit_once(": client ")?;
    Some(Opening {
        id,
        path: (path != UNNAMED).then(|| path.to_string()),
        client: parse_side(client, CONNECTED_BY)?,
        server: parse_side(server, BOUND_BY)?,
    })
}

/// A side: `pid=17013 comm=ctr inode=5678`, or as files written before
/// have it.
fn parse_side(text: &str, old_creds: &str) -> Option<Side> {
    let Ok(f) = Fields::parse(text) else {
        return parse_old_side(text, old_creds);
    };
    Some(Side {
        ino: f.number(INODE).ok()??,
        owner: Process {
            pid: f.number(PID).ok()?,
            tid: None,
            comm: parse_comm(&f, COMM)?,
            thread_comm: None,
            container: parse_container(&f)?,
        },
        from_creds: match f.get(PID_FROM) {
            None => false,
            Some(SO_PEERCRED) => true,
            Some(_) => return None,
        },
    })
}

/// A name field: Some(None) when absent, None when it cannot be a comm.
fn parse_comm(f: &Fields, key: &str) -> Option<Option<Comm>> {
    match f.get(key) {
        None => Some(None),
        Some(name) => Comm::from_bytes(name).map(Some),
    }
}

/// What preceded the pid of a client known only by SO_PEERCRED in files
/// written before the field lists.
const CONNECTED_BY: &str = "connected by ";
/// The same for a server.
const BOUND_BY: &str = "bound by ";

/// `pid 17013 (ctr) inode 5678`, `?` for what was unknown, after `creds`
/// when the pid is SO_PEERCRED's: sides in files written before the field
/// lists.
fn parse_old_side(text: &str, creds: &str) -> Option<Side> {
    let from_creds = text.starts_with(creds);
    let rest = text.strip_prefix(creds).unwrap_or(text);
    let rest = rest.strip_prefix("pid ")?;
    let (pid, rest) = rest.split_once(" (")?;
    let (comm, ino) = rest.rsplit_once(") inode ")?;
    Some(Side {
        ino: ino.parse().ok()?,
        owner: Process {
            pid: if pid == "?" {
                None
            } else {
                Some(pid.parse().ok()?)
            },
            tid: None,
            comm: (comm != "?").then(|| Comm::from_name(comm)),
            thread_comm: None,
            container: InContainer::Unknown,
        },
        from_creds,
    })
}

/// The comment of a data segment, when its writer is known (by pid).
pub fn writer(by: &Process) -> Option<String> {
    let pid = by.pid?;
    Some(
        FieldsWriter::default()
            .number(PID, u64::from(pid))
            .number_if(TID, by.tid.map(u64::from))
            .bytes_if(COMM, by.comm.as_ref().map(Comm::name))
            .bytes_if(THREAD_COMM, by.thread_comm.as_ref().map(Comm::name))
            .bytes_if(CONTAINER, container_value(&by.container))
            .bytes_if(POD_UID, pod_uid_value(&by.container))
            .finish(),
    )
}

/// Reads a data segment's comment.
pub fn parse_writer(comment: &str) -> Option<Process> {
    let Ok(f) = Fields::parse(comment) else {
        return parse_old_writer(comment);
    };
    Some(Process {
        pid: Some(f.number(PID).ok()??),
        tid: f.number(TID).ok()?,
        comm: parse_comm(&f, COMM)?,
        thread_comm: parse_comm(&f, THREAD_COMM)?,
        container: parse_container(&f)?,
    })
}

/// `pid 17013 tid 17016 comm ctr`, as files written before the field lists
/// have it: the name was the thread's, and is taken for the process's
/// (what those files' tables showed).
fn parse_old_writer(comment: &str) -> Option<Process> {
    let rest = comment.strip_prefix("pid ")?;
    let (pid, rest) = rest.split_once(" tid ")?;
    let (tid, comm) = rest.split_once(" comm ")?;
    Some(Process::thread(
        pid.parse().ok()?,
        tid.parse().ok()?,
        Comm::from_name(comm),
    ))
}

/// The comment of the bare ACK just past a gap of `len` bytes.
pub fn lost(len: u64) -> String {
    format!("{len} bytes lost")
}

/// Reads a gap's comment: how many bytes were lost.
pub fn parse_lost(comment: &str) -> Option<u64> {
    comment.strip_suffix(" bytes lost")?.parse().ok()
}

const SYNTHETIC_SEED: &str = "synthetic HTTP/2 ";
const SEED_FRAME_TYPES: [&str; 2] = ["PUSH_PROMISE", "HEADERS"];
const RECOVERED: &str = ": HPACK table recovered from the server, ";

/// The comment of a synthetic frame of type `frame_type` (`PUSH_PROMISE`
/// or `HEADERS`, `decode::h2::seed::frame_type_name`) carrying what was
/// recovered from the server; `origin` says what and where from
/// (`RecoveredTable::origin`, `StreamMethod::origin`).
pub fn seed(frame_type: &str, origin: &str) -> String {
    format!("{SYNTHETIC_SEED}{frame_type}{RECOVERED}{origin}")
}

/// Where the contents of a synthetic frame came from, if `comment` is
/// such a frame's.
pub fn parse_seed(comment: &str) -> Option<&str> {
    let rest = comment.strip_prefix(SYNTHETIC_SEED)?;
    SEED_FRAME_TYPES
        .iter()
        .find_map(|t| rest.strip_prefix(t))?
        .strip_prefix(RECOVERED)
}

/// Whether a segment holds a preface the writer made up.
pub fn is_synthetic_preface(comment: &str) -> bool {
    comment.starts_with("synthetic HTTP/2 preface")
}

/// A server binary whose own schemas were used while recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaNote {
    /// The binary's path, as the server process saw it.
    pub path: String,
    /// What it says of its version (`go1.19.8, version 1.6.20`); empty if nothing.
    pub version: String,
    /// Its build ID (GNU, else Go), to tell copies apart.
    pub build_id: Option<String>,
}

const SCHEMAS_FROM: &str = "schemas from ";
const UNKNOWN_VERSION: &str = "unknown version";
const BUILD_ID: &str = "build id ";
const NO_BUILD_ID: &str = "no build id";

/// The comment naming a binary whose schemas were used.
pub fn schemas(note: &SchemaNote) -> String {
    let version = match note.version.is_empty() {
        true => UNKNOWN_VERSION,
        false => &note.version,
    };
    let id = match &note.build_id {
        Some(id) => format!("{BUILD_ID}{id}"),
        None => NO_BUILD_ID.to_string(),
    };
    format!("{SCHEMAS_FROM}{} ({version}, {id})", note.path)
}

/// Reads a schemas comment.
pub fn parse_schemas(comment: &str) -> Option<SchemaNote> {
    let rest = comment.strip_prefix(SCHEMAS_FROM)?;
    let (path, details) = rest.strip_suffix(')')?.rsplit_once(" (")?;
    let (version, id) = details.rsplit_once(", ")?;
    let build_id = match id {
        NO_BUILD_ID => None,
        _ => Some(id.strip_prefix(BUILD_ID)?.to_string()),
    };
    Some(SchemaNote {
        path: path.to_string(),
        version: match version {
            UNKNOWN_VERSION => String::new(),
            v => v.to_string(),
        },
        build_id,
    })
}

#[cfg(test)]
mod tests;
