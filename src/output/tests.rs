use super::*;

#[test]
fn names_and_durations() {
    assert_eq!(grpc_status_name(5), "NOT_FOUND");
    assert_eq!(grpc_status_name(99), "UNKNOWN_CODE");
    assert_eq!(
        short_method("/containerd.services.namespaces.v1.Namespaces/Create"),
        "Namespaces/Create"
    );
    assert_eq!(
        short_method("/runtime.v1.ImageService/PullImage"),
        "ImageService/PullImage"
    );
    assert_eq!(short_method("/Plain/Call"), "Plain/Call");
    assert_eq!(short_method("odd"), "odd");
    assert_eq!(duration(850_000), "850µs");
    assert_eq!(duration(12_300_000), "12.3ms");
    assert_eq!(duration(1_200_000_000), "1.20s");
    assert_eq!(duration_short(2_000_000_000), "2s");
    assert_eq!(duration_short(600_000_000_000), "10m");
    assert_eq!(duration_short(1_999_945_000), "2.00s");
    assert_eq!(duration_short(0), "0µs");
}
