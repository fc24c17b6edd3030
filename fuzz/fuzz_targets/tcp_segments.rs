//! TCP reassembly reached directly: fuzzer records become segments with
//! chosen sequence numbers and flags (see `containerdsnoop_fuzz::segments`),
//! written as a pcap and read through the full decoder.
#![no_main]

use containerdsnoop::input::{self, ReadOptions};
use containerdsnoop_fuzz::{pipeline, segments};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pcap = segments::pcap_of(data);
    let mut sink = pipeline();
    let r = input::read(&pcap[..], &ReadOptions::default(), &mut sink);
    // The pcap is well formed by construction: only the TCP content varies.
    assert!(r.is_ok(), "{:?}", r.err());
    let last = sink.last_ns();
    let _ = sink.finish(last);
});
