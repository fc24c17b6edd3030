//! The operation a request names: Docker's Engine API (the operation ids
//! of its swagger definition, which Podman's compatible API shares) and
//! Podman's libpod API (`/libpod/...`, ids ending in `Libpod`). A call on a
//! libpod path is `/podman/OPERATION`, any other known one
//! `/docker/OPERATION`, whichever server answers it; a path neither table
//! has keeps `METHOD /path` (no id in it is taken for a parameter).
//!
//! Paths are matched after the version prefix (`/v1.41`, `/v4.3.1`) and
//! without the query. In a pattern, `*` is one path segment and `**` one or
//! more (image, plugin and manifest names hold slashes: the servers route
//! them as `{name:.*}`).

/// One route: method, path pattern, operation id.
type Route = (&'static str, &'static str, &'static str);

/// The Docker Engine API (v1.41 and later) and the routes Podman serves
/// under the same names.
const DOCKER: &[Route] = &[
    ("GET", "/_ping", "SystemPing"),
    ("HEAD", "/_ping", "SystemPingHead"),
    ("POST", "/auth", "SystemAuth"),
    ("GET", "/info", "SystemInfo"),
    ("GET", "/version", "SystemVersion"),
    ("GET", "/events", "SystemEvents"),
    ("GET", "/system/df", "SystemDataUsage"),
    ("GET", "/containers/json", "ContainerList"),
    ("POST", "/containers/create", "ContainerCreate"),
    ("POST", "/containers/prune", "ContainerPrune"),
    ("GET", "/containers/*/json", "ContainerInspect"),
    ("GET", "/containers/*/top", "ContainerTop"),
    ("GET", "/containers/*/logs", "ContainerLogs"),
    ("GET", "/containers/*/changes", "ContainerChanges"),
    ("GET", "/containers/*/export", "ContainerExport"),
    ("GET", "/containers/*/stats", "ContainerStats"),
    ("POST", "/containers/*/resize", "ContainerResize"),
    ("POST", "/containers/*/start", "ContainerStart"),
    ("POST", "/containers/*/stop", "ContainerStop"),
    ("POST", "/containers/*/restart", "ContainerRestart"),
    ("POST", "/containers/*/kill", "ContainerKill"),
    ("POST", "/containers/*/update", "ContainerUpdate"),
    ("POST", "/containers/*/rename", "ContainerRename"),
    ("POST", "/containers/*/pause", "ContainerPause"),
    ("POST", "/containers/*/unpause", "ContainerUnpause"),
    ("POST", "/containers/*/attach", "ContainerAttach"),
    ("GET", "/containers/*/attach/ws", "ContainerAttachWebsocket"),
    ("POST", "/containers/*/wait", "ContainerWait"),
    ("DELETE", "/containers/*", "ContainerDelete"),
    ("HEAD", "/containers/*/archive", "ContainerArchiveInfo"),
    ("GET", "/containers/*/archive", "ContainerArchive"),
    ("PUT", "/containers/*/archive", "PutContainerArchive"),
    ("POST", "/containers/*/exec", "ContainerExec"),
    ("POST", "/exec/*/start", "ExecStart"),
    ("POST", "/exec/*/resize", "ExecResize"),
    ("GET", "/exec/*/json", "ExecInspect"),
    ("GET", "/images/json", "ImageList"),
    ("POST", "/build", "ImageBuild"),
    ("POST", "/build/prune", "BuildPrune"),
    ("POST", "/images/create", "ImageCreate"),
    ("GET", "/images/search", "ImageSearch"),
    ("POST", "/images/prune", "ImagePrune"),
    ("GET", "/images/get", "ImageGetAll"),
    ("POST", "/images/load", "ImageLoad"),
    ("GET", "/images/**/json", "ImageInspect"),
    ("GET", "/images/**/history", "ImageHistory"),
    ("POST", "/images/**/push", "ImagePush"),
    ("POST", "/images/**/tag", "ImageTag"),
    ("GET", "/images/**/get", "ImageGet"),
    ("DELETE", "/images/**", "ImageDelete"),
    ("POST", "/commit", "ImageCommit"),
    ("GET", "/distribution/**/json", "DistributionInspect"),
    ("POST", "/session", "Session"),
    ("GET", "/networks", "NetworkList"),
    ("POST", "/networks/create", "NetworkCreate"),
    ("POST", "/networks/prune", "NetworkPrune"),
    ("GET", "/networks/*", "NetworkInspect"),
    ("DELETE", "/networks/*", "NetworkDelete"),
    ("POST", "/networks/*/connect", "NetworkConnect"),
    ("POST", "/networks/*/disconnect", "NetworkDisconnect"),
    ("GET", "/volumes", "VolumeList"),
    ("POST", "/volumes/create", "VolumeCreate"),
    ("POST", "/volumes/prune", "VolumePrune"),
    ("GET", "/volumes/*", "VolumeInspect"),
    ("PUT", "/volumes/*", "VolumeUpdate"),
    ("DELETE", "/volumes/*", "VolumeDelete"),
    ("GET", "/swarm", "SwarmInspect"),
    ("POST", "/swarm/init", "SwarmInit"),
    ("POST", "/swarm/join", "SwarmJoin"),
    ("POST", "/swarm/leave", "SwarmLeave"),
    ("POST", "/swarm/update", "SwarmUpdate"),
    ("GET", "/swarm/unlockkey", "SwarmUnlockkey"),
    ("POST", "/swarm/unlock", "SwarmUnlock"),
    ("GET", "/nodes", "NodeList"),
    ("GET", "/nodes/*", "NodeInspect"),
    ("DELETE", "/nodes/*", "NodeDelete"),
    ("POST", "/nodes/*/update", "NodeUpdate"),
    ("GET", "/services", "ServiceList"),
    ("POST", "/services/create", "ServiceCreate"),
    ("GET", "/services/*", "ServiceInspect"),
    ("DELETE", "/services/*", "ServiceDelete"),
    ("POST", "/services/*/update", "ServiceUpdate"),
    ("GET", "/services/*/logs", "ServiceLogs"),
    ("GET", "/tasks", "TaskList"),
    ("GET", "/tasks/*", "TaskInspect"),
    ("GET", "/tasks/*/logs", "TaskLogs"),
    ("GET", "/secrets", "SecretList"),
    ("POST", "/secrets/create", "SecretCreate"),
    ("GET", "/secrets/*", "SecretInspect"),
    ("DELETE", "/secrets/*", "SecretDelete"),
    ("POST", "/secrets/*/update", "SecretUpdate"),
    ("GET", "/configs", "ConfigList"),
    ("POST", "/configs/create", "ConfigCreate"),
    ("GET", "/configs/*", "ConfigInspect"),
    ("DELETE", "/configs/*", "ConfigDelete"),
    ("POST", "/configs/*/update", "ConfigUpdate"),
    ("GET", "/plugins", "PluginList"),
    ("GET", "/plugins/privileges", "GetPluginPrivileges"),
    ("POST", "/plugins/pull", "PluginPull"),
    ("POST", "/plugins/create", "PluginCreate"),
    ("GET", "/plugins/**/json", "PluginInspect"),
    ("DELETE", "/plugins/**", "PluginDelete"),
    ("POST", "/plugins/**/enable", "PluginEnable"),
    ("POST", "/plugins/**/disable", "PluginDisable"),
    ("POST", "/plugins/**/upgrade", "PluginUpgrade"),
    ("POST", "/plugins/**/push", "PluginPush"),
    ("POST", "/plugins/**/set", "PluginSet"),
];

/// Podman's libpod API (the routes of Podman 4 and later).
const LIBPOD: &[Route] = &[
    ("GET", "/libpod/_ping", "SystemPing"),
    ("HEAD", "/libpod/_ping", "SystemPing"),
    ("GET", "/libpod/info", "SystemInfoLibpod"),
    ("GET", "/libpod/version", "SystemVersionLibpod"),
    ("GET", "/libpod/events", "SystemEventsLibpod"),
    ("GET", "/libpod/system/df", "SystemDataUsageLibpod"),
    ("POST", "/libpod/system/prune", "SystemPruneLibpod"),
    ("POST", "/libpod/system/check", "SystemCheckLibpod"),
    ("POST", "/libpod/containers/create", "ContainerCreateLibpod"),
    ("GET", "/libpod/containers/json", "ContainerListLibpod"),
    (
        "GET",
        "/libpod/containers/showmounted",
        "ContainerShowMountedLibpod",
    ),
    (
        "GET",
        "/libpod/containers/stats",
        "ContainersStatsAllLibpod",
    ),
    ("POST", "/libpod/containers/prune", "ContainerPruneLibpod"),
    ("DELETE", "/libpod/containers/*", "ContainerDeleteLibpod"),
    (
        "GET",
        "/libpod/containers/*/archive",
        "ContainerArchiveLibpod",
    ),
    (
        "PUT",
        "/libpod/containers/*/archive",
        "PutContainerArchiveLibpod",
    ),
    (
        "POST",
        "/libpod/containers/*/attach",
        "ContainerAttachLibpod",
    ),
    (
        "GET",
        "/libpod/containers/*/changes",
        "ContainerChangesLibpod",
    ),
    (
        "POST",
        "/libpod/containers/*/checkpoint",
        "ContainerCheckpointLibpod",
    ),
    ("POST", "/libpod/containers/*/exec", "ContainerExecLibpod"),
    (
        "GET",
        "/libpod/containers/*/exists",
        "ContainerExistsLibpod",
    ),
    (
        "GET",
        "/libpod/containers/*/export",
        "ContainerExportLibpod",
    ),
    (
        "GET",
        "/libpod/containers/*/healthcheck",
        "ContainerHealthcheckLibpod",
    ),
    ("POST", "/libpod/containers/*/init", "ContainerInitLibpod"),
    ("GET", "/libpod/containers/*/json", "ContainerInspectLibpod"),
    ("POST", "/libpod/containers/*/kill", "ContainerKillLibpod"),
    ("GET", "/libpod/containers/*/logs", "ContainerLogsLibpod"),
    ("POST", "/libpod/containers/*/mount", "ContainerMountLibpod"),
    ("POST", "/libpod/containers/*/pause", "ContainerPauseLibpod"),
    (
        "POST",
        "/libpod/containers/*/rename",
        "ContainerRenameLibpod",
    ),
    (
        "POST",
        "/libpod/containers/*/resize",
        "ContainerResizeLibpod",
    ),
    (
        "POST",
        "/libpod/containers/*/restart",
        "ContainerRestartLibpod",
    ),
    (
        "POST",
        "/libpod/containers/*/restore",
        "ContainerRestoreLibpod",
    ),
    ("POST", "/libpod/containers/*/start", "ContainerStartLibpod"),
    ("GET", "/libpod/containers/*/stats", "ContainerStatsLibpod"),
    ("POST", "/libpod/containers/*/stop", "ContainerStopLibpod"),
    ("GET", "/libpod/containers/*/top", "ContainerTopLibpod"),
    (
        "POST",
        "/libpod/containers/*/unmount",
        "ContainerUnmountLibpod",
    ),
    (
        "POST",
        "/libpod/containers/*/unpause",
        "ContainerUnpauseLibpod",
    ),
    (
        "POST",
        "/libpod/containers/*/update",
        "ContainerUpdateLibpod",
    ),
    ("POST", "/libpod/containers/*/wait", "ContainerWaitLibpod"),
    ("GET", "/libpod/exec/*/json", "ExecInspectLibpod"),
    ("POST", "/libpod/exec/*/resize", "ExecResizeLibpod"),
    ("POST", "/libpod/exec/*/start", "ExecStartLibpod"),
    ("GET", "/libpod/generate/kube", "GenerateKubeLibpod"),
    ("GET", "/libpod/generate/*/systemd", "GenerateSystemdLibpod"),
    ("POST", "/libpod/build", "ImageBuildLibpod"),
    ("POST", "/libpod/commit", "ImageCommitLibpod"),
    ("GET", "/libpod/images/export", "ImageExportLibpod"),
    ("POST", "/libpod/images/import", "ImageImportLibpod"),
    ("GET", "/libpod/images/json", "ImageListLibpod"),
    ("POST", "/libpod/images/load", "ImageLoadLibpod"),
    ("POST", "/libpod/images/prune", "ImagePruneLibpod"),
    ("POST", "/libpod/images/pull", "ImagePullLibpod"),
    ("DELETE", "/libpod/images/remove", "ImageDeleteAllLibpod"),
    ("POST", "/libpod/images/scp/**", "ImageScpLibpod"),
    ("GET", "/libpod/images/search", "ImageSearchLibpod"),
    ("DELETE", "/libpod/images/**", "ImageDeleteLibpod"),
    ("GET", "/libpod/images/**/changes", "ImageChangesLibpod"),
    ("GET", "/libpod/images/**/exists", "ImageExistsLibpod"),
    ("GET", "/libpod/images/**/get", "ImageGetLibpod"),
    ("GET", "/libpod/images/**/history", "ImageHistoryLibpod"),
    ("GET", "/libpod/images/**/json", "ImageInspectLibpod"),
    ("POST", "/libpod/images/**/push", "ImagePushLibpod"),
    ("GET", "/libpod/images/**/resolve", "ImageResolveLibpod"),
    ("POST", "/libpod/images/**/tag", "ImageTagLibpod"),
    ("GET", "/libpod/images/**/tree", "ImageTreeLibpod"),
    ("POST", "/libpod/images/**/untag", "ImageUntagLibpod"),
    ("POST", "/libpod/kube/apply", "KubeApplyLibpod"),
    ("POST", "/libpod/play/kube", "PlayKubeLibpod"),
    ("DELETE", "/libpod/play/kube", "PlayKubeDownLibpod"),
    ("POST", "/libpod/manifests/**/add", "ManifestAddLibpod"),
    ("GET", "/libpod/manifests/**/exists", "ManifestExistsLibpod"),
    ("GET", "/libpod/manifests/**/json", "ManifestInspectLibpod"),
    ("POST", "/libpod/manifests/**", "ManifestCreateLibpod"),
    ("PUT", "/libpod/manifests/**", "ManifestModifyLibpod"),
    ("DELETE", "/libpod/manifests/**", "ManifestDeleteLibpod"),
    ("POST", "/libpod/networks/create", "NetworkCreateLibpod"),
    ("GET", "/libpod/networks/json", "NetworkListLibpod"),
    ("POST", "/libpod/networks/prune", "NetworkPruneLibpod"),
    ("DELETE", "/libpod/networks/*", "NetworkDeleteLibpod"),
    ("POST", "/libpod/networks/*/connect", "NetworkConnectLibpod"),
    (
        "POST",
        "/libpod/networks/*/disconnect",
        "NetworkDisconnectLibpod",
    ),
    ("GET", "/libpod/networks/*/exists", "NetworkExistsLibpod"),
    ("GET", "/libpod/networks/*/json", "NetworkInspectLibpod"),
    ("POST", "/libpod/networks/*/update", "NetworkUpdateLibpod"),
    ("POST", "/libpod/pods/create", "PodCreateLibpod"),
    ("GET", "/libpod/pods/json", "PodListLibpod"),
    ("POST", "/libpod/pods/prune", "PodPruneLibpod"),
    ("GET", "/libpod/pods/stats", "PodStatsAllLibpod"),
    ("DELETE", "/libpod/pods/*", "PodDeleteLibpod"),
    ("GET", "/libpod/pods/*/exists", "PodExistsLibpod"),
    ("GET", "/libpod/pods/*/json", "PodInspectLibpod"),
    ("POST", "/libpod/pods/*/kill", "PodKillLibpod"),
    ("POST", "/libpod/pods/*/pause", "PodPauseLibpod"),
    ("POST", "/libpod/pods/*/restart", "PodRestartLibpod"),
    ("POST", "/libpod/pods/*/start", "PodStartLibpod"),
    ("POST", "/libpod/pods/*/stop", "PodStopLibpod"),
    ("GET", "/libpod/pods/*/top", "PodTopLibpod"),
    ("POST", "/libpod/pods/*/unpause", "PodUnpauseLibpod"),
    ("POST", "/libpod/secrets/create", "SecretCreateLibpod"),
    ("GET", "/libpod/secrets/json", "SecretListLibpod"),
    ("DELETE", "/libpod/secrets/*", "SecretDeleteLibpod"),
    ("GET", "/libpod/secrets/*/exists", "SecretExistsLibpod"),
    ("GET", "/libpod/secrets/*/json", "SecretInspectLibpod"),
    ("POST", "/libpod/volumes/create", "VolumeCreateLibpod"),
    ("GET", "/libpod/volumes/json", "VolumeListLibpod"),
    ("POST", "/libpod/volumes/prune", "VolumePruneLibpod"),
    ("DELETE", "/libpod/volumes/*", "VolumeDeleteLibpod"),
    ("GET", "/libpod/volumes/*/exists", "VolumeExistsLibpod"),
    ("GET", "/libpod/volumes/*/export", "VolumeExportLibpod"),
    ("POST", "/libpod/volumes/*/import", "VolumeImportLibpod"),
    ("GET", "/libpod/volumes/*/json", "VolumeInspectLibpod"),
];

/// The path of a request target: without the query, and without a
/// version prefix (`/v1.41`, `/v4.3.1`).
pub fn api_path(target: &str) -> &str {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    let is_version = version.starts_with(|c: char| c.is_ascii_digit())
        && version.chars().all(|c| c.is_ascii_digit() || c == '.');
    match is_version {
        true => &rest[end..],
        false => path,
    }
}

/// Whether path segments `segs` match pattern segments `pat`.
fn matches(pat: &[&str], segs: &[&str]) -> bool {
    match pat.iter().position(|p| *p == "**") {
        None => {
            pat.len() == segs.len()
                && pat
                    .iter()
                    .zip(segs)
                    .all(|(p, s)| *p == *s || (*p == "*" && !s.is_empty()))
        }
        Some(i) => {
            let tail = pat.len() - i - 1;
            segs.len() > i + tail
                && matches(&pat[..i], &segs[..i])
                && matches(&pat[i + 1..], &segs[segs.len() - tail..])
                && segs[i..segs.len() - tail].iter().all(|s| !s.is_empty())
        }
    }
}

/// The operation id, route and API (libpod or not) of `method path`.
fn matched(method: &str, path: &str) -> Option<(&'static str, &'static str, bool)> {
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let libpod = segs.first() == Some(&"libpod");
    let table = if libpod { LIBPOD } else { DOCKER };
    // The route with the most literal segments wins (`/images/json`
    // before `/images/**/json`, `/libpod/images/remove` before
    // `/libpod/images/**`).
    table
        .iter()
        .filter(|(m, _, _)| *m == method)
        .filter_map(|(_, p, op)| {
            let pat: Vec<&str> = p.split('/').skip(1).collect();
            let literal = pat.iter().filter(|s| !s.starts_with('*')).count();
            matches(&pat, &segs).then_some((literal, *op, *p))
        })
        .max_by_key(|(literal, _, _)| *literal)
        .map(|(_, op, route)| (op, route, libpod))
}

/// The name of the call `method target`: `/docker/OPERATION`,
/// `/podman/OPERATION`, or `METHOD /path` for a route neither API has.
pub fn name(method: &str, target: &str) -> String {
    named(method, target).0
}

/// [`name`], and the route the request matched as the API table writes it
/// (the version-less path with `*` for each id or name segment and `**`
/// for a name of several segments: `/containers/*/json`), for metrics and
/// spans that must not carry ids; None for a route neither API has.
pub fn named(method: &str, target: &str) -> (String, Option<&'static str>) {
    match matched(method, api_path(target)) {
        Some((op, route, true)) => (format!("/podman/{op}"), Some(route)),
        Some((op, route, false)) => (format!("/docker/{op}"), Some(route)),
        None => {
            let path = target.split(['?', '#']).next().unwrap_or_default();
            (format!("{method} {path}"), None)
        }
    }
}

#[cfg(test)]
mod tests;
