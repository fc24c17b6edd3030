//! What one message says about pods and containers, read from the protobuf
//! wire by field number (no schema needed, the same for every version of a
//! service that kept its numbers): the CRI (`runtime.v1` and `v1alpha2`,
//! numbered alike), the shim's Task API and its forwarded events, and
//! containerd's Containers and Tasks services.
//!
//! Everything here is untrusted input: fields are read with the bounded
//! wire reader, strings are cut to [`MAX_TEXT`] bytes and lists to
//! [`MAX_ITEMS`] entries.

use std::borrow::Cow;

use crate::protobuf::wire::{next_field, Wire};

/// Longest name, namespace, uid or id kept, in bytes.
pub const MAX_TEXT: usize = 253;
/// Most items read from one list response.
pub const MAX_ITEMS: usize = 4096;

/// A pod as its metadata names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodMeta {
    /// Kubernetes namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
}

impl PodMeta {
    /// Whether anything names the pod.
    pub fn is_known(&self) -> bool {
        !(self.namespace.is_empty() && self.name.is_empty() && self.uid.is_empty())
    }

    /// It as a [`PodView`], borrowed.
    pub fn view(&self) -> PodView<'_> {
        PodView {
            namespace: Cow::Borrowed(&self.namespace),
            name: Cow::Borrowed(&self.name),
            uid: Cow::Borrowed(&self.uid),
        }
    }
}

/// A sandbox (a pod's) as a message describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxInfo {
    /// The sandbox id.
    pub id: String,
    /// Its pod.
    pub pod: PodMeta,
}

/// A container as a message describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container id.
    pub id: String,
    /// Its name in the pod (CRI metadata, or the label).
    pub name: String,
    /// Its sandbox, when the message says.
    pub sandbox_id: String,
    /// Its pod, when the message's labels say.
    pub pod: PodMeta,
}

impl ContainerInfo {
    /// It as a [`ContainerView`], borrowed.
    pub fn view(&self) -> ContainerView<'_> {
        ContainerView {
            id: Cow::Borrowed(&self.id),
            name: Cow::Borrowed(&self.name),
            sandbox_id: Cow::Borrowed(&self.sandbox_id),
            pod: self.pod.view(),
        }
    }
}

/// What a message says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Said {
    /// The id of the sandbox or container the call is about (an id field
    /// of the request; a shim's `id`, which may be either).
    pub about: Option<String>,
    /// The call is about a pod named by its metadata (RunPodSandbox,
    /// PullImage's sandbox config): its pod until the id is known.
    pub pod: Option<PodMeta>,
    /// The container name a CreateContainer asks for, in `about`'s sandbox.
    pub container_name: Option<String>,
    /// Sandboxes described (responses, lists).
    pub sandboxes: Vec<SandboxInfo>,
    /// Containers described.
    pub containers: Vec<ContainerInfo>,
    /// An id the response gives to what the request created.
    pub created_id: Option<String>,
    /// A complete list of sandboxes (no filter in the request was seen to
    /// narrow it: only the pipeline, which pairs them, can say).
    pub sandbox_list: bool,
    /// A complete list of containers, likewise.
    pub container_list: bool,
    /// The request asks for a filtered list.
    pub filtered: bool,
    /// A removal of `about` (RemovePodSandbox, RemoveContainer, containerd's
    /// Containers/Delete): the entry goes once the call succeeds.
    pub removes: bool,
}

/// Which service a method belongs to, and the method.
fn split(path: &str) -> Option<(&str, &str)> {
    let path = path.strip_prefix('/')?;
    path.split_once('/')
}

/// Whether `path` is a CRI status call (PodSandboxStatus, ContainerStatus),
/// whose response describes only the id its request named.
pub fn is_status(path: &str) -> bool {
    matches!(
        split(path),
        Some((
            "runtime.v1.RuntimeService" | "runtime.v1alpha2.RuntimeService",
            "PodSandboxStatus" | "ContainerStatus"
        ))
    )
}

