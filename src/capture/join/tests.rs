use super::*;
use crate::capture::record::{parse, Payload, OFFSET_BASE};
use crate::capture::skel::types::snoop_event;

fn rec(tid: u32, ino: u64, off: u64, more: bool, body: &[u8]) -> Vec<u8> {
    let h = snoop_event {
        sock_ino: ino,
        tid,
        offset: OFFSET_BASE + off,
        kind: KIND_DATA,
        flags: if more { FLAG_MORE } else { 0 },
        len: body.len() as u32,
        ..Default::default()
    };
    let mut v = vec![0u8; HEADER_LEN];
    record::set_header(&mut v, &h);
    v.extend_from_slice(body);
    v
}

fn bytes(raw: &[u8]) -> (u64, Vec<u8>) {
    match parse(raw).unwrap().payload {
        Payload::Data { offset, bytes } => (offset, bytes.to_vec()),
        p => panic!("not data: {p:?}"),
    }
}

#[test]
fn records_of_one_call_become_one_payload_across_threads() {
    let mut j = Joiner::default();
    let mut out = vec![];
    let mut pool = vec![vec![7u8; 3]];
    j.push(&rec(1, 10, 0, true, b"ab"), &mut out, &mut pool);
    j.push(&rec(2, 20, 0, false, b"other"), &mut out, &mut pool);
    j.push(&rec(1, 10, 2, true, b"cd"), &mut out, &mut pool);
    j.push(&rec(1, 10, 4, false, b"e"), &mut out, &mut pool);
    assert!(pool.is_empty(), "the pooled buffer was used");
    assert_eq!(out.len(), 2);
    assert_eq!(bytes(&out[0]), (0, b"other".to_vec()));
    assert_eq!(bytes(&out[1]), (0, b"abcde".to_vec()));
    let h = record::header(&out[1]).unwrap();
    assert_eq!(h.flags & FLAG_MORE, 0);
}

#[test]
fn a_call_cut_short_is_handed_on_at_the_second_tick() {
    let mut j = Joiner::default();
    let mut out = vec![];
    j.push(&rec(1, 10, 0, true, b"ab"), &mut out, &mut vec![]);
    j.tick(&mut out);
    assert!(out.is_empty());
    j.tick(&mut out);
    assert_eq!(bytes(&out[0]), (0, b"ab".to_vec()));
}

#[test]
fn a_discontinuity_starts_a_new_payload() {
    let mut j = Joiner::default();
    let mut out = vec![];
    j.push(&rec(1, 10, 0, true, b"ab"), &mut out, &mut vec![]);
    j.push(&rec(1, 10, 9, false, b"zz"), &mut out, &mut vec![]);
    assert_eq!(out.len(), 2);
    assert_eq!(bytes(&out[1]), (9, b"zz".to_vec()));
}
