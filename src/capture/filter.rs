//! What the kernel side keeps: socket paths, processes. Checked in BPF before
//! any payload is copied.

use anyhow::{bail, Result};

use super::skel::types::snoop_abi;

/// containerd's default gRPC socket.
pub const DEFAULT_SOCKET: &str = "/run/containerd/containerd.sock";

/// What `record` and `trace` capture without `--socket`: containerd's gRPC
/// socket, its ttrpc socket (shims forward events there: the `[ttrpc]`
/// address defaults to the gRPC one plus `.ttrpc`), and the shims' own
/// sockets, which containerd 1.6 and 1.7 bind under `/run/containerd/s/`
/// whatever their state directory (verified with a private containerd and
/// `ss -xlp` while `ctr run` runs); then the Docker Engine API's socket
/// under both names it is bound by (the kernel keeps the path as given to
/// bind(): dockerd binds `/var/run/docker.sock` by default, systemd's
/// `docker.socket` `/run/docker.sock`) and rootful Podman's API socket.
pub const DEFAULT_SOCKETS: [&str; 6] = [
    DEFAULT_SOCKET,
    "/run/containerd/containerd.sock.ttrpc",
    "/run/containerd/s/*",
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/podman/podman.sock",
];

/// Limits fixed by the BPF program (`enum snoop_abi` in `src/bpf/snoop.h`).
pub const MAX_PATHS: usize = snoop_abi::SNOOP_MAX_PATH_FILTERS.0 as usize;
/// Most `--pid` values.
pub const MAX_PIDS: usize = snoop_abi::SNOOP_MAX_PID_FILTERS.0 as usize;
/// Most `--comm` values.
pub const MAX_COMMS: usize = snoop_abi::SNOOP_MAX_COMM_FILTERS.0 as usize;
/// Longest socket path (`sun_path`).
pub const PATH_MAX: usize = snoop_abi::SNOOP_PATH_MAX.0 as usize;

/// One `--socket` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathFilter {
    /// The path, or its prefix (`@name` for abstract sockets).
    pub path: String,
    /// Match every path that starts with `path` (given with a trailing `*`).
    pub prefix: bool,
}

impl PathFilter {
    /// Parse `PATH` or `PREFIX*`.
    pub fn parse(s: &str) -> Result<Self> {
        let (path, prefix) = match s.strip_suffix('*') {
            Some(p) => (p, true),
            None => (s, false),
        };
        if path.is_empty() && !prefix {
            bail!("--socket needs a path, such as {DEFAULT_SOCKET}");
        }
        if path.len() > PATH_MAX {
            bail!(
                "--socket {s}: a unix socket path has at most {PATH_MAX} bytes, this one has {}",
                path.len()
            );
        }
        Ok(PathFilter {
            path: path.to_string(),
            prefix,
        })
    }

    /// Whether a connection on `path` is kept (the BPF program's rule, for userspace checks).
    pub fn matches(&self, path: &str) -> bool {
        if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }
}

/// All filters of one capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Every AF_UNIX stream connection, whatever its path.
    pub all: bool,
    /// Socket paths (ignored with `all`).
    pub paths: Vec<PathFilter>,
    /// Keep connections where either side is one of these processes.
    pub pids: Vec<u32>,
    /// Keep connections where either side has one of these names.
    pub comms: Vec<String>,
}

impl Filters {
    /// Build and check the filters from the command line values.
    pub fn new(all: bool, sockets: &[String], pids: &[u32], comms: &[String]) -> Result<Self> {
        if all && !sockets.is_empty() {
            bail!("--all and --socket exclude each other: --all already takes every socket");
        }
        let mut paths = sockets
            .iter()
            .map(|s| PathFilter::parse(s))
            .collect::<Result<Vec<_>>>()?;
        if paths.is_empty() && !all {
            for p in DEFAULT_SOCKETS {
                paths.push(PathFilter::parse(p)?);
            }
        }
        if paths.len() > MAX_PATHS {
            bail!("at most {MAX_PATHS} --socket values are supported; use a prefix such as /run/containerd/*");
        }
        if pids.len() > MAX_PIDS {
            bail!("at most {MAX_PIDS} --pid values are supported");
        }
        if comms.len() > MAX_COMMS {
            bail!("at most {MAX_COMMS} --comm values are supported");
        }
        for c in comms {
            if c.is_empty() || c.len() > 15 {
                bail!("--comm {c:?}: a process name has 1 to 15 bytes (the kernel truncates longer names)");
            }
        }
        Ok(Filters {
            all,
            paths,
            pids: pids.to_vec(),
            comms: comms.to_vec(),
        })
    }

    /// A short human description, for the status line and file comments.
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        if self.all {
            parts.push("all AF_UNIX stream sockets".to_string());
        } else {
            let p: Vec<String> = self
                .paths
                .iter()
                .map(|p| format!("{}{}", p.path, if p.prefix { "*" } else { "" }))
                .collect();
            parts.push(p.join(", "));
        }
        if !self.pids.is_empty() {
            let p: Vec<String> = self.pids.iter().map(u32::to_string).collect();
            parts.push(format!("pid {}", p.join(",")));
        }
        if !self.comms.is_empty() {
            parts.push(format!("comm {}", self.comms.join(",")));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests;