/// What message `payload` (a request if `request`) of a call on `path` says.
pub fn said(path: &str, request: bool, payload: &[u8]) -> Said {
    let mut out = Said::default();
    if !request {
        match listed(path, payload) {
            Some(Listed::Sandboxes(v)) => {
                out.sandboxes = v.into_iter().map(SandboxView::owned).collect();
                out.sandbox_list = true;
                return out;
            }
            Some(Listed::Containers(v)) => {
                out.containers = v.into_iter().map(ContainerView::owned).collect();
                out.container_list = true;
                return out;
            }
            None => {}
        }
    }
    let Some((service, method)) = split(path) else {
        return out;
    };
    match service {
        "runtime.v1.RuntimeService" | "runtime.v1alpha2.RuntimeService" => {
            runtime(method, request, payload, &mut out)
        }
        "runtime.v1.ImageService" | "runtime.v1alpha2.ImageService"
            if request && method == "PullImage" =>
        {
            // PullImageRequest.sandbox_config (3): the pod it is for.
            out.pod = message(payload, 3).map(sandbox_config_pod);
        }
        "containerd.task.v2.Task" if request => {
            // Every Task request's field 1 is the task id: a sandbox's or
            // a container's. A deleted task's container still exists for
            // the CRI (RemoveContainer comes after), so nothing is removed.
            out.about = text(payload, 1);
        }
        "containerd.services.events.ttrpc.v1.Events" if request && method == "Forward" => {
            out.about = message(payload, 1).and_then(event_container);
        }
        // Every Tasks request but List's and Metrics' starts with container_id.
        "containerd.services.tasks.v1.Tasks"
            if request && !matches!(method, "List" | "Metrics") =>
        {
            out.about = text(payload, 1);
        }
        "containerd.services.containers.v1.Containers" => {
            containers_service(method, request, payload, &mut out)
        }
        _ => {}
    }
    out
}

fn runtime(method: &str, request: bool, payload: &[u8], out: &mut Said) {
    match (method, request) {
        ("RunPodSandbox", true) => {
            // RunPodSandboxRequest.config (1).
            out.pod = message(payload, 1).map(sandbox_config_pod);
        }
        ("RunPodSandbox", false) | ("CreateContainer", false) => {
            // RunPodSandboxResponse.pod_sandbox_id (1),
            // CreateContainerResponse.container_id (1).
            out.created_id = text(payload, 1);
        }
        ("CreateContainer", true) => {
            out.about = text(payload, 1);
            // config (2) . metadata (1) . name (1)
            out.container_name = message(payload, 2)
                .and_then(|c| message(c, 1))
                .and_then(|m| text(m, 1));
            if out.about.is_none() {
                out.pod = message(payload, 3).map(sandbox_config_pod);
            }
        }
        (
            "StopPodSandbox" | "RemovePodSandbox" | "PodSandboxStatus" | "PodSandboxStats"
            | "PortForward",
            true,
        ) => {
            out.about = text(payload, 1);
            out.removes = method == "RemovePodSandbox";
        }
        (
            "StartContainer"
            | "StopContainer"
            | "RemoveContainer"
            | "ContainerStatus"
            | "UpdateContainerResources"
            | "ExecSync"
            | "Exec"
            | "Attach"
            | "ContainerStats"
            | "ReopenContainerLog"
            | "CheckpointContainer",
            true,
        ) => {
            out.about = text(payload, 1);
            out.removes = method == "RemoveContainer";
        }
        ("ListPodSandbox" | "ListContainers", true) => {
            out.filtered = message(payload, 1).is_some_and(|f| !f.is_empty());
        }
        ("PodSandboxStatus", false) => {
            // PodSandboxStatusResponse.status (1): id (1), metadata (2), labels (7).
            if let Some(s) = message(payload, 1) {
                out.sandboxes.extend(sandbox(s, 2));
            }
        }
        ("ContainerStatus", false) => {
            // ContainerStatusResponse.status (1): id (1), metadata (2), labels (12).
            if let Some(s) = message(payload, 1) {
                out.containers.extend(cri_container(s, None, 2, 12));
            }
        }
        _ => {}
    }
}

