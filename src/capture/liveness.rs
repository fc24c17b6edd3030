//! Whether the sockets of idle connections still exist.
//!
//! On the sock hook a connection's end is seen when its reader reads end of
//! file. A process that exits (or closes) while nobody reads the other end
//! leaves no record, so about once a second the sockets idle for a second
//! or more are looked up by inode with NETLINK_SOCK_DIAG (UNIX_DIAG, exact
//! inode requests, as `ss` does): one that is gone gets a synthetic close
//! record. Only sockets of the tracer's network namespace can be seen this
//! way; others are left to end of file.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::record::{self, HEADER_LEN, KIND_CLOSE, KIND_DATA, KIND_GAP, KIND_HPACK};
use super::skel::types::snoop_event;
use crate::sizes::Sizes;

/// Sockets idle this long are checked.
const IDLE: Duration = Duration::from_secs(1);
/// How often the checks run, and how often one socket is checked at most.
const PERIOD: Duration = Duration::from_secs(1);
/// Requests per check at most (each is one round trip to the kernel, a few
/// microseconds).
const MAX_QUERIES: usize = 64;
/// Requests at the end of a capture at most.
const MAX_FINAL_QUERIES: usize = 20_000;

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h): the request and reply type.
const SOCK_DIAG_BY_FAMILY: u16 = 20;

/// `struct nlmsghdr` (linux/netlink.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct NlMsgHdr {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// `struct unix_diag_req` (linux/unix_diag.h).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct UnixDiagReq {
    family: u8,
    protocol: u8,
    pad: u16,
    states: u32,
    ino: u32,
    show: u32,
    cookie: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Request {
    hdr: NlMsgHdr,
    req: UnixDiagReq,
}

/// A NETLINK_SOCK_DIAG socket.
pub struct SockDiag {
    fd: OwnedFd,
    seq: u32,
}

impl SockDiag {
    /// Open the netlink socket (replies time out after 100 ms).
    pub fn open() -> io::Result<Self> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: setsockopt reads one timeval from a live local.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SockDiag { fd, seq: 0 })
    }

    /// Whether a unix socket with inode `ino` exists in this network namespace.
    pub fn exists(&mut self, ino: u64) -> io::Result<bool> {
        let Ok(ino32) = u32::try_from(ino) else {
            // Socket inodes are 32-bit (get_next_ino); anything else is not ours to judge.
            return Ok(true);
        };
        self.seq = self.seq.wrapping_add(1);
        let req = Request {
            hdr: NlMsgHdr {
                len: std::mem::size_of::<Request>() as u32,
                kind: SOCK_DIAG_BY_FAMILY,
                flags: libc::NLM_F_REQUEST as u16,
                seq: self.seq,
                pid: 0,
            },
            req: UnixDiagReq {
                family: libc::AF_UNIX as u8,
                // Every state; with an exact inode the kernel ignores it.
                states: !0,
                ino: ino32,
                // No cookie check (INET_DIAG_NOCOOKIE).
                cookie: [!0, !0],
                ..Default::default()
            },
        };
        // SAFETY: sends the bytes of a repr(C) struct of plain integers that
        // lives for the call.
        let sent = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                (&req as *const Request).cast(),
                std::mem::size_of::<Request>(),
                0,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: recv writes at most buf.len() bytes into buf.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = n as usize;
            if n < std::mem::size_of::<NlMsgHdr>() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "short netlink reply",
                ));
            }
            // SAFETY: buf holds at least one nlmsghdr; read_unaligned copes with
            // any alignment of the byte array.
            let hdr: NlMsgHdr = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
            if hdr.seq != self.seq {
                // A late reply to an earlier request that timed out.
                continue;
            }
            return match hdr.kind as i32 {
                libc::NLMSG_ERROR if n >= std::mem::size_of::<NlMsgHdr>() + 4 => {
                    let at = std::mem::size_of::<NlMsgHdr>();
                    let err = i32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or_default());
                    match -err {
                        0 => Ok(true),
                        libc::ENOENT => Ok(false),
                        e => Err(io::Error::from_raw_os_error(e)),
                    }
                }
                k if k == i32::from(SOCK_DIAG_BY_FAMILY) => Ok(true),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "unexpected netlink reply",
                )),
            };
        }
    }
}

struct Entry {
    /// The last record's header, the template of a synthetic close.
    last: snoop_event,
    /// End of the socket's send stream seen so far (kernel offsets).
    end: u64,
    seen: Instant,
    checked: Instant,
}

