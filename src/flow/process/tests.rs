use super::*;

#[test]
fn names_and_short_forms() {
    let c = Comm::from_name("a-very-long-process-name");
    assert_eq!(c.as_str(), "a-very-long-pro");
    let p = Process::thread(7, 8, Comm::from_name("ctr"));
    assert_eq!(p.short(), "ctr/7");
    assert_eq!(p.owner().tid, None);
    let anon = Process {
        pid: Some(9),
        ..Default::default()
    };
    assert_eq!(anon.short(), "pid/9");
    assert_eq!(Process::default().short(), "-");
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"pid":7,"tid":8,"comm":"ctr"}"#
    );
}