fn containers_service(method: &str, request: bool, payload: &[u8], out: &mut Said) {
    match (method, request) {
        ("Get" | "Delete", true) => {
            // GetContainerRequest.id (1), DeleteContainerRequest.id (1).
            out.about = text(payload, 1);
            out.removes = method == "Delete";
        }
        ("Get" | "ListStream" | "Create" | "Update", _) => {
            // {Get,Create,Update}ContainerResponse.container (1),
            // ListContainerMessage.container (1), and the requests of Create
            // and Update carry one the same way.
            if let Some(c) = message(payload, 1) {
                labelled(c, out);
                if request {
                    out.about = text(c, 1);
                }
            }
        }
        ("List", false) => {
            for c in messages(payload, 1).take(MAX_ITEMS) {
                labelled(c, out);
            }
        }
        _ => {}
    }
}

/// A containerd Container (id 1, labels 2) with the CRI plugin's labels:
/// a sandbox or a container of a pod.
fn labelled(c: &[u8], out: &mut Said) {
    let Some(id) = text(c, 1) else { return };
    let mut pod = PodMeta::default();
    let (mut name, mut kind) = (String::new(), String::new());
    for (k, v) in map_entries(c, 2) {
        match k {
            b"io.kubernetes.pod.namespace" => pod.namespace = owned(v),
            b"io.kubernetes.pod.name" => pod.name = owned(v),
            b"io.kubernetes.pod.uid" => pod.uid = owned(v),
            b"io.kubernetes.container.name" => name = owned(v),
            b"io.cri-containerd.kind" => kind = owned(v),
            _ => {}
        }
    }
    if !pod.is_known() {
        return;
    }
    match kind.as_str() {
        "sandbox" => out.sandboxes.push(SandboxInfo { id, pod }),
        _ => out.containers.push(ContainerInfo {
            id,
            name,
            sandbox_id: String::new(),
            pod,
        }),
    }
}

/// The container id of a forwarded event's envelope (event (4) is an Any
/// whose value (2) holds a Task* event, container_id (1)).
fn event_container(envelope: &[u8]) -> Option<String> {
    let any = message(envelope, 4)?;
    let type_url = text(any, 1)?;
    if !type_url.contains("containerd.events.Task") || type_url.ends_with("TaskIO") {
        return None;
    }
    text(message(any, 2)?, 1)
}

/// PodSandboxConfig.metadata (1): name (1), uid (2), namespace (3).
fn sandbox_config_pod(config: &[u8]) -> PodMeta {
    message(config, 1).map(metadata_pod).unwrap_or_default()
}

fn metadata_pod(m: &[u8]) -> PodMeta {
    metadata_view(m).owned()
}

/// A sandbox with its id (1) and metadata (`meta`).
fn sandbox(s: &[u8], meta: u32) -> Option<SandboxInfo> {
    sandbox_view(s, meta).map(SandboxView::owned)
}

/// A CRI container: id (1), its sandbox (`sandbox`), metadata (`meta`,
/// name 1) and labels (`labels`, the pod's).
fn cri_container(c: &[u8], sandbox: Option<u32>, meta: u32, labels: u32) -> Option<ContainerInfo> {
    container_view(c, sandbox, meta, labels).map(ContainerView::owned)
}

/// A pod as a message names it, borrowed from the message where its text
/// is UTF-8 (a relist names every pod each second: most are known, and
/// compared, not copied).
#[derive(Debug, Default)]
pub struct PodView<'a> {
    /// Kubernetes namespace.
    pub namespace: Cow<'a, str>,
    /// Pod name.
    pub name: Cow<'a, str>,
    /// Pod uid.
    pub uid: Cow<'a, str>,
}

