use super::*;
use crate::subjects::{extract::PodMeta, ContainerRef};

fn subject(ns: &str, pod: &str, ctr: Option<(&str, &str)>) -> Subject {
    Subject {
        pod: Some(std::sync::Arc::new(PodMeta {
            namespace: ns.into(),
            name: pod.into(),
            uid: String::new(),
        })),
        container: ctr.map(|(id, name)| {
            std::sync::Arc::new(ContainerRef {
                id: id.into(),
                name: Some(name.into()),
            })
        }),
        sandbox_id: None,
    }
}

#[test]
fn pods_by_namespace_and_name_globs() {
    let f = SubjectFilter::new(&["default/web-*".into()], &[]);
    assert!(f.accepts(&subject("default", "web-0", None)));
    assert!(f.accepts(&subject("default", "web-1", Some(("ab12", "app")))));
    assert!(!f.accepts(&subject("kube-system", "web-0", None)));
    assert!(!f.accepts(&Subject::default()), "unknown: not shown");
    assert!(SubjectFilter::default().accepts(&Subject::default()));
    assert!(parse_pod("web-0").is_err() && parse_pod("/x").is_err() && parse_pod("a/").is_err());
    assert_eq!(parse_pod("*/coredns-*"), Ok("*/coredns-*".into()));
}

#[test]
fn containers_by_id_prefix_or_name() {
    let id = "8806619fdd57a1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930";
    let s = subject("default", "web-0", Some((id, "app")));
    assert!(SubjectFilter::new(&[], &["8806".into()]).accepts(&s));
    assert!(SubjectFilter::new(&[], &["8806619FDD57".into()]).accepts(&s));
    assert!(
        !SubjectFilter::new(&[], &["880".into()]).accepts(&s),
        "3 hex: a name"
    );
    assert!(SubjectFilter::new(&[], &["app".into()]).accepts(&s));
    assert!(!SubjectFilter::new(&[], &["db".into()]).accepts(&s));
    // A pod's own calls (no container) are not a container's.
    assert!(!SubjectFilter::new(&[], &["app".into()]).accepts(&subject("default", "web-0", None)));
    // Both options: both must match.
    let both = SubjectFilter::new(&["default/web-0".into()], &["app".into()]);
    assert!(both.accepts(&s));
    assert!(!both.accepts(&subject("default", "web-1", Some((id, "app")))));
}
