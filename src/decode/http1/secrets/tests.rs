use base64::Engine as _;

use super::*;

fn cut<'a>(b: &'a [u8], r: &[Range<usize>]) -> Vec<&'a str> {
    r.iter()
        .map(|r| std::str::from_utf8(&b[r.clone()]).unwrap())
        .collect()
}

#[test]
fn json_members_named_secret_are_found_at_any_depth() {
    let body = br#"{"username":"u","password":"hunter2","nested":{"IdentityToken":"t\"k","list":[1,{"auth":"YWJj"}]},"registrytoken":""}"#;
    let r = body_secrets("/docker/SystemAuth", body);
    assert_eq!(cut(body, &r), ["hunter2", "t\\\"k", "YWJj"]);
    // Not JSON: nothing, except for /auth, whose whole body goes.
    assert!(body_secrets("/docker/ContainerCreate", b"password=x").is_empty());
    assert_eq!(
        cut(
            b"password=x",
            &body_secrets("/docker/SystemAuth", b"password=x")
        ),
        ["password=x"]
    );
    assert_eq!(
        cut(
            b"s3cr3t",
            &body_secrets("/podman/SecretCreateLibpod", b"s3cr3t")
        ),
        ["s3cr3t"]
    );
    let sec = br#"{"Name":"n","Data":"c2VjcmV0"}"#;
    assert_eq!(
        cut(sec, &body_secrets("/docker/SecretCreate", sec)),
        ["c2VjcmV0"]
    );
}

#[test]
fn query_passwords_are_found() {
    let t = "/v4.3.1/libpod/images/pull?reference=x&username=u&password=hunter2&quiet=1";
    let r = query_secrets(t);
    assert_eq!(cut(t.as_bytes(), &r), ["hunter2"]);
    assert_eq!(
        redacted_target(t),
        "/v4.3.1/libpod/images/pull?reference=x&username=u&password=<redacted 7 bytes>&quiet=1"
    );
}

#[test]
fn registry_headers_stay_base64_of_the_same_length() {
    let json = br#"{"username":"u","password":"hunter2","serveraddress":"r"}"#;
    for engine in [
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
    ] {
        let v = engine.encode(json).into_bytes();
        let m = masked_field("X-Registry-Auth", &v, b'x');
        assert_eq!(m.len(), v.len());
        let back = engine.decode(&m).unwrap();
        assert_eq!(back.len(), json.len());
        let text = String::from_utf8(back).unwrap();
        assert!(
            text.contains(r#""username":"u""#) && !text.contains("hunter2"),
            "{text}"
        );
    }
    // Not base64 of JSON: still base64 of the same length.
    let m = masked_field("x-registry-auth", b"bm90IGpzb24=", b'x');
    assert_eq!(m, b"AAAAAAAAAAA=");
    assert_eq!(
        masked_field("Authorization", b"Basic abc", b'x'),
        b"xxxxxxxxx"
    );
    assert!(is_secret_field("X-Registry-Config") && is_secret_field("authorization"));
    assert!(!is_secret_field("Content-Type"));
}
