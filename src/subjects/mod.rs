//! Which pod and container each call is about, learned from the traffic
//! itself, the same live and offline.
//!
//! [`extract`] reads what one message says (by field number); [`Subjects`]
//! keeps what was learned: sandboxes (a pod's, by sandbox id) and
//! containers (by id, with their name, sandbox and pod), from the CRI's
//! RunPodSandbox/CreateContainer (request and response paired per call),
//! status and list responses, and containerd's Containers service labels.
//! Each call's subject is worked out from its request (an id field, or the
//! pod metadata it carries) and completed by its response (the id given to
//! what it created); its messages and its end carry it. Unknown stays
//! unknown: an id never described names nothing.
//!
//! Bounded: entries go when their pod or container is removed
//! (RemovePodSandbox, RemoveContainer, containerd's Containers/Delete, once
//! the call succeeded) or is absent from a complete relist that began
//! after it was last described; beyond [`MAX_ENTRIES`] the oldest goes and
//! is counted. Calls in flight are kept per connection and stream until
//! they end, at most [`MAX_CALLS`].

pub mod extract;

use std::collections::VecDeque;
use std::sync::Arc;

// Keyed by ids from the wire, hashed for every message: a fast hasher
// seeded per process (SipHash was a tenth of attribution's cost).
use foldhash::{HashMap, HashSet};

use crate::flow::ConnId;
use crate::sizes::Sizes;
use extract::{ContainerInfo, ContainerView, Listed, PodMeta, PodView, Said};

/// Sandboxes and containers kept at most.
pub const MAX_ENTRIES: usize = 65_536;
/// Calls in flight kept at most.
pub const MAX_CALLS: usize = 65_536;
/// How long (event time) a removed sandbox or container still names the
/// calls that come about it: the capture may deliver another connection's
/// calls later than the removal (its ordering holds a record up to half a
/// second, the pipeline up to a second).
pub const REMOVAL_GRACE_NS: u64 = 2_000_000_000;
/// The containerd namespace of the CRI plugin's pods and containers.
pub const CRI_NAMESPACE: &str = "k8s.io";

/// A container a call is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerRef {
    /// Its id.
    pub id: String,
    /// Its name in its pod, if known.
    pub name: Option<String>,
}

/// What a call is about, as far as known. Shared with the map's entries
/// (every message gets one: a copy is three reference counts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// The pod.
    pub pod: Option<Arc<PodMeta>>,
    /// The container.
    pub container: Option<Arc<ContainerRef>>,
    /// The pod's sandbox id.
    pub sandbox_id: Option<Arc<str>>,
}

impl Subject {
    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.pod.is_none() && self.container.is_none() && self.sandbox_id.is_none()
    }
}

struct Sandbox {
    id: Arc<str>,
    pod: Arc<PodMeta>,
    seq: u64,
}

struct Container {
    /// Its id, shared with the map's keys.
    id: Arc<str>,
    /// Its id and name (None when not known).
    r: Arc<ContainerRef>,
    /// Its sandbox's id ("" when not known).
    sandbox_id: Arc<str>,
    /// Its pod as its own description named it (its labels).
    pod: Arc<PodMeta>,
    seq: u64,
}

/// A call in flight.
#[derive(Default)]
struct Call {
    /// The id its request named.
    about: Option<String>,
    /// The pod its request named by metadata.
    pod: Option<Arc<PodMeta>>,
    /// The container name a CreateContainer asked for.
    container_name: Option<String>,
    /// What its response created.
    created: Option<String>,
    /// Its request asked for a filtered list.
    filtered: bool,
    /// Its success removes `about`.
    removes: bool,
    /// When its request came (entries described since then outlive a
    /// relist it answers).
    since: u64,
    /// It creates a sandbox or a container whose id its response will give.
    creating: bool,
    /// Its subject, as of the map's generation given (every message of a
    /// call asks for it; the map rarely changes in between).
    cached: Option<(u64, Subject)>,
}

/// Entries counted by kind, for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubjectStats {
    /// Entries evicted by the bound.
    pub evicted: u64,
}

