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
