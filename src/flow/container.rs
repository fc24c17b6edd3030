//! Where a process runs: the host, a container (and its pod), or unknown;
//! and the pure parser that tells it from a cgroup path.
//!
//! The live capture reads the writer's cgroup in the kernel (the path of
//! its default-hierarchy cgroup, or of a v1 hierarchy's when the default
//! one says nothing); capture files carry the container id in their
//! comments. The layouts [`from_cgroup_path`] knows:
//!
//! - cgroupfs drivers (cgroup v1, or v2 without systemd): containerd's
//!   `/<namespace>/<id>` for the `default`, `k8s.io` and `moby`
//!   namespaces, Docker's `/docker/<id>`, Podman's
//!   `/libpod_parent/libpod-<id>`, kubelet's
//!   `/kubepods[/burstable|/besteffort]/pod<uid>/<id>`;
//! - systemd drivers (cgroup v2 production nodes): a
//!   `cri-containerd-<id>.scope`, `docker-<id>.scope`, `libpod-<id>.scope`
//!   or `crio-<id>.scope` anywhere in the path, the pod uid from a
//!   `kubepods-<qos>-pod<uid>.slice` above it (`_` back to `-`);
//! - the host: the root cgroup, systemd's `system.slice`, `user.slice` and
//!   `init.scope` trees, runtime monitors (`*-conmon-<id>.scope`,
//!   `/libpod_parent/conmon`), and `/process_api/...` (where the
//!   supervisor of the machines this project is tested on puts its
//!   processes).
//!
//! Anything else is [`InContainer::Unknown`]: never guessed to be the host.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// containerd's limit on identifiers (76 bytes); Docker, CRI-O and
/// kubelet ids are 64 hex digits.
pub const MAX_ID_LEN: usize = 76;
/// Longest pod uid kept: a UUID (36), or a static pod's 32-hex hash.
pub const MAX_UID_LEN: usize = 48;

/// A short string held inline so that [`Process`](super::Process) stays
/// `Copy`: ASCII letters, digits, `.`, `_` and `-` only, starting with a
/// letter or digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Inline<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    fn new(s: &str) -> Option<Self> {
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        let starts_ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        if !starts_ok || s.len() > N || !s.bytes().all(ok) {
            return None;
        }
        let mut bytes = [0u8; N];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(Inline {
            len: s.len() as u8,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// A container id (a 64-hex id, or any id `ctr run` was given).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContainerId(Inline<MAX_ID_LEN>);

impl ContainerId {
    /// The id `s`, if it can be one: 1 to 76 ASCII letters, digits, `.`,
    /// `_` or `-`, the first a letter or digit (containerd's identifiers).
    pub fn new(s: &str) -> Option<Self> {
        Inline::new(s).map(ContainerId)
    }

    /// The whole id.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The first 12 characters, as `docker ps` and `crictl ps` show ids.
    pub fn short(&self) -> &str {
        let s = self.as_str();
        &s[..s.len().min(12)]
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A Kubernetes pod's uid, as its cgroup names it (dashes restored).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PodUid(Inline<MAX_UID_LEN>);

impl PodUid {
    /// The uid `s`, if it can be one (the characters of [`ContainerId::new`],
    /// at most 48).
    pub fn new(s: &str) -> Option<Self> {
        Inline::new(s).map(PodUid)
    }

    /// The uid.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for PodUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PodUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A container a process runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Container {
    /// Its id.
    pub id: ContainerId,
    /// Its pod's uid, when the cgroup path names it (kubelet's layouts).
    pub pod_uid: Option<PodUid>,
}

/// Where a process runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InContainer {
    /// Not known: a file recorded before, or by another tool; a cgroup
    /// the kernel could not read or whose layout is not known.
    #[default]
    Unknown,
    /// The host (the root cgroup, or a host service's).
    Host,
    /// Inside this container.
    Container(Container),
}

impl InContainer {
    /// Whether nothing is known (the JSON output then leaves `container` out).
    pub fn is_unknown(&self) -> bool {
        matches!(self, InContainer::Unknown)
    }

    /// The container, if the process runs in one.
    pub fn container(&self) -> Option<&Container> {
        match self {
            InContainer::Container(c) => Some(c),
            _ => None,
        }
    }
}

/// JSON: null for the host, `{"id": .., "pod": {"namespace": null, "name":
/// null, "uid": ..}}` (`pod` null when no uid is known) for a container.
/// Unknown is left out by [`Process`](super::Process)'s serializer.
impl Serialize for InContainer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let InContainer::Container(c) = self else {
            return s.serialize_none();
        };
        struct Pod<'a>(&'a PodUid);
        impl Serialize for Pod<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("namespace", &None::<&str>)?;
                m.serialize_entry("name", &None::<&str>)?;
                m.serialize_entry("uid", self.0.as_str())?;
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("id", c.id.as_str())?;
        m.serialize_entry("pod", &c.pod_uid.as_ref().map(Pod))?;
        m.end()
    }
}

/// Where a process whose cgroup is `path` runs. `path` is absolute in its
/// hierarchy (`/` is the root); `complete` is false when the kernel could
/// only give its lower components (the top is then not known, so a path
/// that is no container is [`InContainer::Unknown`], not the host).
pub fn from_cgroup_path(path: &str, complete: bool) -> InContainer {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return if complete {
            InContainer::Host
        } else {
            InContainer::Unknown
        };
    }
    if let Some(found) = container_in(&parts) {
        return found;
    }
    if complete && host_tree(&parts) {
        return InContainer::Host;
    }
    InContainer::Unknown
}