/// What was learned, and the calls in flight.
#[derive(Default)]
pub struct Subjects {
    sandboxes: HashMap<Arc<str>, Sandbox>,
    containers: HashMap<Arc<str>, Container>,
    /// Entries in the order they were described: (seq, is a sandbox, id),
    /// oldest first. An entry described again is pushed again, its older
    /// place left stale (its seq is no longer the entry's) and dropped when
    /// met or when stale places outnumber live ones ([`Subjects::aged`]).
    by_age: VecDeque<(u64, bool, Arc<str>)>,
    calls: HashMap<(ConnId, u32), Call>,
    /// Calls in flight that create a sandbox or container.
    creating: usize,
    /// A CRI call was seen: the ids of pods and containers come on the
    /// CRI connection, which may run behind the shims' in the capture.
    cri: bool,
    /// Removed entries, by when (event time), still naming late calls
    /// until [`REMOVAL_GRACE_NS`] later.
    doomed: std::collections::VecDeque<(u64, String)>,
    /// The latest event time given ([`Subjects::set_now`]).
    now: u64,
    /// Moves whenever an entry is added, changed or removed.
    generation: u64,
    seq: u64,
    /// Counters.
    pub stats: SubjectStats,
}

impl Subjects {
    /// An empty map.
    pub fn new() -> Self {
        Subjects::default()
    }

    /// Entries kept, by structure.
    pub fn sizes(&self, out: &mut Sizes) {
        out.add("subjects.sandboxes", self.sandboxes.len());
        out.add("subjects.containers", self.containers.len());
        out.add("subjects.calls", self.calls.len());
        out.add("subjects.removed", self.doomed.len());
    }

    /// The time of the event being handled: removals older than
    /// [`REMOVAL_GRACE_NS`] take effect.
    pub fn set_now(&mut self, now: u64) {
        self.now = self.now.max(now);
        while let Some((at, _)) = self.doomed.front() {
            if at.saturating_add(REMOVAL_GRACE_NS) > self.now {
                break;
            }
            if let Some((_, id)) = self.doomed.pop_front() {
                self.remove_now(&id);
            }
        }
    }

    /// A message of the call on `stream` of connection `conn`, on `path`:
    /// learn what it says; the call's subject.
    pub fn message(
        &mut self,
        conn: ConnId,
        stream: u32,
        path: &str,
        request: bool,
        payload: &[u8],
    ) -> Subject {
        let key = (conn, stream);
        // kubelet asks the status of every pod and container it knows, all
        // the time: a response about an id the map describes says nothing new.
        let described = !request
            && extract::is_status(path)
            && self
                .calls
                .get(&key)
                .and_then(|c| c.about.as_deref())
                .is_some_and(|id| self.knows(id));
        // A list names every pod or container each relist: read in place,
        // compared with what the map holds, copied only when new.
        let listed = match request {
            true => None,
            false => extract::listed(path, payload),
        };
        let mut said = match (described, &listed) {
            (true, _) | (false, Some(_)) => Said::default(),
            (false, None) => extract::said(path, request, payload),
        };
        self.cri |= path.starts_with("/runtime.v1");
        self.seq += 1;
        let now = self.seq;
        if let Some(listed) = listed {
            // A complete list (unfiltered) drops what it no longer lists.
            if let Some(call) = self.calls.get(&key).filter(|c| !c.filtered) {
                let since = call.since;
                let (sandboxes, ids): (bool, HashSet<&str>) = match &listed {
                    Listed::Sandboxes(v) => (true, v.iter().map(|s| &*s.id).collect()),
                    Listed::Containers(v) => (false, v.iter().map(|c| &*c.id).collect()),
                };
                self.relist(sandboxes, &ids, since);
            }
            match listed {
                Listed::Sandboxes(v) => v.into_iter().for_each(|s| self.put_sandbox(&s.id, s.pod)),
                Listed::Containers(v) => v.into_iter().for_each(|c| self.put_container(c)),
            }
        }
        for s in std::mem::take(&mut said.sandboxes) {
            self.put_sandbox(&s.id, s.pod.view());
        }
        for c in std::mem::take(&mut said.containers) {
            self.put_container(c.view());
        }
        if request {
            if !self.calls.contains_key(&key) && self.calls.len() >= MAX_CALLS {
                // Calls whose end never came (a lost close): forget one.
                if let Some(k) = self.calls.keys().next().copied() {
                    self.forget(&k);
                }
            }
            let call = self.calls.entry(key).or_insert_with(|| Call {
                since: now,
                ..Call::default()
            });
            absorb(call, said);
            call.cached = None;
            let creates =
                call.container_name.is_some() || (call.pod.is_some() && call.about.is_none());
            if creates && !call.creating && call.created.is_none() {
                call.creating = true;
                self.creating += 1;
            }
        } else if let Some(call) = self.calls.get_mut(&key) {
            let created = said.created_id.clone();
            if let Some(id) = &created {
                call.created = Some(id.clone());
                call.cached = None;
                if call.creating {
                    call.creating = false;
                    self.creating -= 1;
                }
            }
            // Described once, by the response that gave the id (not again
            // by each later message of a streaming response).
            if let Some(id) = created {
                self.created(&key, &id);
            }
        }
        self.call_subject(&key)
    }

