use super::*;

#[test]
fn docker_and_podman_paths_are_named_by_their_operation() {
    for (method, target, want) in [
        (
            "POST",
            "/v1.41/containers/create?name=x",
            "/docker/ContainerCreate",
        ),
        ("GET", "/containers/abc/json", "/docker/ContainerInspect"),
        ("HEAD", "/_ping", "/docker/SystemPingHead"),
        ("GET", "/v1.41/images/json", "/docker/ImageList"),
        (
            "GET",
            "/v1.41/images/docker.io/library/busybox:latest/json",
            "/docker/ImageInspect",
        ),
        (
            "DELETE",
            "/v1.41/images/quay.io/a/b:1",
            "/docker/ImageDelete",
        ),
        ("POST", "/v1.41/images/load?quiet=1", "/docker/ImageLoad"),
        ("POST", "/v1.41/exec/e1/start", "/docker/ExecStart"),
        (
            "POST",
            "/v4.3.1/libpod/images/pull?reference=x&password=y",
            "/podman/ImagePullLibpod",
        ),
        (
            "POST",
            "/v4.0.0/libpod/containers/create",
            "/podman/ContainerCreateLibpod",
        ),
        (
            "DELETE",
            "/v4.3.1/libpod/images/remove?images=a",
            "/podman/ImageDeleteAllLibpod",
        ),
        (
            "DELETE",
            "/v4.3.1/libpod/images/a/b",
            "/podman/ImageDeleteLibpod",
        ),
        ("GET", "/libpod/_ping", "/podman/SystemPing"),
        // Unknown routes keep their path; nothing in it is taken for an id.
        (
            "GET",
            "/v1.41/containers/abc/unknown",
            "GET /v1.41/containers/abc/unknown",
        ),
        ("PATCH", "/containers/create", "PATCH /containers/create"),
        ("GET", "/vx/info", "GET /vx/info"),
        ("GET", "/images//json", "GET /images//json"),
    ] {
        assert_eq!(name(method, target), want, "{method} {target}");
    }
}

#[test]
fn version_prefixes_are_taken_off() {
    assert_eq!(api_path("/v1.41/info?x=1"), "/info");
    assert_eq!(api_path("/v4.3.1/libpod/info"), "/libpod/info");
    assert_eq!(api_path("/volumes"), "/volumes");
    assert_eq!(api_path("/v1.41"), "");
}
