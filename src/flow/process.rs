//! Who wrote bytes: one type for the capture, the flow layer, the decoders
//! and the output, from the kernel's record or a capture file's comment.

use std::fmt;

use serde::{Serialize, Serializer};

use super::InContainer;

/// A process or thread name as the kernel keeps it (`TASK_COMM_LEN`, NUL
/// padded): any bytes but NUL, not necessarily UTF-8.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Comm(pub [u8; 16]);

impl Comm {
    /// The name's bytes, up to its first NUL.
    pub fn name(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        &self.0[..end]
    }

    /// The name up to its first NUL, lossily as UTF-8.
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.name())
    }

    /// A comm from a string, cut at a NUL and to 15 bytes as the kernel
    /// does.
    pub fn from_name(name: &str) -> Self {
        let name = name.split('\0').next().unwrap_or_default();
        let mut c = [0u8; 16];
        let n = name.len().min(15);
        c[..n].copy_from_slice(&name.as_bytes()[..n]);
        Comm(c)
    }

    /// The comm whose [`Comm::name`] is `name`; None when it cannot be one
    /// (longer than 16 bytes, or holding a NUL).
    pub fn from_bytes(name: &[u8]) -> Option<Self> {
        if name.len() > 16 || name.contains(&0) {
            return None;
        }
        let mut c = [0u8; 16];
        c[..name.len()].copy_from_slice(name);
        Some(Comm(c))
    }

    /// A kernel buffer as a comm: what follows its first NUL is dropped
    /// (a string the kernel copied need not be zero-padded).
    pub fn from_kernel(raw: &[u8; 16]) -> Self {
        let mut c = Comm(*raw);
        let end = c.name().len();
        c.0[end..].fill(0);
        c
    }
}

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Serialize for Comm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

/// A thread of a process, as far as it is known: everything is unknown in
/// captures made by other tools, and the thread is unknown for a socket's
/// owner (only writes have a thread). Serialized (the JSON output's
/// `writer` and `peer`) with every member, null when unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Process {
    /// Process id (thread group id) in the initial pid namespace.
    pub pid: Option<u32>,
    /// Thread id.
    pub tid: Option<u32>,
    /// Process name: the thread group leader's comm, `/proc/PID/comm`.
    pub comm: Option<Comm>,
    /// The thread's own name, which a thread may set (`PR_SET_NAME`,
    /// `pthread_setname_np`): grpcio writes from `event_engine`. Known
    /// only for a write the kernel saw, and in files written since it was
    /// recorded.
    pub thread_comm: Option<Comm>,
    /// Where the process runs: read from its cgroup at the write (live),
    /// from a capture's comment (offline). Left out of the JSON when
    /// unknown, null for the host.
    #[serde(skip_serializing_if = "InContainer::is_unknown")]
    pub container: InContainer,
}

impl Process {
    /// A thread known by the kernel, its process named `comm`; its own
    /// name unknown until [`Process::with_thread_comm`].
    pub fn thread(pid: u32, tid: u32, comm: Comm) -> Self {
        Process {
            pid: Some(pid),
            tid: Some(tid),
            comm: Some(comm),
            thread_comm: None,
            container: InContainer::Unknown,
        }
    }

    /// The same, its thread named `thread_comm`.
    pub fn with_thread_comm(self, thread_comm: Comm) -> Self {
        Process {
            thread_comm: Some(thread_comm),
            ..self
        }
    }

    /// The process without its thread (a socket's owner).
    pub fn owner(&self) -> Process {
        Process {
            tid: None,
            thread_comm: None,
            ..*self
        }
    }

    /// The thread's name when it is known and not the process's:
    /// `event_engine` of `python3`, None for a thread of `containerd` that
    /// kept its process's name.
    pub fn renamed_thread(&self) -> Option<Comm> {
        self.thread_comm.filter(|t| Some(*t) != self.comm)
    }

    /// `comm/pid` as a table's PEER column shows a process: `pid/PID` when
    /// its name is unknown, `-` when nothing is.
    pub fn short(&self) -> String {
        match (&self.comm, self.pid) {
            (Some(c), Some(pid)) => format!("{c}/{pid}"),
            (None, Some(pid)) => format!("pid/{pid}"),
            (Some(c), None) => c.to_string(),
            (None, None) => "-".to_string(),
        }
    }
}

/// When bytes were written and by whom: what a decoder knows of a write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The writing thread.
    pub by: Process,
}

#[cfg(test)]
mod tests;
