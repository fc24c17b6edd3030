use super::*;

/// This machine's /proc/cgroups (cgroup v1 with cgroup2 beside it).
const PROC_CGROUPS_V1: &str = "#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
cpuacct\t2\t1\t1
blkio\t7\t1\t1
memory\t4\t12\t1
devices\t5\t1\t1
freezer\t6\t1\t1
net_cls\t0\t1\t1
perf_event\t0\t1\t1
net_prio\t0\t1\t1
hugetlb\t0\t1\t1
pids\t8\t1\t1
";

#[test]
fn the_v1_controller_is_pids_on_a_v1_host_and_none_on_v2() {
    assert_eq!(v1_controller(PROC_CGROUPS_V1), Some((11, "pids".into())));
    let v2 = PROC_CGROUPS_V1
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if l.starts_with('#') {
                l.to_string()
            } else {
                format!("{}\t0\t{}\t{}", f[0], f[2], f[3])
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(v1_controller(&v2), None);
    // Not mounted: the next one.
    let no_pids = PROC_CGROUPS_V1.replace("pids\t8", "pids\t0");
    assert_eq!(v1_controller(&no_pids), Some((1, "cpu".into())));
}

#[test]
fn proc_paths_prefer_the_default_hierarchy() {
    // A host process here: memory alone is elsewhere.
    let host = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/22aa\n0::/\n";
    assert_eq!(path_in_proc(host, Some("pids")).as_deref(), Some("/"));
    assert_eq!(path_in_proc(host, None).as_deref(), Some("/"));
    let ctr = "8:pids:/default/cg1\n4:memory:/default/cg1\n0::/default/cg1\n";
    assert_eq!(
        path_in_proc(ctr, Some("pids")).as_deref(),
        Some("/default/cg1")
    );
    // A v1 runtime that leaves the unified hierarchy alone.
    let v1_only = "8:pids:/docker/abc\n0::/\n";
    assert_eq!(
        path_in_proc(v1_only, Some("pids")).as_deref(),
        Some("/docker/abc")
    );
    assert_eq!(path_in_proc("", None), None);
}

#[test]
fn learned_paths_map_and_the_cache_is_bounded() {
    let mut c = Cgroups::new(Some("pids".into()));
    c.learn(key(7, false), "/default/cg1", true);
    c.learn(key(1, false), "/", true);
    assert!(c.of(key(7, false), None).container().is_some());
    assert_eq!(c.of(key(1, false), None), InContainer::Host);
    // Nothing said, or a key unknown of a process that is gone: unknown.
    assert_eq!(c.of(0, Some(std::process::id())), InContainer::Unknown);
    assert_eq!(c.of(key(9, true), Some(u32::MAX)), InContainer::Unknown);
    // Ids of v1 and v2 hierarchies are different keys.
    assert_ne!(key(7, false), key(7, true));
    for i in 0..(MAX_ENTRIES as u64 + 10) {
        c.learn(key(100 + i, false), "/", true);
    }
    let mut sizes = Sizes::default();
    c.sizes(&mut sizes);
    assert!(sizes.get("cgroups.known").unwrap() <= MAX_ENTRIES as u64);
    let forgotten = c.take_forgotten();
    assert!(!forgotten.is_empty() && forgotten.len() <= MAX_ENTRIES);
    assert!(c.take_forgotten().is_empty());
}

#[test]
fn a_live_writer_missing_from_the_cache_is_read_from_proc() {
    let mut c = Cgroups::new(
        v1_controller(&std::fs::read_to_string("/proc/cgroups").unwrap_or_default())
            .map(|(_, n)| n),
    );
    // This test process: whatever its cgroup, never a guess of host
    // unless /proc says so.
    let me = c.of(key(424242, false), Some(std::process::id()));
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let want = path_in_proc(&text, c.v1.as_deref())
        .map(|p| from_cgroup_path(&p, true))
        .unwrap();
    assert_eq!(me, want);
    assert_eq!(c.from_proc, 1);
}
