use super::*;

#[test]
fn names_this_process_and_not_a_missing_one() {
    let mut names = ProcNames::default();
    let me = std::process::id();
    let want = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(names.get(me).unwrap().as_str(), want.trim_end());
    // pid_max is at most 2^22: this pid cannot exist.
    assert_eq!(names.get(u32::MAX), None);
}

#[test]
fn a_process_is_named_by_its_leader_not_the_asking_thread() {
    let asked = std::thread::Builder::new()
        .name("cs-renamed".into())
        .spawn(|| {
            let own = std::fs::read("/proc/thread-self/comm").unwrap();
            (own, ProcNames::default().get(std::process::id()).unwrap())
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(asked.0, b"cs-renamed\n");
    let leader = std::fs::read("/proc/self/comm").unwrap();
    assert_eq!(asked.1.name(), leader.strip_suffix(b"\n").unwrap());
    assert_ne!(asked.1.name(), b"cs-renamed");
}
