//! Ring buffer records, parsed from the bytes the BPF program emits.
//!
//! The header layout comes from the skeleton's generated `snoop_event`
//! (defined once, in `src/bpf/snoop.h`); this module only interprets it.

use std::fmt;

use super::skel::types::{
    snoop_abi, snoop_cgroup, snoop_event, snoop_flags, snoop_gap_reason, snoop_hpack,
    snoop_hpack_abi, snoop_hpack_side, snoop_hpack_status, snoop_kind,
};
use crate::flow::{Comm, Dir, Process};
use crate::recovery::{RecoveredTable, StreamMethod};

// SAFETY: `snoop_event` and `snoop_hpack` are `#[repr(C)]` structs of plain
// integers and byte arrays generated from the C header: every bit pattern is
// a valid value.
unsafe impl plain::Plain for snoop_event {}
// SAFETY: as above.
unsafe impl plain::Plain for snoop_hpack {}
// SAFETY: as above.
unsafe impl plain::Plain for snoop_cgroup {}

// The record kinds and flags of snoop.h, as the skeleton generated them
// (`snoop_event::kind` and `flags` are 16-bit fields).
pub(crate) const KIND_DATA: u16 = snoop_kind::SNOOP_DATA.0 as u16;
pub(crate) const KIND_SOCK_INFO: u16 = snoop_kind::SNOOP_SOCK_INFO.0 as u16;
pub(crate) const KIND_CLOSE: u16 = snoop_kind::SNOOP_CLOSE.0 as u16;
pub(crate) const KIND_GAP: u16 = snoop_kind::SNOOP_GAP.0 as u16;
pub(crate) const KIND_HPACK: u16 = snoop_kind::SNOOP_HPACK.0 as u16;
pub(crate) const KIND_CGROUP: u16 = snoop_kind::SNOOP_CGROUP.0 as u16;
/// `cgroup_id` is a v1 hierarchy's.
const FLAG_CGROUP_V1: u16 = snoop_flags::SNOOP_F_CGROUP_V1.0 as u16;
const FLAG_SERVER: u16 = snoop_flags::SNOOP_F_SERVER.0 as u16;
const FLAG_PEER_BOUND: u16 = snoop_flags::SNOOP_F_PEER_BOUND.0 as u16;
/// More records of the same call follow.
pub(crate) const FLAG_MORE: u16 = snoop_flags::SNOOP_F_MORE.0 as u16;
/// The record's `ack` means nothing.
pub(crate) const FLAG_ACK_UNKNOWN: u16 = snoop_flags::SNOOP_F_ACK_UNKNOWN.0 as u16;
/// A socket state created just now: offsets start at the base again.
const FLAG_FRESH: u16 = snoop_flags::SNOOP_F_FRESH.0 as u16;
/// The socket is in another network namespace.
pub(crate) const FLAG_FOREIGN_NETNS: u16 = snoop_flags::SNOOP_F_FOREIGN_NETNS.0 as u16;
/// Acks refer to a peer write not recorded yet.
pub(crate) const FLAG_PEER_PENDING: u16 = snoop_flags::SNOOP_F_PEER_PENDING.0 as u16;
/// Where every socket's send offsets start in the kernel (SNOOP_OFFSET_BASE):
/// records carry offsets relative to it.
pub const OFFSET_BASE: u64 = 1 << snoop_abi::SNOOP_OFFSET_BASE_SHIFT.0;
/// A close record's final offset when the tracer does not know it.
pub const UNKNOWN_OFFSET: u64 = u64::MAX;

/// Why a range of a send stream could not be copied (snoop.h's `snoop_gap_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GapReason {
    /// Sent through io_uring: the buffer is not in the registers.
    IoUring,
    /// splice(2) or sendfile(2): no user buffer.
    Splice,
    /// A sendmmsg(2) message that could not be matched to its iovecs.
    Sendmmsg,
    /// A system call the tracer cannot read, or an fd that is not the socket.
    UnknownCaller,
    /// The user memory could not be read.
    Fault,
    /// The ring buffer was full.
    RingFull,
    /// The call needed more copy steps than the tracer allows.
    TooLong,
    /// A reason this build does not know.
    Other(u16),
}

