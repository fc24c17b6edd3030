//! TCP reassembly reached directly: fuzzer records become segments with
//! chosen sequence numbers and flags (see `containerdsnoop_fuzz::segments`),
//! written as a pcap and read through the full decoder.
#![no_main]

use containerdsnoop::calls::CallSink;
use containerdsnoop::pcapng::reader::{self, ReadOptions};
use containerdsnoop_fuzz::{segments, NullOutput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pcap = segments::pcap_of(data);
    let mut sink = CallSink::new(NullOutput);
    let r = reader::read(&pcap[..], &ReadOptions::default(), &mut sink);
    // The pcap is well formed by construction: only the TCP content varies.
    assert!(r.is_ok(), "{:?}", r.err());
    let last = sink.last_ns();
    let _ = sink.finish(last);
});