    /// The subject of the call at `key`, cached with the call until the
    /// map changes.
    fn call_subject(&mut self, key: &(ConnId, u32)) -> Subject {
        let generation = self.generation;
        if let Some((g, s)) = self.calls.get(key).and_then(|c| c.cached.as_ref()) {
            if *g == generation {
                return s.clone();
            }
        }
        let subject = self.subject_of_call(key);
        if let Some(call) = self.calls.get_mut(key) {
            call.cached = Some((generation, subject.clone()));
        }
        subject
    }

    /// The call on `stream` of `conn` ended (`ok`: with success): its
    /// subject; a successful removal removes its entry.
    pub fn call_end(&mut self, conn: ConnId, stream: u32, ok: bool) -> Subject {
        let key = (conn, stream);
        let subject = self.call_subject(&key);
        if let Some(call) = self.forget(&key) {
            if let (true, true, Some(id)) = (ok, call.removes, call.about.as_deref()) {
                self.remove(id);
            }
        }
        subject
    }

    /// Whether an id not known yet may be described soon: a call that
    /// creates a sandbox or a container is in flight, or the CRI speaks
    /// here (its connection may run behind the shims' in the capture).
    pub fn expects_ids(&self) -> bool {
        self.creating > 0 || self.cri
    }

    /// Whether a call that creates a sandbox or a container is in flight
    /// (its response will describe an id).
    pub fn creating(&self) -> bool {
        self.creating > 0
    }

    /// Whether an id named by a call in containerd `namespace` may be
    /// described soon: [`Subjects::expects_ids`], or the namespace is the
    /// one the CRI plugin keeps its pods in, whose ids the CRI connection
    /// describes even when none of its calls has come yet (it may run
    /// behind the shims' in the capture: a new connection waits until both
    /// sides were heard, each connection in its own order).
    pub fn expects_ids_in(&self, namespace: Option<&str>) -> bool {
        self.expects_ids() || namespace == Some(CRI_NAMESPACE)
    }

    /// The call at `key` is over or forgotten.
    fn forget(&mut self, key: &(ConnId, u32)) -> Option<Call> {
        let call = self.calls.remove(key)?;
        if call.creating {
            self.creating -= 1;
        }
        Some(call)
    }

    /// The id the call on `stream` of `conn`, in containerd `namespace`,
    /// named (by an id field, or the id its response gave) while nothing
    /// describes it yet, and something may describe it soon
    /// ([`Subjects::expects_ids_in`]).
    pub fn unresolved(&self, conn: ConnId, stream: u32, namespace: Option<&str>) -> Option<String> {
        if !self.expects_ids_in(namespace) {
            return None;
        }
        let call = self.calls.get(&(conn, stream))?;
        if let Some((g, s)) = &call.cached {
            if *g == self.generation && !s.is_empty() {
                return None;
            }
        }
        let known = |id: &Option<String>| id.as_deref().is_some_and(|id| self.knows(id));
        if known(&call.created)
            || known(&call.about)
            || call.pod.as_ref().is_some_and(|p| p.is_known())
        {
            return None;
        }
        call.created.clone().or_else(|| call.about.clone())
    }

    /// Whether the map describes sandbox or container `id`.
    pub fn knows(&self, id: &str) -> bool {
        self.sandboxes.contains_key(id) || self.containers.contains_key(id)
    }