impl PodView<'_> {
    /// Whether anything names the pod.
    pub fn is_known(&self) -> bool {
        !(self.namespace.is_empty() && self.name.is_empty() && self.uid.is_empty())
    }

    /// Whether it names `p` exactly.
    pub fn is(&self, p: &PodMeta) -> bool {
        self.namespace == p.namespace && self.name == p.name && self.uid == p.uid
    }

    /// An owned copy.
    pub fn owned(self) -> PodMeta {
        PodMeta {
            namespace: self.namespace.into_owned(),
            name: self.name.into_owned(),
            uid: self.uid.into_owned(),
        }
    }
}

/// A sandbox a list names, borrowed from it.
#[derive(Debug)]
pub struct SandboxView<'a> {
    /// The sandbox id.
    pub id: Cow<'a, str>,
    /// Its pod.
    pub pod: PodView<'a>,
}

impl SandboxView<'_> {
    /// An owned copy.
    pub fn owned(self) -> SandboxInfo {
        SandboxInfo {
            id: self.id.into_owned(),
            pod: self.pod.owned(),
        }
    }
}

/// A container a list names, borrowed from it.
#[derive(Debug)]
pub struct ContainerView<'a> {
    /// The container id.
    pub id: Cow<'a, str>,
    /// Its name in the pod ("" when not said).
    pub name: Cow<'a, str>,
    /// Its sandbox ("" when not said).
    pub sandbox_id: Cow<'a, str>,
    /// Its pod, when its labels say.
    pub pod: PodView<'a>,
}

impl ContainerView<'_> {
    /// An owned copy.
    pub fn owned(self) -> ContainerInfo {
        ContainerInfo {
            id: self.id.into_owned(),
            name: self.name.into_owned(),
            sandbox_id: self.sandbox_id.into_owned(),
            pod: self.pod.owned(),
        }
    }
}

/// The items of a CRI list response.
#[derive(Debug)]
pub enum Listed<'a> {
    /// ListPodSandbox's.
    Sandboxes(Vec<SandboxView<'a>>),
    /// ListContainers'.
    Containers(Vec<ContainerView<'a>>),
}

/// The items of `payload` when it is the response of a CRI list call on
/// `path` (ListPodSandbox, ListContainers), at most [`MAX_ITEMS`].
pub fn listed<'a>(path: &str, payload: &'a [u8]) -> Option<Listed<'a>> {
    let (service, method) = split(path)?;
    if !matches!(
        service,
        "runtime.v1.RuntimeService" | "runtime.v1alpha2.RuntimeService"
    ) {
        return None;
    }
    let items = || messages(payload, 1).take(MAX_ITEMS);
    match method {
        // ListPodSandboxResponse.items (1): id (1), metadata (2).
        "ListPodSandbox" => Some(Listed::Sandboxes(
            items().filter_map(|i| sandbox_view(i, 2)).collect(),
        )),
        // ListContainersResponse.containers (1): id (1), pod_sandbox_id
        // (2), metadata (3), labels (8).
        "ListContainers" => Some(Listed::Containers(
            items()
                .filter_map(|c| container_view(c, Some(2), 3, 8))
                .collect(),
        )),
        _ => None,
    }
}

/// `b` as text, cut to [`MAX_TEXT`] bytes, borrowed when it is UTF-8.
fn cow(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(&b[..b.len().min(MAX_TEXT)])
}

/// A text field's bytes as text ([`cow`]); empty (proto3's default) when
/// absent.
fn text_or_empty(b: Option<&[u8]>) -> Cow<'_, str> {
    b.map(cow).unwrap_or_default()
}

/// PodSandboxMetadata: name (1), uid (2), namespace (3).
fn metadata_view(m: &[u8]) -> PodView<'_> {
    let [name, uid, namespace] = last_of(m, [1, 2, 3]);
    PodView {
        name: text_or_empty(name),
        uid: text_or_empty(uid),
        namespace: text_or_empty(namespace),
    }
}

