//! A whole capture file: pcap/pcapng framing, link and TCP headers,
//! reassembly, then the full decoder (`CallSink`) with output dropped.
#![no_main]

use containerdsnoop::calls::CallSink;
use containerdsnoop::pcapng::reader::{self, ReadOptions};
use containerdsnoop_fuzz::NullOutput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sink = CallSink::new(NullOutput);
    let opts = ReadOptions {
        http2_ports: vec![8080],
    };
    let _ = reader::read(data, &opts, &mut sink);
    let last = sink.last_ns();
    let _ = sink.finish(last);
});