    /// The subject of an id alone (a sandbox or a container).
    pub fn of_id(&self, id: &str) -> Subject {
        if let Some(s) = self.sandboxes.get(id) {
            return Subject {
                pod: Some(s.pod.clone()),
                container: None,
                sandbox_id: Some(s.id.clone()),
            };
        }
        if let Some(c) = self.containers.get(id) {
            let pod = match self.sandboxes.get(&*c.sandbox_id) {
                Some(s) if !c.pod.is_known() => &s.pod,
                _ => &c.pod,
            };
            return Subject {
                pod: pod.is_known().then(|| pod.clone()),
                container: Some(c.r.clone()),
                sandbox_id: (!c.sandbox_id.is_empty()).then(|| c.sandbox_id.clone()),
            };
        }
        Subject::default()
    }

    fn subject_of_call(&self, key: &(ConnId, u32)) -> Subject {
        let Some(call) = self.calls.get(key) else {
            return Subject::default();
        };
        // What the call created is its subject (a container of the sandbox
        // it named, or the sandbox of the pod it named).
        if let Some(id) = &call.created {
            let s = self.of_id(id);
            if !s.is_empty() {
                return s;
            }
        }
        if let Some(id) = &call.about {
            let s = self.of_id(id);
            if !s.is_empty() {
                return s;
            }
        }
        Subject {
            pod: call.pod.clone().filter(|p| p.is_known()),
            ..Subject::default()
        }
    }

    /// The response of the call at `key` gave `id` to what it created.
    fn created(&mut self, key: &(ConnId, u32), id: &str) {
        let Some(call) = self.calls.get(key) else {
            return;
        };
        match (&call.container_name, &call.about, &call.pod) {
            // CreateContainer: a container of the sandbox it named.
            (Some(name), Some(sandbox), _) => {
                let c = ContainerInfo {
                    id: id.to_owned(),
                    name: name.clone(),
                    sandbox_id: sandbox.clone(),
                    pod: PodMeta::default(),
                };
                self.put_container(c.view());
            }
            // RunPodSandbox: the sandbox of the pod it named.
            (None, None, Some(pod)) if pod.is_known() => {
                let pod = PodMeta::clone(pod);
                self.put_sandbox(id, pod.view());
            }
            _ => {}
        }
    }

