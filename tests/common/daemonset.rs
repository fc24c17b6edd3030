//! What `deploy/kubernetes/02-daemonset.yaml` grants its container, read from the file itself,
//! and the same grants as `podman run` flags: tests run the image with exactly these, so the
//! manifest's privileges are proven rather than only written.
//!
//! YAML is read by the PyYAML of the test venv (a dependency of kubernetes-validate there) and
//! handed over as JSON: no YAML crate for one file.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{describe_output, run_bounded, COMMAND};

/// Where scripts/install-deps.sh makes the test venv (`OTEL_VENV` overrides), as in
/// [`super::otel`].
fn venv() -> PathBuf {
    std::env::var_os("OTEL_VENV").map_or_else(|| PathBuf::from(super::otel::VENV), PathBuf::from)
}

/// An executable of the test venv; panics with the fix when it is missing.
pub fn venv_bin(name: &str) -> PathBuf {
    let bin = venv().join("bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/install-deps.sh (it makes the test venv)",
        bin.display()
    );
    bin
}

/// The repository's `deploy/` folder.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// The documents of a YAML file, as JSON values.
pub fn yaml_documents(path: &Path) -> Vec<Value> {
    let mut cmd = Command::new(venv_bin("python3"));
    cmd.args([
        "-I",
        "-c",
        "import json, sys, yaml\n\
         json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)",
    ])
    .arg(path);
    let out = run_bounded(&mut cmd, "PyYAML", COMMAND);
    assert!(
        out.status.success(),
        "cannot read {} as YAML\n{}",
        path.display(),
        describe_output(&out)
    );
    match serde_json::from_slice(&out.stdout).expect("PyYAML's JSON") {
        Value::Array(docs) => docs,
        other => panic!("not a list of documents: {other}"),
    }
}

/// A hostPath volume mounted into the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub host: String,
    pub container: String,
    pub read_only: bool,
}

/// The container's seccomp profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seccomp {
    /// The container runtime's default profile.
    RuntimeDefault,
    Unconfined,
    /// A profile file on the node.
    Localhost(String),
}

/// An environment variable of the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    /// The downward API: a field of the pod (`spec.nodeName`).
    Field(String),
}

/// Everything the DaemonSet's pod grants its one container.
#[derive(Clone, Debug)]
pub struct Grants {
    pub host_pid: bool,
    pub host_network: bool,
    pub privileged: bool,
    pub read_only_root: bool,
    pub run_as_user: Option<u64>,
    pub drop_all: bool,
    /// Added capabilities, as written (`BPF`, `SYS_PTRACE`).
    pub caps: Vec<String>,
    pub seccomp: Option<Seccomp>,
    pub mounts: Vec<Mount>,
    pub env: Vec<(String, EnvValue)>,
    pub image: String,
    pub args: Vec<String>,
}

