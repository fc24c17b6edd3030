//! The kernel side's userspace half: load the BPF program, read its records.

pub mod filter;
pub mod preflight;
pub mod record;
pub mod reorder;
pub mod tracer;

/// The skeleton libbpf-cargo generated from `src/bpf/snoop.bpf.c`.
#[allow(clippy::all, missing_docs, unused_imports, non_camel_case_types)]
pub(crate) mod skel {
    include!(concat!(env!("OUT_DIR"), "/snoop.skel.rs"));
}