    /// Sandbox `id` of `pod` was described now. What the map holds is
    /// compared, not copied again (a relist describes every pod each
    /// second): only a new or changed description is stored.
    fn put_sandbox(&mut self, id: &str, pod: PodView<'_>) {
        if id.is_empty() {
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        if let Some(e) = self.sandboxes.get_mut(id) {
            e.seq = seq;
            // What this description leaves out stays as it was.
            if pod.is_known() && !pod.is(&e.pod) {
                e.pod = Arc::new(pod.owned());
                self.generation += 1;
            }
            let id = e.id.clone();
            self.aged(seq, true, id);
            return;
        }
        self.generation += 1;
        let id: Arc<str> = Arc::from(id);
        let entry = Sandbox {
            id: id.clone(),
            pod: Arc::new(pod.owned()),
            seq,
        };
        self.sandboxes.insert(id.clone(), entry);
        self.aged(seq, true, id);
        self.bound();
    }

    /// Container `c` was described now (see [`Subjects::put_sandbox`]).
    fn put_container(&mut self, c: ContainerView<'_>) {
        if c.id.is_empty() {
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        if let Some(e) = self.containers.get_mut(&*c.id) {
            e.seq = seq;
            // What this description leaves out stays as it was.
            let mut changed = false;
            if !c.name.is_empty() && e.r.name.as_deref() != Some(&*c.name) {
                e.r = Arc::new(ContainerRef {
                    id: c.id.into_owned(),
                    name: Some(c.name.into_owned()),
                });
                changed = true;
            }
            if !c.sandbox_id.is_empty() && *e.sandbox_id != *c.sandbox_id {
                e.sandbox_id = Arc::from(&*c.sandbox_id);
                changed = true;
            }
            if c.pod.is_known() && !c.pod.is(&e.pod) {
                e.pod = Arc::new(c.pod.owned());
                changed = true;
            }
            self.generation += u64::from(changed);
            let id = e.id.clone();
            self.aged(seq, false, id);
            return;
        }
        self.generation += 1;
        let id: Arc<str> = Arc::from(&*c.id);
        let entry = Container {
            id: id.clone(),
            r: Arc::new(ContainerRef {
                id: c.id.into_owned(),
                name: (!c.name.is_empty()).then(|| c.name.into_owned()),
            }),
            sandbox_id: Arc::from(&*c.sandbox_id),
            pod: Arc::new(c.pod.owned()),
            seq,
        };
        self.containers.insert(id.clone(), entry);
        self.aged(seq, false, id);
        self.bound();
    }

    /// Whether the entry `id` (a sandbox or a container) was last
    /// described at `seq`.
    fn is_current(&self, seq: u64, sandbox: bool, id: &str) -> bool {
        match sandbox {
            true => self.sandboxes.get(id).is_some_and(|e| e.seq == seq),
            false => self.containers.get(id).is_some_and(|e| e.seq == seq),
        }
    }

    /// Entry `id` was described at `seq`: its place in the age order. Stale
    /// places are dropped once they outnumber the live ones, so the order
    /// holds at most twice the entries and costs O(1) per description.
    fn aged(&mut self, seq: u64, sandbox: bool, id: Arc<str>) {
        self.by_age.push_back((seq, sandbox, id));
        self.compact_ages();
    }

    /// Drops the stale places of the age order when they outnumber the live
    /// entries.
    fn compact_ages(&mut self) {
        let live = self.sandboxes.len() + self.containers.len();
        if self.by_age.len() <= 2 * live {
            return;
        }
        let mut ages = std::mem::take(&mut self.by_age);
        ages.retain(|(seq, sandbox, id)| self.is_current(*seq, *sandbox, id));
        self.by_age = ages;
    }

    fn bound(&mut self) {
        while self.sandboxes.len() + self.containers.len() > MAX_ENTRIES {
            let Some((seq, sandbox, id)) = self.by_age.pop_front() else {
                return;
            };
            if !self.is_current(seq, sandbox, &id) {
                continue;
            }
            if sandbox {
                self.sandboxes.remove(&id);
            } else {
                self.containers.remove(&id);
            }
            self.stats.evicted += 1;
            self.generation += 1;
        }
    }

    /// `id` (a sandbox, with its containers, or a container) is gone: it
    /// goes [`REMOVAL_GRACE_NS`] from now (at most [`MAX_ENTRIES`] wait).
    fn remove(&mut self, id: &str) {
        if !self.sandboxes.contains_key(id) && !self.containers.contains_key(id) {
            return;
        }
        if self.doomed.len() >= MAX_ENTRIES {
            if let Some((_, old)) = self.doomed.pop_front() {
                self.remove_now(&old);
            }
        }
        self.doomed.push_back((self.now, id.to_owned()));
    }

    fn remove_now(&mut self, id: &str) {
        self.generation += 1;
        if self.sandboxes.remove(id).is_some() {
            let gone: Vec<Arc<str>> = self
                .containers
                .iter()
                .filter(|(_, c)| &*c.sandbox_id == id)
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                self.containers.remove(&k);
            }
        } else {
            self.containers.remove(id);
        }
        self.compact_ages();
    }

    /// A complete list of sandboxes (or containers) answered a request made
    /// at `since`: those described before and absent from it are gone.
    fn relist(&mut self, sandboxes: bool, listed: &HashSet<&str>, since: u64) {
        let gone: Vec<Arc<str>> = if sandboxes {
            self.sandboxes
                .iter()
                .filter(|(id, s)| s.seq < since && !listed.contains(&***id))
                .map(|(id, _)| id.clone())
                .collect()
        } else {
            self.containers
                .iter()
                .filter(|(id, c)| c.seq < since && !listed.contains(&***id))
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in gone {
            self.remove(&id);
        }
    }
}

/// What a request says, into its call.
fn absorb(call: &mut Call, said: Said) {
    if said.about.is_some() {
        call.about = said.about;
    }
    if let Some(pod) = said.pod {
        call.pod = Some(Arc::new(pod));
    }
    if said.container_name.is_some() {
        call.container_name = said.container_name;
    }
    call.filtered |= said.filtered;
    call.removes |= said.removes;
}

#[cfg(test)]
mod tests;