impl GapReason {
    /// The reason a record's code stands for.
    pub fn from_code(code: u16) -> Self {
        match snoop_gap_reason(u32::from(code)) {
            snoop_gap_reason::SNOOP_GAP_IO_URING => GapReason::IoUring,
            snoop_gap_reason::SNOOP_GAP_SPLICE => GapReason::Splice,
            snoop_gap_reason::SNOOP_GAP_SENDMMSG => GapReason::Sendmmsg,
            snoop_gap_reason::SNOOP_GAP_UNKNOWN_CALLER => GapReason::UnknownCaller,
            snoop_gap_reason::SNOOP_GAP_FAULT => GapReason::Fault,
            snoop_gap_reason::SNOOP_GAP_RING_FULL => GapReason::RingFull,
            snoop_gap_reason::SNOOP_GAP_TOO_LONG => GapReason::TooLong,
            _ => GapReason::Other(code),
        }
    }

    /// Whether the bytes were sent by a path whose buffers the tracer cannot
    /// see (by design), rather than lost by the tracer.
    pub fn by_design(self) -> bool {
        matches!(
            self,
            GapReason::IoUring | GapReason::Splice | GapReason::Sendmmsg | GapReason::UnknownCaller
        )
    }

    /// Short name, for the summary line.
    pub fn name(self) -> &'static str {
        match self {
            GapReason::IoUring => "io_uring",
            GapReason::Splice => "splice/sendfile",
            GapReason::Sendmmsg => "sendmmsg",
            GapReason::UnknownCaller => "unknown caller",
            GapReason::Fault => "fault",
            GapReason::RingFull => "ring full",
            GapReason::TooLong => "too long",
            GapReason::Other(_) => "other",
        }
    }
}

/// The socket a record is about, as the kernel saw it at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    /// Inode of the socket.
    pub ino: u64,
    /// Inode of its peer, 0 when unknown.
    pub peer_ino: u64,
    /// Process id of the peer at connect time (SO_PEERCRED), 0 if unknown.
    pub peer_pid: u32,
    /// The socket holds an address (the listening side's, for accepted sockets).
    pub bound: bool,
    /// The peer socket holds an address.
    pub peer_bound: bool,
}

impl Socket {
    /// Whether this socket is the server side: the bound one, or when both
    /// or neither are bound, the one with the higher inode (an accepted
    /// socket is created after its client).
    pub fn is_server(&self) -> bool {
        match (self.bound, self.peer_bound) {
            (true, false) => true,
            (false, true) => false,
            _ => self.ino > self.peer_ino,
        }
    }
}

/// What a record says.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Bytes of the socket's send stream starting at `offset`.
    Data {
        /// Offset of `bytes[0]` in the socket's send stream (relative to the
        /// tracer's base, wrapping: see [`Payload::Close`]).
        offset: u64,
        /// The bytes written.
        bytes: &'a [u8],
    },
    /// The connection's path (`@name` for abstract ones), if either side is bound.
    Info {
        /// The socket path, or None for unnamed pairs.
        path: Option<String>,
        /// The tracer's state for this socket was (re)created just now: its
        /// send offsets start again at 0 (after an eviction, on the syscall hook).
        fresh: bool,
    },
    /// `len` bytes of the send stream at `offset` were sent but not copied.
    Gap {
        /// Offset of the first missing byte.
        offset: u64,
        /// How many bytes are missing.
        len: u64,
        /// Why.
        reason: GapReason,
    },
    /// The HPACK table a Go server held for the connection of this (server)
    /// socket, copied by a uprobe (boxed: it is large and rare).
    Hpack(Box<RecoveredTable>),
    /// The method of a stream opened before the capture, from a uprobe.
    StreamMethod(Box<StreamMethod>),
    /// A table the uprobe could not copy, and why.
    HpackUnusable(&'static str),
    /// The path of the header's cgroup (once per cgroup, before the
    /// records that name it).
    Cgroup {
        /// Absolute in its hierarchy, `/` for the root.
        path: String,
        /// False when the cgroup was deeper than the kernel reads: the top
        /// of `path` is missing.
        complete: bool,
    },
    /// The socket's last file reference was closed after `final_offset` bytes.
    Close {
        /// Offset after the last byte sent on the socket, [`UNKNOWN_OFFSET`]
        /// if not known. Offsets are relative to the tracer's base and wrap:
        /// the first send of a connection's second end may start below it.
        final_offset: u64,
    },
}

