//! Who wrote bytes: one type for the capture, the flow layer, the decoders
//! and the output, from the kernel's record or a capture file's comment.

use std::fmt;

use serde::{Serialize, Serializer};

/// A process name as the kernel keeps it (`TASK_COMM_LEN`, NUL padded).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Comm(pub [u8; 16]);

impl Comm {
    /// The name up to its first NUL, lossily as UTF-8.
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        String::from_utf8_lossy(&self.0[..end])
    }

    /// A comm from a string, truncated to 15 bytes as the kernel does.
    pub fn from_name(name: &str) -> Self {
        let mut c = [0u8; 16];
        let n = name.len().min(15);
        c[..n].copy_from_slice(&name.as_bytes()[..n]);
        Comm(c)
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
/// owner (only writes have a thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Process {
    /// Process id (thread group id) in the initial pid namespace.
    pub pid: Option<u32>,
    /// Thread id.
    pub tid: Option<u32>,
    /// Thread name.
    pub comm: Option<Comm>,
}

impl Process {
    /// A thread known by the kernel.
    pub fn thread(pid: u32, tid: u32, comm: Comm) -> Self {
        Process {
            pid: Some(pid),
            tid: Some(tid),
            comm: Some(comm),
        }
    }

    /// The process without its thread (a socket's owner).
    pub fn owner(&self) -> Process {
        Process { tid: None, ..*self }
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