/// systemd scopes of container runtimes: `<prefix><id>.scope`.
const SCOPE_PREFIXES: [&str; 4] = ["cri-containerd-", "docker-", "libpod-", "crio-"];
/// containerd namespaces whose cgroupfs layout is `/<namespace>/<id>`.
const CONTAINERD_NAMESPACES: [&str; 3] = ["default", "k8s.io", "moby"];

/// The outermost container the components name (a container's own
/// sub-cgroups, like systemd's inside it, are still that container).
fn container_in(parts: &[&str]) -> Option<InContainer> {
    let kubelet = parts[0] == "kubepods" || parts[0] == "kubepods.slice";
    let pod_uid = kubelet
        .then(|| parts.iter().find_map(|p| pod_uid_of(p)))
        .flatten();
    let found = |id: &str| {
        Some(match ContainerId::new(id) {
            Some(id) => InContainer::Container(Container { id, pod_uid }),
            None => InContainer::Unknown,
        })
    };
    for (i, part) in parts.iter().enumerate() {
        if let Some(name) = part.strip_suffix(".scope") {
            for prefix in SCOPE_PREFIXES {
                if let Some(id) = name.strip_prefix(prefix) {
                    // `crio-conmon-<id>`, `libpod-conmon-<id>`: the
                    // runtime's monitor, a host process.
                    if id.starts_with("conmon-") {
                        return Some(InContainer::Host);
                    }
                    return found(id);
                }
            }
        }
        let parent = if i > 0 { Some(parts[i - 1]) } else { None };
        match parent {
            // kubelet's cgroupfs layout: /kubepods[/qos]/pod<uid>/<id>.
            Some(p) if p.starts_with("pod") && parts[0] == "kubepods" => return found(part),
            Some("libpod_parent") => {
                if *part == "conmon" {
                    return Some(InContainer::Host);
                }
                if let Some(id) = part.strip_prefix("libpod-") {
                    return found(id);
                }
            }
            Some("docker") if i == 1 => return found(part),
            Some(ns) if i == 1 && CONTAINERD_NAMESPACES.contains(&ns) => return found(part),
            _ => {}
        }
    }
    None
}

/// `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid>.slice` (systemd,
/// dashes written as `_`).
fn pod_uid_of(part: &str) -> Option<PodUid> {
    if let Some(slice) = part.strip_suffix(".slice") {
        let (_, uid) = slice
            .starts_with("kubepods")
            .then(|| slice.rsplit_once("-pod"))??;
        return PodUid::new(&uid.replace('_', "-"));
    }
    PodUid::new(part.strip_prefix("pod")?)
}

/// Trees of host processes (see the module's documentation).
fn host_tree(parts: &[&str]) -> bool {
    matches!(
        parts[0],
        "system.slice" | "user.slice" | "init.scope" | "process_api"
    )
}

/// Distinct containers [`ClientContainers`] names in its summary; the
/// rest are counted together.
const NAMED_CONTAINERS: usize = 8;

/// Connections whose client runs inside a container, for the summary line:
/// a process in a container that reaches the runtime socket is the classic
/// escape path, and looks like kubelet otherwise. A connection counts once,
/// when its client's container is first known.
#[derive(Debug, Default)]
pub struct ClientContainers {
    /// Connections counted and not closed yet (so that one is counted once).
    open: HashSet<super::ConnId>,
    /// Connections by container, for the first [`NAMED_CONTAINERS`].
    by_container: BTreeMap<String, u64>,
    /// What names those containers (`pod NS/NAME container NAME`), once
    /// known ([`ClientContainers::name`]).
    labels: BTreeMap<String, String>,
    /// Connections counted.
    pub total: u64,
}

impl ClientContainers {
    /// A flow event of `conn` (`closed`: its Close).
    pub fn note(&mut self, conn: &super::Conn, closed: bool) {
        if closed {
            self.open.remove(&conn.id);
            return;
        }
        let Some(c) = conn.client.owner.container.container() else {
            return;
        };
        if !self.open.insert(conn.id) {
            return;
        }
        self.total += 1;
        let id = c.id.short().to_string();
        if self.by_container.contains_key(&id) || self.by_container.len() < NAMED_CONTAINERS {
            *self.by_container.entry(id).or_default() += 1;
        }
    }

    /// `label` names container `c` in the summary (`pod default/web
    /// container app`, escaped by the caller), if it is listed there and
    /// not named yet.
    pub fn name(&mut self, c: &Container, label: impl FnOnce() -> String) {
        let id = c.id.short();
        if self.by_container.contains_key(id) && !self.labels.contains_key(id) {
            self.labels.insert(id.to_string(), label());
        }
    }

    /// Connections held (open ones counted).
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no connection is held.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// `1 connection to the runtime socket from a container: container
    /// 8806619fdd57` (or `...: pod default/web container app` once
    /// named), or `3 connections to the runtime socket from containers:
    /// container a (2), container b`; None when there were none.
    pub fn summary(&self) -> Option<String> {
        if self.total == 0 {
            return None;
        }
        let mut named: Vec<String> = self
            .by_container
            .iter()
            .map(|(id, n)| {
                let what = match self.labels.get(id) {
                    Some(label) => label.clone(),
                    None => format!("container {id}"),
                };
                match n {
                    1 => what,
                    n => format!("{what} ({n})"),
                }
            })
            .collect();
        let listed: u64 = self.by_container.values().sum();
        if listed < self.total {
            named.push(format!("{} more", self.total - listed));
        }
        let from = match self.by_container.len() {
            1 => "a container",
            _ => "containers",
        };
        let conns = match self.total {
            1 => "1 connection".to_string(),
            n => format!("{n} connections"),
        };
        Some(format!(
            "{conns} to the runtime socket from {from}: {}",
            named.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests;
