//! `--pod NAMESPACE/NAME` and `--container ID_OR_NAME`, applied once in the
//! pipeline to the subject every item carries ([`crate::subjects`]), so they
//! keep a pod's or container's calls on every layer alike: the CRI, the
//! shim's Task calls and events, containerd's services. Items whose call is
//! about no single pod or container (lists, gaps, notes, calls whose subject
//! is unknown) are not shown while a filter is set.

use super::method_filter::matches;
use crate::subjects::Subject;

/// Fewest hex characters taken as a container id prefix rather than a name.
pub const MIN_ID_PREFIX: usize = 4;

/// A `--container` value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ContainerPattern {
    /// An id prefix (4 or more hex characters).
    Id(String),
    /// A container name, which may match containers in several pods.
    Name(String),
}

/// The filter; empty when neither option was given.
#[derive(Clone, Debug, Default)]
pub struct SubjectFilter {
    pods: Vec<String>,
    containers: Vec<ContainerPattern>,
}

/// A `--pod` value: `NAMESPACE/NAME`, either part a glob.
pub fn parse_pod(v: &str) -> Result<String, String> {
    match v.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => Ok(v.to_owned()),
        _ => Err(format!(
            "'{v}' is not NAMESPACE/NAME (globs allowed, e.g. 'default/web-*' or '*/coredns-*')"
        )),
    }
}

impl SubjectFilter {
    /// A filter from `--pod` (already checked by [`parse_pod`]) and
    /// `--container` values.
    pub fn new(pods: &[String], containers: &[String]) -> Self {
        let containers = containers
            .iter()
            .map(|c| {
                let hex = c.len() >= MIN_ID_PREFIX && c.bytes().all(|b| b.is_ascii_hexdigit());
                match hex {
                    true => ContainerPattern::Id(c.to_ascii_lowercase()),
                    false => ContainerPattern::Name(c.clone()),
                }
            })
            .collect();
        SubjectFilter {
            pods: pods.to_vec(),
            containers,
        }
    }

    /// Whether the filter shows everything.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty() && self.containers.is_empty()
    }

    /// Whether an item about `subject` is shown: its pod matches a `--pod`
    /// (when any is given) and its container a `--container` (likewise).
    pub fn accepts(&self, subject: &Subject) -> bool {
        let pod_ok = self.pods.is_empty()
            || subject.pod.as_ref().is_some_and(|p| {
                let full = format!("{}/{}", p.namespace, p.name);
                !p.name.is_empty() && self.pods.iter().any(|g| matches(g, &full))
            });
        let container_ok = self.containers.is_empty()
            || subject.container.as_ref().is_some_and(|c| {
                self.containers.iter().any(|pat| match pat {
                    ContainerPattern::Id(prefix) => c.id.starts_with(prefix.as_str()),
                    ContainerPattern::Name(n) => c.name.as_deref() == Some(n.as_str()),
                })
            });
        pod_ok && container_ok
    }
}

#[cfg(test)]
mod tests;