/// One ring buffer record.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Kernel time, CLOCK_MONOTONIC nanoseconds: for data, when the write
    /// call began; for socket info and close, when the record was made.
    pub mono_ns: u64,
    /// Who made the call.
    pub writer: Process,
    /// Which socket.
    pub socket: Socket,
    /// The writer's cgroup, as [`super::cgroups::key`] makes it (0: not
    /// read). The capture sets `writer.container` from it.
    pub cgroup: u64,
    /// What happened.
    pub payload: Payload<'a>,
}

/// Why a ring buffer record could not be parsed (a tracer/ABI bug, never user data).
#[derive(Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Shorter than the header.
    Short(usize),
    /// The header's length disagrees with the record size.
    BadLength {
        /// Length the header claims.
        claimed: u32,
        /// Bytes present after the header.
        present: usize,
    },
    /// A kind this build does not know.
    UnknownKind(u16),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Short(n) => write!(f, "ring buffer record of {n} bytes is too short"),
            RecordError::BadLength { claimed, present } => {
                write!(
                    f,
                    "ring buffer record claims {claimed} bytes but carries {present}"
                )
            }
            RecordError::UnknownKind(k) => write!(f, "ring buffer record of unknown kind {k}"),
        }
    }
}

impl std::error::Error for RecordError {}

/// Size of the record header.
pub const HEADER_LEN: usize = std::mem::size_of::<snoop_event>();

/// The header of a raw record, for the stages that work before parsing
/// (joining, ordering); None if too short.
pub(crate) fn header(raw: &[u8]) -> Option<snoop_event> {
    let mut h = snoop_event::default();
    plain::copy_from_bytes(&mut h, raw).ok()?;
    Some(h)
}

/// Overwrite the header at the start of `raw` (which must hold one).
pub(crate) fn set_header(raw: &mut [u8], h: &snoop_event) {
    // SAFETY: snoop_event is plain old data (see the Plain impl above).
    let bytes = unsafe { plain::as_bytes(h) };
    raw[..HEADER_LEN].copy_from_slice(bytes);
}

/// Parse one ring buffer record.
pub fn parse(raw: &[u8]) -> Result<Record<'_>, RecordError> {
    let mut h = snoop_event::default();
    plain::copy_from_bytes(&mut h, raw).map_err(|_| RecordError::Short(raw.len()))?;
    let body = &raw[HEADER_LEN..];
    let len = h.len as usize;
    if len > body.len() {
        return Err(RecordError::BadLength {
            claimed: h.len,
            present: body.len(),
        });
    }
    let body = &body[..len];
    let payload = match h.kind {
        KIND_DATA => Payload::Data {
            offset: h.offset.wrapping_sub(OFFSET_BASE),
            bytes: body,
        },
        KIND_SOCK_INFO => Payload::Info {
            path: (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned()),
            fresh: h.flags & FLAG_FRESH != 0,
        },
        KIND_CLOSE => Payload::Close {
            // 0: not known (the sock hook's end-of-file closes).
            final_offset: if h.offset == 0 {
                UNKNOWN_OFFSET
            } else {
                h.offset.wrapping_sub(OFFSET_BASE)
            },
        },
        KIND_GAP => Payload::Gap {
            offset: h.offset.wrapping_sub(OFFSET_BASE),
            len: u64::from(h.gap_len),
            reason: GapReason::from_code(h.reason),
        },
        KIND_HPACK => hpack(&h, body),
        KIND_CGROUP => cgroup(body),
        k => return Err(RecordError::UnknownKind(k)),
    };
    Ok(Record {
        mono_ns: h.ts_ns,
        writer: Process::thread(h.pid, h.tid, comm(&h.comm)).with_thread_comm(comm(&h.thread_comm)),
        socket: Socket {
            ino: h.sock_ino,
            peer_ino: h.peer_ino,
            peer_pid: h.peer_pid,
            bound: h.flags & FLAG_SERVER != 0,
            peer_bound: h.flags & FLAG_PEER_BOUND != 0,
        },
        cgroup: if h.cgroup_id == 0 {
            0
        } else {
            super::cgroups::key(h.cgroup_id, h.flags & FLAG_CGROUP_V1 != 0)
        },
        payload,
    })
}

