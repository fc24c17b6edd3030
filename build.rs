//! Compiles every schema under `proto/` with protox (pure Rust, no protoc)
//! into an encoded `FileDescriptorSet` that `src/protobuf` embeds.
//!
//! With the `bpf` feature (the default), also compiles the BPF program into
//! a libbpf-rs skeleton in OUT_DIR: clang is needed at build time only, and
//! the binary carries the CO-RE object.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// Include root of the embedded schemas; imports inside are relative to it.
const PROTO_ROOT: &str = "proto";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    compile_descriptors(&out.join("containerd_descriptors.bin"));
    #[cfg(feature = "bpf")]
    bpf::build(&out);
}

#[cfg(feature = "bpf")]
mod bpf {
    use std::env;
    use std::path::Path;

    use libbpf_cargo::SkeletonBuilder;

    const SRC: &str = "src/bpf/snoop.bpf.c";

    /// The `__TARGET_ARCH_*` name bpf_tracing.h knows the target by, and
    /// the directory holding that architecture's vmlinux.h: x86_64's is
    /// `vmlinux/` (generated from a 6.18 kernel's BTF); another
    /// architecture's goes in `vmlinux/<arch>/`, made on such a machine
    /// with `bpftool btf dump file /sys/kernel/btf/vmlinux format c`.
    fn target_arch() -> (&'static str, String) {
        let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
            Ok("x86_64") | Err(_) => return ("x86", "vmlinux".into()),
            Ok("aarch64") => "arm64",
            Ok("riscv64") => "riscv",
            Ok(other) => panic!(
                "containerdsnoop's BPF program has no support for {other}: build with \
                 --no-default-features for the offline decoder only"
            ),
        };
        let dir = format!("vmlinux/{arch}");
        if !Path::new(&dir).join("vmlinux.h").exists() {
            panic!(
                "no {dir}/vmlinux.h: on a {arch} machine with BTF, run `bpftool btf dump file \
                 /sys/kernel/btf/vmlinux format c > {dir}/vmlinux.h`, or build with \
                 --no-default-features for the offline decoder only"
            );
        }
        (arch, dir)
    }

    pub fn build(out: &Path) {
        let (arch, vmlinux) = target_arch();
        SkeletonBuilder::new()
            .source(SRC)
            .clang_args([
                "-I",
                &vmlinux,
                "-I",
                "src/bpf",
                "-Wall",
                &format!("-D__TARGET_ARCH_{arch}"),
            ])
            .build_and_generate(out.join("snoop.skel.rs"))
            .expect("compiling src/bpf/snoop.bpf.c (is clang installed?)");
        // The directory, which cargo scans as a whole: every .bpf.h part
        // that snoop.bpf.c includes is an input without being listed.
        for input in ["src/bpf", &format!("{vmlinux}/vmlinux.h")] {
            println!("cargo:rerun-if-changed={input}");
        }
    }
}

/// Well-known types that protox ships, added even where nothing in `proto/`
/// imports them: user schemas (`--proto`) import them and `Any` may carry them.
const WELL_KNOWN: [&str; 7] = [
    "google/protobuf/any.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/wrappers.proto",
];

/// Writes the descriptors of every `.proto` below `proto/` and of the
/// well-known types, with their imports, sorted by name so that the output
/// does not depend on directory order.
fn compile_descriptors(dest: &Path) {
    let mut files = Vec::new();
    collect_protos(Path::new(PROTO_ROOT), &mut files);
    files.sort();
    files.extend(WELL_KNOWN.iter().map(PathBuf::from));
    let set = protox::Compiler::new([PROTO_ROOT])
        .and_then(|mut compiler| {
            compiler
                .include_imports(true)
                .include_source_info(false)
                .open_files(&files)?;
            Ok(compiler.encode_file_descriptor_set())
        })
        .unwrap_or_else(|e| panic!("compiling the schemas in proto/: {e:?}"));
    fs::write(dest, set).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
}

fn collect_protos(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("reading a proto/ entry").path();
        if path.is_dir() {
            collect_protos(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
}
