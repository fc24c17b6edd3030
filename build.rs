//! Compiles the BPF program into a libbpf-rs skeleton in OUT_DIR.
//! Needs clang at build time only; the binary carries the CO-RE object.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "src/bpf/snoop.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("no vmlinux.h for target architecture {other}"),
        Err(_) => "x86",
    };
    SkeletonBuilder::new()
        .source(SRC)
        .clang_args([
            "-I",
            "vmlinux",
            "-I",
            "src/bpf",
            "-Wall",
            &format!("-D__TARGET_ARCH_{arch}"),
        ])
        .build_and_generate(out.join("snoop.skel.rs"))
        .expect("compiling src/bpf/snoop.bpf.c (is clang installed?)");
    for input in [SRC, "src/bpf/snoop.h", "vmlinux/vmlinux.h"] {
        println!("cargo:rerun-if-changed={input}");
    }
}
