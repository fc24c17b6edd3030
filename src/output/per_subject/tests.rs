use super::*;
use crate::subjects::extract::PodMeta;
use crate::subjects::ContainerRef;

fn pod(name: &str) -> Subject {
    Subject {
        pod: Some(Arc::new(PodMeta {
            namespace: "default".into(),
            name: name.into(),
            uid: String::new(),
        })),
        container: Some(Arc::new(ContainerRef {
            id: "c".into(),
            name: Some("web".into()),
        })),
        sandbox_id: Some(Arc::from("s")),
    }
}

#[test]
fn made_once_per_subject_and_told_apart_by_parts() {
    let mut per = PerSubject::default();
    let mut made = 0;
    let a = pod("a");
    let mut name = |s: &Subject| {
        made += 1;
        s.pod.as_ref().unwrap().name.clone()
    };
    assert_eq!(per.of(&a, &mut name), "a");
    // A copy shares the parts: the same entry.
    assert_eq!(per.of(&a.clone(), &mut name), "a");
    // Equal text, other parts: its own entry, never another's.
    let b = pod("b");
    assert_eq!(per.of(&b, &mut name), "b");
    assert_eq!(per.of(&Subject::default(), |_| "none".to_string()), "none");
    assert_eq!(made, 2);
}

#[test]
fn bounded() {
    let mut per = PerSubject::default();
    let subjects: Vec<Subject> = (0..MAX_SUBJECTS + 10)
        .map(|i| pod(&i.to_string()))
        .collect();
    for (i, s) in subjects.iter().enumerate() {
        assert_eq!(
            per.of(s, |s| s.pod.as_ref().unwrap().name.clone()),
            &i.to_string()
        );
        assert!(per.by_parts.len() <= MAX_SUBJECTS);
    }
}
