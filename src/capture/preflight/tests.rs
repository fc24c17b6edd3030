use super::*;

#[test]
fn hook_choice() {
    assert_eq!(choose(None, true).unwrap(), Hook::Sock);
    assert_eq!(choose(None, false).unwrap(), Hook::Syscalls);
    assert_eq!(choose(Some(Hook::Syscalls), true).unwrap(), Hook::Syscalls);
    assert!(choose(Some(Hook::Sock), false).is_err());
}

#[test]
fn capability_rules() {
    assert!(privileged(1 << CAP_SYS_ADMIN));
    assert!(privileged((1 << CAP_BPF) | (1 << CAP_PERFMON)));
    assert!(!privileged(1 << CAP_BPF));
    assert!(!privileged(0));
}

#[test]
fn seccomp_mode_from_status() {
    let status = "Name:\tcontainerdsnoop\nNoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n";
    assert_eq!(seccomp_mode(status), Some(2));
    assert_eq!(seccomp_mode("Seccomp:\t0\n"), Some(0));
    assert_eq!(seccomp_mode("Name:\tx\n"), None);
    assert_eq!(seccomp_mode("Seccomp:\tsoon\n"), None);
}