/// The path of a SNOOP_CGROUP record: components leaf first, each
/// NUL-terminated in its slot.
fn cgroup(body: &[u8]) -> Payload<'static> {
    let mut c = snoop_cgroup::default();
    // SAFETY: snoop_cgroup is plain old data (see the Plain impl above).
    let dst = unsafe { plain::as_mut_bytes(&mut c) };
    let n = body.len().min(dst.len());
    dst[..n].copy_from_slice(&body[..n]);
    let slot = snoop_abi::SNOOP_CGROUP_NAME.0 as usize;
    let depth = (c.depth as usize).min(snoop_abi::SNOOP_CGROUP_DEPTH.0 as usize);
    let names: Vec<u8> = c.names.iter().map(|&b| b as u8).collect();
    let mut path = String::new();
    for i in (0..depth).rev() {
        let raw = &names[i * slot..(i + 1) * slot];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        path.push('/');
        path.push_str(&String::from_utf8_lossy(&raw[..end]));
    }
    if path.is_empty() {
        path.push('/');
    }
    Payload::Cgroup {
        path,
        complete: c.truncated == 0,
    }
}

/// A name field of the header (`char[SNOOP_COMM_LEN]`: the BPF target's
/// `char` is signed, so the generated type holds `i8`).
fn comm(raw: &[i8; 16]) -> Comm {
    Comm::from_kernel(&raw.map(|c| c as u8))
}

/// The table of a SNOOP_HPACK record.
fn hpack(h: &snoop_event, body: &[u8]) -> Payload<'static> {
    let mut t = snoop_hpack::default();
    let size = std::mem::size_of::<snoop_hpack>();
    // SAFETY: snoop_hpack is plain old data (see the Plain impl above).
    let dst = unsafe { plain::as_mut_bytes(&mut t) };
    let n = body.len().min(size);
    dst[..n].copy_from_slice(&body[..n]);
    match snoop_hpack_status(u32::from(t.status)) {
        snoop_hpack_status::SNOOP_HPACK_OK => {}
        snoop_hpack_status::SNOOP_HPACK_TOO_BIG => {
            return Payload::HpackUnusable("table larger than a record holds")
        }
        _ => return Payload::HpackUnusable("server memory not readable"),
    }
    let comm = comm(&h.comm).as_str().into_owned();
    let strings_at = std::mem::offset_of!(snoop_hpack, strings);
    let strings = body.get(strings_at..).unwrap_or(&[]);
    let dir = match snoop_hpack_side(u32::from(t.side)) {
        snoop_hpack_side::SNOOP_HPACK_DECODER => Dir::ToServer,
        snoop_hpack_side::SNOOP_HPACK_ENCODER => Dir::ToClient,
        snoop_hpack_side::SNOOP_HPACK_STREAM => {
            let len = usize::from(t.value_len[0]);
            let Some(method) = strings.get(..len) else {
                return Payload::HpackUnusable("strings cut short");
            };
            return Payload::StreamMethod(Box::new(StreamMethod {
                stream: t.stream_id,
                method: String::from_utf8_lossy(method).into_owned(),
                pid: h.pid,
                comm,
            }));
        }
        _ => return Payload::HpackUnusable("unknown table side"),
    };
    let max = snoop_hpack_abi::SNOOP_HPACK_MAX_ENTRIES.0 as usize;
    let count = usize::from(t.n_entries);
    if count > max || t.total_entries as usize != count {
        return Payload::HpackUnusable("entry count out of range");
    }
    let mut entries = Vec::with_capacity(count);
    let mut at = 0usize;
    for i in 0..count {
        let (nl, vl) = (usize::from(t.name_len[i]), usize::from(t.value_len[i]));
        let (Some(name), Some(value)) =
            (strings.get(at..at + nl), strings.get(at + nl..at + nl + vl))
        else {
            return Payload::HpackUnusable("strings cut short");
        };
        entries.push((name.to_vec(), value.to_vec()));
        at += nl + vl;
    }
    let prefix = usize::from(t.block_len).min(t.block.len());
    Payload::Hpack(Box::new(RecoveredTable {
        dir,
        stream: t.stream_id,
        end_stream: t.end_stream != 0,
        block_prefix: t.block[..prefix].to_vec(),
        entries,
        size: t.table_size,
        max_size: t.max_size,
        pid: h.pid,
        comm,
    }))
}

#[cfg(test)]
mod tests;
