//! A whole capture file: pcap/pcapng framing, link and TCP headers,
//! reassembly, then the full decoder (the pipeline) with output dropped.
#![no_main]

use containerdsnoop::input::{self, ReadOptions};
use containerdsnoop_fuzz::pipeline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sink = pipeline();
    let opts = ReadOptions {
        http2_ports: vec![8080],
    };
    let _ = input::read(data, &opts, &mut sink);
    let last = sink.last_ns();
    let _ = sink.finish(last);
});
