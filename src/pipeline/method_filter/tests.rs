use super::*;

#[test]
fn globs() {
    assert!(matches("*", ""));
    assert!(matches(
        "*Namespaces*",
        "/containerd.services.namespaces.v1.Namespaces/Create"
    ));
    assert!(matches(
        "/runtime.v1.*/PullImage",
        "/runtime.v1.ImageService/PullImage"
    ));
    assert!(matches("a?c", "abc"));
    assert!(!matches("a?c", "ac"));
    assert!(!matches("*Create", "/x.Y/CreateMore"));
    let f = MethodFilter::new(&["containerd.services.content.*".into()]);
    assert!(f.accepts(Some("/containerd.services.content.v1.Content/Write")));
    assert!(!f.accepts(Some("/containerd.services.images.v1.Images/List")));
    assert!(!f.accepts(None));
    assert!(MethodFilter::new(&[]).accepts(None));
}
