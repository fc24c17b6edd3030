//! The pipeline's decoders on whole conversations: each connection gets
//! the decoder its bytes call for, and what is neither is counted, silent
//! and bounded.

use anyhow::Result;

use super::decoders::{Decoders, Events};
use super::item::ConnInfo;
use crate::decode::sniff::PREFACE;
use crate::decode::sniffer::Sniffer;
use crate::decode::{Event, Protocol};
use crate::flow::{Conn, ConnId, Dir, FlowEvent, Sink};
use crate::testsupport::flow::{conn, play};
use crate::testsupport::h2::Conv as H2;
use crate::testsupport::ttrpc::shim_conversation;

#[derive(Default)]
struct Seen(Vec<(Option<Protocol>, Event)>);

impl Events for Seen {
    fn event(&mut self, conn: &ConnInfo, _: u64, ev: Event) -> Result<()> {
        self.0.push((conn.protocol, ev));
        Ok(())
    }
}

/// The decoders as a flow sink, behind the sniffer as in every command.
struct Feed<'a> {
    dec: &'a mut Decoders,
    seen: &'a mut Seen,
}

impl Sink for Feed<'_> {
    fn event(&mut self, conn: &Conn, ts: u64, ev: FlowEvent<'_>) -> Result<()> {
        self.dec.on_flow(conn, ts, ev, self.seen)
    }
}

/// Runs `writes` as connection `id` through the sniffer and `dec`.
fn run(dec: &mut Decoders, id: ConnId, writes: &[(Dir, Vec<u8>)], seen: &mut Seen) {
    let mut sniffer = Sniffer::new();
    let mut feed = Feed { dec, seen };
    let s = &mut sniffer.sink(&mut feed);
    let c = conn(id);
    play(s, &c, writes);
    s.event(&c, 3, FlowEvent::Close).unwrap();
}

fn messages(seen: &Seen, p: Protocol) -> usize {
    seen.0
        .iter()
        .filter(|(q, e)| *q == Some(p) && matches!(e, Event::Message { .. }))
        .count()
}

#[test]
fn each_connection_gets_the_decoder_its_bytes_call_for() {
    let mut dec = Decoders::new();
    let mut seen = Seen::default();
    run(&mut dec, 1, &shim_conversation().writes, &mut seen);
    let mut h2 = H2::new();
    h2.start();
    h2.unary(
        1,
        "/containerd.services.version.v1.Version/Version",
        b"",
        b"\x0a\x01x",
    );
    run(&mut dec, 2, &h2.writes, &mut seen);
    let other = [
        (Dir::ToServer, b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
        (Dir::ToClient, b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
    ];
    run(&mut dec, 3, &other, &mut seen);
    // A connection that closes without a byte spoke nothing.
    run(&mut dec, 4, &[], &mut seen);
    assert_eq!(messages(&seen, Protocol::Ttrpc), 9);
    assert_eq!(messages(&seen, Protocol::Grpc), 2);
    assert!(
        seen.0.iter().all(|(p, _)| p.is_some()),
        "no events of other connections"
    );
    let counts = dec.counts();
    assert_eq!((counts.grpc, counts.ttrpc, counts.other), (1, 1, 1));
    assert!(h2.writes[0].1.starts_with(PREFACE));
}

#[test]
fn bytes_held_while_undecided_are_bounded() {
    let mut dec = Decoders::new();
    let mut seen = Seen::default();
    // Zeros: ttrpc-like first bytes (a zero length byte) that never
    // decide, from the client only.
    let writes: Vec<(Dir, Vec<u8>)> = (0..20)
        .map(|_| (Dir::ToServer, vec![0u8; 8 << 10]))
        .collect();
    run(&mut dec, 1, &writes, &mut seen);
    assert_eq!(dec.counts().other, 1);
    assert!(seen.0.is_empty());
}

#[test]
fn the_summary_counts_evicted_pods_and_containers() {
    use crate::pipeline::evicted_summary;
    assert_eq!(evicted_summary(0), None);
    assert_eq!(
        evicted_summary(1).unwrap(),
        "1 pod sandbox or container left the pod map past its bound of 65536 entries: \
         later calls about it show no pod"
    );
    assert!(evicted_summary(7)
        .unwrap()
        .starts_with("7 pod sandboxes or containers left"));
}
