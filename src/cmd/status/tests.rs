use super::*;

#[test]
fn formats() {
    assert_eq!(bytes(10), "10 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    let f = FlowStats {
        connections: 2,
        open: 1,
        writes: 5,
        bytes: 100,
        ..Default::default()
    };
    assert_eq!(
        line(&f, &KernelStats::default()),
        "2 connections (1 open), 5 writes, 100 B, no drops"
    );
    let k = KernelStats {
        lost_records: 1,
        lost_bytes: 2048,
        ..Default::default()
    };
    assert!(line(&f, &k).contains("DROPPED 2.0 KiB in 1 records"));
    let mut k = KernelStats::default();
    k.uncopied[1] = 100;
    let g = FlowStats {
        gap_bytes: 100,
        stale_bytes: 3,
        resets: 1,
        ..f
    };
    assert_eq!(
        line(&g, &k),
        "2 connections (1 open), 5 writes, 100 B, no drops, 100 B not copyable (io_uring 100 B), 3 B stale, 1 offset restarts"
    );
}
