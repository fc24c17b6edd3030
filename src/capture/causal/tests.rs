use super::*;
use crate::capture::record::{HEADER_LEN, KIND_SOCK_INFO};
use crate::capture::skel::types::snoop_event;

/// A data record of socket `ino` (peer `peer`) at `off` of `len` bytes, acking `ack`.
fn data(ino: u64, peer: u64, off: i64, len: u32, ack: i64) -> Vec<u8> {
    let h = snoop_event {
        sock_ino: ino,
        peer_ino: peer,
        offset: (OFFSET_BASE as i64 + off) as u64,
        ack: (OFFSET_BASE as i64 + ack) as u64,
        kind: KIND_DATA,
        len,
        ..Default::default()
    };
    let mut v = vec![0u8; HEADER_LEN];
    record::set_header(&mut v, &h);
    v.extend(std::iter::repeat_n(b'x', len as usize));
    v
}

fn who(out: &[Vec<u8>]) -> Vec<(u64, i64)> {
    out.iter()
        .map(|r| {
            let h = record::header(r).unwrap();
            (h.sock_ino, rel(h.offset))
        })
        .collect()
}

#[test]
fn a_reply_waits_for_the_request_it_acknowledges() {
    let mut c = Causal::default();
    let mut out = vec![];
    // The server (2) answers after reading 10 bytes of the client (1),
    // whose record of those bytes is late.
    c.push(data(2, 1, 0, 5, 10), 0, &mut out);
    assert!(out.is_empty(), "the reply must wait");
    c.push(data(1, 2, 0, 10, 0), 1, &mut out);
    assert_eq!(who(&out), [(1, 0), (2, 0)]);
    assert_eq!(c.held_bytes(), 0);
}

#[test]
fn records_of_one_socket_keep_their_order() {
    let mut c = Causal::default();
    let mut out = vec![];
    c.push(data(2, 1, 0, 5, 10), 0, &mut out);
    let mut info = data(2, 1, 5, 0, 0);
    let mut h = record::header(&info).unwrap();
    h.kind = KIND_SOCK_INFO;
    record::set_header(&mut info, &h);
    c.push(info, 0, &mut out);
    assert!(out.is_empty(), "behind a held record");
    c.push(data(1, 2, 0, 10, 0), 1, &mut out);
    assert_eq!(who(&out), [(1, 0), (2, 0), (2, 5)]);
}

#[test]
fn a_pending_peer_write_is_waited_for_even_below_the_base() {
    let mut c = Causal::default();
    let mut out = vec![];
    // The server answered the first bytes of a client write that was
    // still blocked (its record comes later, starting below the base).
    let mut reply = data(2, 1, 0, 5, -100);
    let mut h = record::header(&reply).unwrap();
    h.flags |= FLAG_PEER_PENDING;
    record::set_header(&mut reply, &h);
    c.push(reply.clone(), 0, &mut out);
    assert!(out.is_empty());
    c.push(data(1, 2, -164, 4096, 0), 1, &mut out);
    assert_eq!(who(&out), [(1, -164), (2, 0)]);
    // A peer that never sends: released at the bound, not counted, and
    // later records of the same wait need not wait again.
    let mut c = Causal::default();
    let mut out = vec![];
    c.push(reply.clone(), 0, &mut out);
    c.expire(MAX_HOLD_NS, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(c.forced, 0);
    let mut next = data(2, 1, 5, 5, -100);
    let mut h = record::header(&next).unwrap();
    h.flags |= FLAG_PEER_PENDING;
    record::set_header(&mut next, &h);
    c.push(next, MAX_HOLD_NS, &mut out);
    assert_eq!(out.len(), 2);
}

#[test]
fn bytes_before_the_tracer_need_nothing() {
    let mut c = Causal::default();
    let mut out = vec![];
    c.push(data(2, 1, 0, 5, -300), 0, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn a_record_whose_ack_never_comes_leaves_after_the_bound() {
    let mut c = Causal::default();
    let mut out = vec![];
    c.push(data(2, 1, 0, 5, 10), 0, &mut out);
    c.expire(MAX_HOLD_NS - 1, &mut out);
    assert!(out.is_empty());
    c.expire(MAX_HOLD_NS, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(c.forced, 1);
}

#[test]
fn memory_is_bounded() {
    let mut c = Causal::default();
    let mut out = vec![];
    for i in 0..400 {
        c.push(data(2, 1, i * 32768, 32768, i64::MAX / 2), 0, &mut out);
        assert!(c.held_bytes() <= MAX_HELD);
    }
    assert!(!out.is_empty());
}

/// `raw` with the kernel's "peer's send may be in flight" flag.
fn pending(mut raw: Vec<u8>) -> Vec<u8> {
    let mut h = record::header(&raw).unwrap();
    h.flags |= FLAG_PEER_PENDING;
    record::set_header(&mut raw, &h);
    raw
}

#[test]
fn both_ends_first_records_waiting_for_each_other_go_at_once() {
    // A new connection whose two ends each counted the other's first send
    // as in flight: each first record says its peer's may be pending. Once
    // both are here, they go, in causal order, not at the time bound.
    let mut c = Causal::default();
    let mut out = vec![];
    c.push(pending(data(1, 2, 0, 24, 0)), 0, &mut out);
    assert!(out.is_empty(), "the server's first record is not here yet");
    c.push(pending(data(2, 1, 0, 15, 0)), 1, &mut out);
    c.push(pending(data(1, 2, 24, 9, 15)), 2, &mut out);
    assert_eq!(who(&out), [(2, 0), (1, 0), (1, 24)]);
    assert_eq!((c.held_bytes(), c.forced), (0, 0));

    // The server read the client's first write before it answered: its
    // record waits for the client's, which waited for it to be here.
    let mut c = Causal::default();
    let mut out = vec![];
    c.push(pending(data(2, 1, 0, 15, 24)), 0, &mut out);
    assert!(out.is_empty());
    c.push(pending(data(1, 2, 0, 24, 0)), 1, &mut out);
    assert_eq!(who(&out), [(1, 0), (2, 0)]);
    assert_eq!((c.held_bytes(), c.forced), (0, 0));
}

#[test]
fn two_first_records_that_each_wait_for_the_other_go_at_once() {
    // Each end's first record says it read bytes of the other that the
    // other's first record carries: no later record can free either. The
    // older goes at once (counted), not at the bound, then the other.
    let mut c = Causal::default();
    let mut out = vec![];
    c.push(data(1, 2, 0, 30, 10), 0, &mut out);
    assert!(out.is_empty());
    c.push(data(2, 1, 0, 10, 30), 1, &mut out);
    assert_eq!(who(&out), [(1, 0), (2, 0)]);
    assert_eq!((c.held_bytes(), c.forced), (0, 1));
    // A record waiting for the peer's bytes that have not come is no
    // such knot: it waits.
    let mut c = Causal::default();
    let mut out = vec![];
    c.push(data(2, 1, 0, 5, 10), 0, &mut out);
    c.push(data(1, 2, 0, 4, 0), 1, &mut out);
    assert_eq!(who(&out), [(1, 0)]);
    assert!(c.held_bytes() > 0);
    assert_eq!(c.forced, 0);
}
