//! Schemas from a Go binary on arbitrary bytes: the scan for gzip members
//! and raw descriptors, the pool built from what it finds (renames, import
//! aliases, borrowed and dropped files), the Go build information and ELF
//! notes, the method index, and the `.proto` printer on every pool file.
//! Budgets are smaller than the defaults so that each input stays fast.
#![no_main]

use containerdsnoop::protobuf::binary::export::to_source;
use containerdsnoop::protobuf::binary::scan::ScanLimits;
use containerdsnoop::protobuf::binary::BinarySchemas;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ScanLimits {
        member_bytes: 1 << 20,
        gzip_work: 8 << 20,
        raw_bytes: 1 << 20,
        raw_work: 8 << 20,
        max_files: 256,
    };
    let found = BinarySchemas::from_bytes_with(data, &limits);
    for file in found.pool.file_descriptor_protos() {
        std::hint::black_box(to_source(file).ok());
    }
    std::hint::black_box(found.info.ldflags_version());
    std::hint::black_box(found.schemas("fuzz"));
});