/// The DaemonSet document of `deploy/kubernetes/02-daemonset.yaml`.
pub fn daemonset() -> Value {
    let path = deploy_dir().join("kubernetes/02-daemonset.yaml");
    yaml_documents(&path)
        .into_iter()
        .find(|d| d["kind"] == "DaemonSet")
        .unwrap_or_else(|| panic!("{} holds no DaemonSet", path.display()))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Grants {
    /// The grants of the DaemonSet's only container.
    pub fn of(ds: &Value) -> Grants {
        let pod = &ds["spec"]["template"]["spec"];
        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "one container: {containers:?}");
        let c = &containers[0];
        let sc = &c["securityContext"];
        // The pod's securityContext is the default of the container's.
        let field = |name: &str| {
            let own = &sc[name];
            if own.is_null() {
                pod["securityContext"][name].clone()
            } else {
                own.clone()
            }
        };
        let seccomp = field("seccompProfile");
        let seccomp = match seccomp["type"].as_str() {
            None => None,
            Some("RuntimeDefault") => Some(Seccomp::RuntimeDefault),
            Some("Unconfined") => Some(Seccomp::Unconfined),
            Some("Localhost") => Some(Seccomp::Localhost(
                seccomp["localhostProfile"].as_str().unwrap_or("").into(),
            )),
            Some(other) => panic!("unknown seccompProfile type {other}"),
        };
        let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
        let mounts = c["volumeMounts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let name = m["name"].as_str().expect("a mount's name");
                let volume = volumes
                    .iter()
                    .find(|v| v["name"] == name)
                    .unwrap_or_else(|| panic!("no volume {name}"));
                let host = volume["hostPath"]["path"]
                    .as_str()
                    .unwrap_or_else(|| panic!("volume {name} is not a hostPath"));
                Mount {
                    host: host.into(),
                    container: m["mountPath"].as_str().expect("mountPath").into(),
                    read_only: m["readOnly"] == true,
                }
            })
            .collect();
        let env = c["env"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                let name = e["name"].as_str().expect("an env name").to_owned();
                let value = match e["value"].as_str() {
                    Some(v) => EnvValue::Literal(v.into()),
                    None => EnvValue::Field(
                        e["valueFrom"]["fieldRef"]["fieldPath"]
                            .as_str()
                            .unwrap_or_else(|| panic!("env {name}: neither value nor fieldRef"))
                            .into(),
                    ),
                };
                (name, value)
            })
            .collect();
        Grants {
            host_pid: pod["hostPID"] == true,
            host_network: pod["hostNetwork"] == true,
            privileged: sc["privileged"] == true,
            read_only_root: sc["readOnlyRootFilesystem"] == true,
            run_as_user: field("runAsUser").as_u64(),
            drop_all: strings(&sc["capabilities"]["drop"]) == ["ALL"],
            caps: strings(&sc["capabilities"]["add"]),
            seccomp,
            mounts,
            env,
            image: c["image"].as_str().expect("image").into(),
            args: strings(&c["args"]),
        }
    }

    /// These grants less capability `cap`.
    pub fn without_cap(&self, cap: &str) -> Grants {
        let mut g = self.clone();
        let before = g.caps.len();
        g.caps.retain(|c| c != cap);
        assert_eq!(
            g.caps.len() + 1,
            before,
            "{cap} is not granted: {:?}",
            self.caps
        );
        g
    }

    /// The `podman run` flags that grant exactly this: namespaces, capabilities, seccomp,
    /// mounts, user, read-only root. `runtime_default` is the file of the runtime's default
    /// seccomp profile (podman's own, for RuntimeDefault).
    pub fn podman_flags(&self, runtime_default: &Path) -> Vec<String> {
        let mut f: Vec<String> = Vec::new();
        if self.host_pid {
            f.extend(["--pid".into(), "host".into()]);
        }
        if self.host_network {
            f.extend(["--network".into(), "host".into()]);
        }
        if self.privileged {
            f.push("--privileged".into());
        }
        if self.drop_all {
            f.extend(["--cap-drop".into(), "all".into()]);
        }
        for c in &self.caps {
            f.extend(["--cap-add".into(), format!("CAP_{c}")]);
        }
        let seccomp = match &self.seccomp {
            None | Some(Seccomp::RuntimeDefault) => runtime_default.display().to_string(),
            Some(Seccomp::Unconfined) => "unconfined".into(),
            Some(Seccomp::Localhost(p)) => p.clone(),
        };
        f.extend(["--security-opt".into(), format!("seccomp={seccomp}")]);
        for m in &self.mounts {
            let ro = if m.read_only { ":ro" } else { "" };
            f.extend(["-v".into(), format!("{}:{}{ro}", m.host, m.container)]);
        }
        if let Some(uid) = self.run_as_user {
            f.extend(["--user".into(), uid.to_string()]);
        }
        if self.read_only_root {
            f.push("--read-only".into());
        }
        f
    }
}
