use super::*;
use crate::testsupport::Rng;

#[test]
fn values_read_back_exactly() {
    // Every single byte, and every pair (UTF-8 lead and continuation bytes
    // meet here), then random strings biased to the special bytes.
    for b in 0..=255u8 {
        assert_eq!(unescape(&escape(&[b])).unwrap(), [b], "{b:#x}");
    }
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            assert_eq!(unescape(&escape(&[a, b])).unwrap(), [a, b]);
        }
    }
    let mut rng = Rng::new(20);
    let special = [
        b' ', b'=', b'\\', b'x', 0, 0x7f, 0xc3, 0xa9, 0xe2, 0x80, 0xae, 0xff,
    ];
    for _ in 0..20_000 {
        let len = rng.below(24);
        let v: Vec<u8> = (0..len)
            .map(|_| match rng.below(2) {
                0 => special[rng.below(special.len())],
                _ => rng.next_u64() as u8,
            })
            .collect();
        let text = escape(&v);
        assert!(
            text.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80),
            "one printable word: {text:?}"
        );
        assert!(!text.contains('='), "{text:?}");
        assert_eq!(unescape(&text).unwrap(), v, "{text:?}");
    }
}

#[test]
fn what_is_kept_and_what_is_escaped() {
    assert_eq!(escape(b"containerd"), "containerd");
    assert_eq!(escape(b"kube-apiserver"), "kube-apiserver");
    assert_eq!(escape(b"a b=c\\d"), r"a\x20b\x3dc\\d");
    assert_eq!(escape(b"tab\there\n"), r"tab\x09here\x0a");
    assert_eq!(escape(b"\x00\x7f"), r"\x00\x7f");
    // Letters of other scripts stay; invalid UTF-8 and invisible or
    // reordering characters do not.
    assert_eq!(escape("café".as_bytes()), "café");
    assert_eq!(escape(b"caf\xe9"), r"caf\xe9");
    assert_eq!(escape("a\u{202e}b".as_bytes()), r"a\xe2\x80\xaeb");
    assert_eq!(escape("a\u{a0}b".as_bytes()), r"a\xc2\xa0b");
    assert_eq!(escape(b""), "");
    // Upper-case hex reads too.
    assert_eq!(unescape(r"\xFF\x3D").unwrap(), b"\xff=");
}

#[test]
fn lists_read_back() {
    let text = FieldsWriter::default()
        .number("pid", 32089)
        .number_if("tid", Some(32094))
        .number_if("absent", None)
        .bytes("comm", b"python3")
        .bytes_if("thread_comm", Some(b"event engine"))
        .bytes_if("none", None)
        .bytes("empty", b"")
        .finish();
    assert_eq!(
        text,
        r"pid=32089 tid=32094 comm=python3 thread_comm=event\x20engine empty="
    );
    let f = Fields::parse(&text).unwrap();
    assert_eq!(f.number::<u32>("pid"), Ok(Some(32089)));
    assert_eq!(f.number::<u32>("nope"), Ok(None));
    assert_eq!(f.get("thread_comm"), Some(&b"event engine"[..]));
    assert_eq!(f.get("empty"), Some(&b""[..]));
    assert_eq!(f.to_text(), text);
    let keys: Vec<&str> = f.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["pid", "tid", "comm", "thread_comm", "empty"]);
}

#[test]
fn malformed_lists_are_refused() {
    use FieldsError::*;
    let cases: &[(&str, FieldsError)] = &[
        ("", EmptyField),
        ("pid=1 ", EmptyField),
        (" pid=1", EmptyField),
        ("pid=1  tid=2", EmptyField),
        ("pid 1", NoEquals),
        ("pid=1 tid", NoEquals),
        ("=1", BadKey),
        ("Pid=1", BadKey),
        ("p-d=1", BadKey),
        ("pïd=1", BadKey),
        ("pid=1 pid=2", Duplicate),
        ("comm=a=b", BadEscape),
        ("comm=a\\", BadEscape),
        ("comm=a\\n", BadEscape),
        ("comm=\\x4", BadEscape),
        ("comm=\\xg0", BadEscape),
        ("comm=\\x", BadEscape),
    ];
    for (text, want) in cases {
        assert_eq!(Fields::parse(text), Err(*want), "{text:?}");
    }
    let long_key = format!("{}=1", "k".repeat(33));
    assert_eq!(Fields::parse(&long_key), Err(BadKey));
    assert!(Fields::parse(&format!("{}=1", "k".repeat(32))).is_ok());
    let many: Vec<String> = (0..=MAX_FIELDS).map(|i| format!("k{i}=1")).collect();
    assert_eq!(Fields::parse(&many.join(" ")), Err(TooMany));
    assert!(Fields::parse(&many[..MAX_FIELDS].join(" ")).is_ok());
    // Numbers are digits only, in range.
    for bad in [
        "pid=+1",
        "pid=-1",
        "pid=",
        "pid=1x",
        "pid=4294967296",
        "pid=\\x31\\x2e",
    ] {
        let f = Fields::parse(bad).unwrap();
        assert_eq!(f.number::<u32>("pid"), Err(BadNumber), "{bad}");
    }
    // A number may be spelled with escapes: it is the bytes that count.
    let f = Fields::parse("pid=\\x31\\x32").unwrap();
    assert_eq!(f.number::<u32>("pid"), Ok(Some(12)));
}
