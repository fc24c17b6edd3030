//! Memory of the pod and container map (a benchmark: it prints figures and
//! asserts nothing). Run with `cargo run --release --example subjects_memory`.
//!
//! Feeds the map what kubelet says to create PODS pods of one container
//! each (RunPodSandbox and CreateContainer, requests and responses, names,
//! uids and labels of realistic lengths), then one relist naming them all,
//! and reports the heap the map holds, counted by a wrapping allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use containerdsnoop::subjects::Subjects;
use containerdsnoop::testsupport::ttrpc::len_field;

/// The system allocator, counting the bytes in use.
struct Counting;

static IN_USE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        IN_USE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const RT: &str = "/runtime.v1.RuntimeService/";

fn field(n: u32, v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    len_field(&mut out, n, v);
    out
}

fn hex_id(seed: u64) -> String {
    (0..4)
        .map(|i| {
            format!(
                "{:016x}",
                seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(i * 16)
            )
        })
        .collect()
}

/// A PodSandboxConfig: metadata (name, uid, namespace) and two labels.
fn sandbox_config(i: u64) -> Vec<u8> {
    let name = format!("web-{i}-7d9c5b8f6-x2k4p");
    let uid = format!("{:08x}-1c2d-4e5f-8a9b-{:012x}", i, i * 7919);
    let meta = [
        field(1, name.as_bytes()),
        field(2, uid.as_bytes()),
        field(3, b"production"),
    ]
    .concat();
    let label = |k: &str, v: &str| {
        field(
            6,
            &[field(1, k.as_bytes()), field(2, v.as_bytes())].concat(),
        )
    };
    [
        field(1, &meta),
        label("app", "web"),
        label("pod-template-hash", "7d9c5b8f6"),
    ]
    .concat()
}

fn main() {
    let pods: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let before = IN_USE.load(Ordering::Relaxed);
    let mut m = Subjects::new();
    let mut ids = Vec::new();
    for i in 0..pods {
        let (sandbox, container) = (hex_id(2 * i + 1), hex_id(2 * i + 2));
        let config = sandbox_config(i);
        let run = format!("{RT}RunPodSandbox");
        m.message(1, 1, &run, true, &field(1, &config));
        m.message(1, 1, &run, false, &field(1, sandbox.as_bytes()));
        m.call_end(1, 1, true);
        let create = format!("{RT}CreateContainer");
        let ctr_config = [
            field(1, &field(1, b"app")),
            field(2, &field(1, b"registry.example.com/team/web:1.27.3")),
        ]
        .concat();
        let req = [
            field(1, sandbox.as_bytes()),
            field(2, &ctr_config),
            field(3, &config),
        ]
        .concat();
        m.message(1, 3, &create, true, &req);
        m.message(1, 3, &create, false, &field(1, container.as_bytes()));
        m.call_end(1, 3, true);
        ids.push((sandbox, container));
    }
    let after = IN_USE.load(Ordering::Relaxed);
    let bytes = (after - before) as f64;
    println!(
        "{pods} pods (a sandbox and a container each): map holds {:.1} MiB, {:.0} bytes a pod",
        bytes / 1048576.0,
        bytes / pods as f64
    );
    let mut sizes = containerdsnoop::sizes::Sizes::default();
    m.sizes(&mut sizes);
    println!(
        "entries: {} sandboxes, {} containers",
        sizes.get("subjects.sandboxes").unwrap_or(0),
        sizes.get("subjects.containers").unwrap_or(0)
    );
    drop(ids);
}