/// Connections' sockets by inode, with when each was last heard of.
pub struct Liveness {
    socks: HashMap<u64, Entry>,
    diag: Option<SockDiag>,
    last_run: Instant,
    /// Closes made here (the socket was gone without a close record).
    pub synthesized: u64,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            socks: HashMap::new(),
            // Without sock_diag (no CONFIG_UNIX_DIAG) connections end as before:
            // at end of file, a close record, or the table's bound.
            diag: SockDiag::open().ok(),
            last_run: Instant::now(),
            synthesized: 0,
        }
    }
}

impl Liveness {
    /// Sockets watched.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("liveness.socks", self.socks.len());
    }

    /// A record was handed to the flow layer.
    pub fn note(&mut self, raw: &[u8]) {
        let Some(h) = record::header(raw) else { return };
        if h.flags & record::FLAG_FOREIGN_NETNS != 0 || h.sock_ino == 0 || h.kind == KIND_HPACK {
            return;
        }
        if h.kind == KIND_CLOSE {
            // The connection is over for both ends: the other end's own
            // close is seldom recorded (nobody reads its end of file once
            // this end closed), so waiting for it would leave its entry to
            // the sock_diag checks, which churn outpaces. An end that only
            // shut down its sending side may still write: its next record
            // brings its entry back.
            self.socks.remove(&h.sock_ino);
            if h.peer_ino != 0 {
                self.socks.remove(&h.peer_ino);
            }
            return;
        }
        let end = match h.kind {
            KIND_DATA => h.offset + u64::from(h.len),
            KIND_GAP => h.offset + u64::from(h.gap_len),
            _ => h.offset,
        };
        let now = Instant::now();
        let e = self.socks.entry(h.sock_ino).or_insert(Entry {
            last: h,
            end,
            seen: now,
            checked: now,
        });
        e.last = h;
        e.end = e.end.max(end);
        e.seen = now;
    }

    /// Whether a check is due (about once a second).
    pub fn due(&self) -> bool {
        self.diag.is_some() && self.last_run.elapsed() >= PERIOD
    }

    /// Look up the sockets idle for a second; a close record (at `mono_ns`)
    /// for each one that is gone. Call after draining the ring buffer, so
    /// that no record of theirs is still on its way.
    pub fn check(&mut self, mono_ns: u64) -> Vec<Vec<u8>> {
        self.run(mono_ns, IDLE, MAX_QUERIES)
    }

    /// At the end of a capture: every socket, idle or not (up to a bound),
    /// so that the summary and the capture end connections that are over.
    pub fn check_all(&mut self, mono_ns: u64) -> Vec<Vec<u8>> {
        self.run(mono_ns, Duration::ZERO, MAX_FINAL_QUERIES)
    }

    fn run(&mut self, mono_ns: u64, idle_for: Duration, max: usize) -> Vec<Vec<u8>> {
        let now = Instant::now();
        self.last_run = now;
        let Some(diag) = self.diag.as_mut() else {
            return vec![];
        };
        let mut idle: Vec<(Instant, u64)> = self
            .socks
            .iter()
            .filter(|(_, e)| {
                now.duration_since(e.seen) >= idle_for
                    && (idle_for.is_zero() || now.duration_since(e.checked) >= PERIOD)
            })
            .map(|(&ino, e)| (e.checked, ino))
            .collect();
        idle.sort();
        let mut closes = vec![];
        for (_, ino) in idle.into_iter().take(max) {
            match diag.exists(ino) {
                Ok(true) => {
                    if let Some(e) = self.socks.get_mut(&ino) {
                        e.checked = now;
                    }
                }
                Ok(false) => {
                    if let Some(e) = self.socks.remove(&ino) {
                        let mut h = e.last;
                        h.kind = KIND_CLOSE;
                        h.offset = e.end;
                        h.len = 0;
                        h.gap_len = 0;
                        h.reason = 0;
                        h.ts_ns = mono_ns;
                        h.flags &= !record::FLAG_MORE;
                        let mut raw = vec![0u8; HEADER_LEN];
                        record::set_header(&mut raw, &h);
                        closes.push(raw);
                        self.synthesized += 1;
                    }
                }
                // Unanswered or refused: try again next time.
                Err(_) => break,
            }
        }
        closes
    }
}

#[cfg(test)]
mod tests;