fn sandbox_view(s: &[u8], meta: u32) -> Option<SandboxView<'_>> {
    let [id, meta] = last_of(s, [1, meta]);
    Some(SandboxView {
        id: id.filter(|b| !b.is_empty()).map(cow)?,
        pod: meta.map(metadata_view).unwrap_or_default(),
    })
}

/// A container as a list or status names it: id (1), its sandbox's id
/// (`sandbox`, when it has one), metadata (`meta`: name (1)), labels
/// (`labels`, the pod's). One pass over its fields: a relist names every
/// container each second.
fn container_view(
    c: &[u8],
    sandbox: Option<u32>,
    meta: u32,
    labels: u32,
) -> Option<ContainerView<'_>> {
    let (mut id, mut sandbox_id, mut metadata) = (None, None, None);
    let mut pod = PodView::default();
    let mut entries = 0;
    let mut rest = c;
    while let Some((n, w)) = next_field(&mut rest) {
        let Wire::Len(b) = w else { continue };
        match n {
            1 => id = Some(b),
            n if Some(n) == sandbox => sandbox_id = Some(b),
            n if n == meta => metadata = Some(b),
            n if n == labels && entries < MAX_ITEMS => {
                entries += 1;
                match last_of(b, [1, 2]) {
                    [Some(b"io.kubernetes.pod.namespace"), v] => pod.namespace = text_or_empty(v),
                    [Some(b"io.kubernetes.pod.name"), v] => pod.name = text_or_empty(v),
                    [Some(b"io.kubernetes.pod.uid"), v] => pod.uid = text_or_empty(v),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let name = metadata.and_then(|m| last_of(m, [1])[0]);
    Some(ContainerView {
        id: id.filter(|b| !b.is_empty()).map(cow)?,
        sandbox_id: text_or_empty(sandbox_id),
        name: text_or_empty(name),
        pod,
    })
}

/// The last length-delimited field of each of `numbers` in `buf` (proto3:
/// the last one wins), in one pass.
fn last_of<const N: usize>(buf: &[u8], numbers: [u32; N]) -> [Option<&[u8]>; N] {
    let mut found = [None; N];
    let mut rest = buf;
    while let Some((n, w)) = next_field(&mut rest) {
        if let (Some(i), Wire::Len(b)) = (numbers.iter().position(|&x| x == n), w) {
            found[i] = Some(b);
        }
    }
    found
}

/// The fields numbered `number` of `buf` that are length-delimited.
fn lens(buf: &[u8], number: u32) -> impl Iterator<Item = &[u8]> {
    let mut rest = buf;
    std::iter::from_fn(move || loop {
        let (n, w) = next_field(&mut rest)?;
        if let (true, Wire::Len(b)) = (n == number, w) {
            return Some(b);
        }
    })
}

/// The last field `number` as a message (proto3: the last one wins).
fn message(buf: &[u8], number: u32) -> Option<&[u8]> {
    lens(buf, number).last()
}

fn messages(buf: &[u8], number: u32) -> impl Iterator<Item = &[u8]> {
    lens(buf, number)
}

/// The last field `number` as text, cut to [`MAX_TEXT`] bytes; None when
/// empty (proto3's default means unset).
fn text(buf: &[u8], number: u32) -> Option<String> {
    let b = message(buf, number)?;
    if b.is_empty() {
        return None;
    }
    Some(owned(b))
}

/// `b` as text, cut to [`MAX_TEXT`] bytes.
fn owned(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(MAX_TEXT)]).into_owned()
}

/// The entries of map field `number` (key 1, value 2; empty when absent),
/// at most [`MAX_ITEMS`], as they are on the wire: only the few a caller
/// keeps become text.
fn map_entries(buf: &[u8], number: u32) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
    lens(buf, number)
        .take(MAX_ITEMS)
        .map(|e| (message(e, 1).unwrap_or(&[]), message(e, 2).unwrap_or(&[])))
}

#[cfg(test)]
mod tests;
