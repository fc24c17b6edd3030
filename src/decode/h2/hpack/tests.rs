//! RFC 7541 Appendix C examples and mid-connection behaviour of the table.

use super::*;
use crate::testsupport::h2::HpackEncoder;
use crate::testsupport::hex;

fn kv(field: &HeaderField) -> (String, String) {
    (field.name.to_string(), field.value.to_string())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn table(d: &Decoder) -> Vec<(String, String)> {
    d.table()
        .iter()
        .map(|e| (e.name.to_string(), e.value.to_string()))
        .collect()
}

/// Decodes `block`, checks fields, table entries (newest first) and size.
fn step(
    d: &mut Decoder,
    block: &str,
    fields: &[(&str, &str)],
    entries: &[(&str, &str)],
    size: usize,
) {
    let out = d.decode(&hex(block)).expect("block decodes");
    assert_eq!(out.fields.iter().map(kv).collect::<Vec<_>>(), pairs(fields));
    assert_eq!(out.desync, None);
    assert_eq!(table(d), pairs(entries));
    assert_eq!(d.table().size(), size);
    assert!(d.table().is_synced());
}

#[test]
fn c2_1_literal_with_indexing() {
    let mut d = Decoder::new(true);
    step(
        &mut d,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        &[("custom-key", "custom-header")],
        &[("custom-key", "custom-header")],
        55,
    );
}

#[test]
fn c2_2_literal_without_indexing() {
    let mut d = Decoder::new(true);
    step(
        &mut d,
        "040c 2f73 616d 706c 652f 7061 7468",
        &[(":path", "/sample/path")],
        &[],
        0,
    );
}

#[test]
fn c2_3_literal_never_indexed() {
    let mut d = Decoder::new(true);
    step(
        &mut d,
        "1008 7061 7373 776f 7264 0673 6563 7265 74",
        &[("password", "secret")],
        &[],
        0,
    );
}

#[test]
fn c2_4_indexed() {
    let mut d = Decoder::new(true);
    step(&mut d, "82", &[(":method", "GET")], &[], 0);
}

const REQ1: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: [(&str, &str); 5] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: [(&str, &str); 5] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

fn request_series(blocks: [&str; 3]) {
    let mut d = Decoder::new(true);
    let t1 = [(":authority", "www.example.com")];
    let t2 = [
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ];
    let t3 = [
        ("custom-key", "custom-value"),
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ];
    step(&mut d, blocks[0], &REQ1, &t1, 57);
    step(&mut d, blocks[1], &REQ2, &t2, 110);
    step(&mut d, blocks[2], &REQ3, &t3, 164);
}

#[test]
fn c3_requests_without_huffman() {
    request_series([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
}

#[test]
fn c4_requests_with_huffman() {
    request_series([
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]);
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

/// C.5 and C.6 run with SETTINGS_HEADER_TABLE_SIZE = 256, causing evictions.
fn response_series(blocks: [&str; 3]) {
    let mut d = Decoder::with_max_size(true, 256);
    step(
        &mut d,
        blocks[0],
        &[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOC),
        ],
        &[
            ("location", LOC),
            ("date", DATE1),
            ("cache-control", "private"),
            (":status", "302"),
        ],
        222,
    );
    step(
        &mut d,
        blocks[1],
        &[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOC),
        ],
        &[
            (":status", "307"),
            ("location", LOC),
            ("date", DATE1),
            ("cache-control", "private"),
        ],
        222,
    );
    step(
        &mut d,
        blocks[2],
        &[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", DATE2),
            ("location", LOC),
            ("content-encoding", "gzip"),
            ("set-cookie", COOKIE),
        ],
        &[
            ("set-cookie", COOKIE),
            ("content-encoding", "gzip"),
            ("date", DATE2),
        ],
        215,
    );
}

#[test]
fn c5_responses_without_huffman() {
    response_series([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31",
    ]);
}

#[test]
fn c6_responses_with_huffman() {
    response_series([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}

#[test]
fn mid_connection_indices_beyond_what_we_saw_are_unknown() {
    let mut d = Decoder::new(false);
    // 0xbe = index 62, 0xc0 = 64: before the capture.
    let out = d.decode(&hex("82 be 7e 03 616263")).unwrap();
    assert_eq!(out.desync, None);
    assert_eq!(kv(&out.fields[0]), (":method".into(), "GET".into()));
    assert_eq!(out.fields[1].name, Octets::Unknown);
    assert_eq!(out.fields[1].value, Octets::Unknown);
    // Literal with incremental indexing, name index 62 (unknown): value known.
    assert_eq!(out.fields[2].name, Octets::Unknown);
    assert_eq!(out.fields[2].value, Octets::Known(b"abc".to_vec()));
    // That insertion is now index 62; index 63 is the old unknown 62.
    let out = d.decode(&hex("be bf")).unwrap();
    assert_eq!(out.fields[0].value, Octets::Known(b"abc".to_vec()));
    assert_eq!(out.fields[1].value, Octets::Unknown);
    assert!(d.table().tail_unknown());
    assert_eq!(
        d.table().size(),
        3 + 32,
        "unknown name counts as 0 (lower bound)"
    );
}

#[test]
fn mid_connection_becomes_synced_by_turnover() {
    let mut d = Decoder::new(false);
    let mut enc = HpackEncoder::new(4096);
    let mut n = 0;
    while d.table().tail_unknown() {
        let value = format!("value-{n:04}-{}", "x".repeat(100));
        let block = enc.encode(&[("x-filler", value.as_str())], n % 2 == 0);
        d.decode(&block).unwrap();
        n += 1;
        assert!(n < 100, "never synced");
    }
    // Entries are 8 + 111 + 32 = 151 octets: after 27 (4077) no 32-octet
    // entry from before the capture fits in 4096 any more.
    assert_eq!(n, 27);
    // Every entry is known and equals the encoder's.
    assert_eq!(d.table().len(), enc.entries());
    // An index past the end is now a desync, and resets to unknown.
    let out = d.decode(&[0x80 | (62 + 40)]).unwrap();
    assert!(matches!(out.desync, Some(Desync::IndexNotInTable { .. })));
    assert!(d.table().tail_unknown() && d.table().is_empty());
}

#[test]
fn mid_connection_size_update_to_zero_syncs() {
    let mut d = Decoder::new(false);
    assert!(d.table().tail_unknown());
    // Size update 0, then back to 4096, then a new entry: all exact.
    let out = d
        .decode(&hex("20 3fe1 1f 4003 666f6f 03 626172 be"))
        .unwrap();
    assert!(d.table().is_synced());
    assert_eq!(out.fields.len(), 2);
    assert_eq!(kv(&out.fields[1]), ("foo".into(), "bar".into()));
}

#[test]
fn entry_larger_than_table_empties_it_and_syncs() {
    let mut d = Decoder::with_max_size(false, 64);
    let block = HpackEncoder::new(4096).encode(&[("big", &"v".repeat(40))], false);
    d.decode(&block).unwrap();
    assert!(d.table().is_synced() && d.table().is_empty());
}

#[test]
fn impossible_index_while_unsynced_is_desync() {
    let mut d = Decoder::new(false);
    // 4096 / 32 = 128 entries at most: index 62 + 128 cannot exist.
    let mut block = vec![0xff];
    block.extend_from_slice(&[(62 + 128 - 127) as u8]);
    let out = d.decode(&block).unwrap();
    assert_eq!(
        out.desync,
        Some(Desync::IndexImpossible {
            index: 190,
            max_entries: 128
        })
    );
    // One less is merely unknown.
    let out = d.decode(&[0xff, (62 + 127 - 127) as u8]).unwrap();
    assert_eq!(out.desync, None);
}

#[test]
fn errors_reset_the_table() {
    let mut d = Decoder::new(true);
    d.decode(&hex("4003 666f6f 03 626172")).unwrap();
    assert_eq!(d.table().len(), 1);
    assert_eq!(d.decode(&hex("80")), Err(Error::ZeroIndex));
    assert!(d.table().tail_unknown() && d.table().is_empty());

    let mut d = Decoder::new(true);
    assert_eq!(d.decode(&hex("82 20")), Err(Error::SizeUpdateNotAtStart));
    assert_eq!(d.decode(&hex("4003 666f")), Err(Error::Truncated));
    assert_eq!(
        d.decode(&hex("ff ff ff ff ff ff 7f")),
        Err(Error::IntegerOverflow)
    );
    assert_eq!(d.decode(&hex("0081 ff 00")), Err(Error::Huffman));
    let big = vec![0x82; MAX_BLOCK + 1];
    assert!(matches!(d.decode(&big), Err(Error::BlockTooLarge { .. })));
}

#[test]
fn size_update_above_settings_limit_is_reported() {
    let mut d = Decoder::new(true);
    d.set_limit(100);
    let out = d.decode(&hex("3f e1 1f")).unwrap();
    assert_eq!(
        out.desync,
        Some(Desync::SizeUpdateAboveLimit {
            size: 4096,
            limit: 100
        })
    );
}

#[test]
fn huge_header_lists_are_truncated_but_table_stays_exact() {
    let mut d = Decoder::new(true);
    let value = "v".repeat(3000);
    let first = HpackEncoder::new(4096).encode(&[("k", value.as_str())], false);
    d.decode(&first).unwrap();
    // 400 references to a 3 KB entry: 1.2 MB decoded > MAX_LIST.
    let mut block = vec![0xbe; 400];
    block.extend_from_slice(&hex("4003 666f6f 03 626172"));
    let out = d.decode(&block).unwrap();
    assert!(out.truncated);
    assert!(out.fields.len() < 400);
    assert_eq!(
        d.table().iter().next().unwrap().name,
        Octets::Known(b"foo".to_vec())
    );
}
