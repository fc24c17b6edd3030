//! Rough protobuf decoding speed figures (not a test: a benchmark prints
//! figures and asserts nothing). Run with
//! `cargo run --release --example protobuf_speed`.

use std::hint::black_box;
use std::time::Instant;

use containerdsnoop::protobuf::{Forms, Schemas};
use containerdsnoop::testsupport::Rng;
use prost_reflect::prost::Message;
use prost_reflect::{DynamicMessage, Value};

const NS_CREATE: &str = "/containerd.services.namespaces.v1.Namespaces/Create";
const CONTENT_WRITE: &str = "/containerd.services.content.v1.Content/Write";

fn message(s: &Schemas, name: &str, text: &str) -> DynamicMessage {
    let desc = s.pool().get_message_by_name(name).expect("type is bundled");
    DynamicMessage::parse_text_format(desc, text).expect("valid text format")
}

/// Time per call of `f`, over `n` calls.
fn per_call(n: u32, mut f: impl FnMut()) -> std::time::Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

fn main() {
    let s = Schemas::embedded();
    let small = message(
        &s,
        "containerd.services.namespaces.v1.CreateNamespaceRequest",
        r#"namespace { name: "snoop" labels { key: "a" value: "b" } }"#,
    )
    .encode_to_vec();
    let n = 200_000;
    let per = per_call(n, || {
        black_box(s.decode(Some(NS_CREATE), true, &small));
    });
    println!("small typed ({} B): {per:?}/msg", small.len());
    let per = per_call(n, || {
        black_box(s.decode_forms(Some(NS_CREATE), true, &small, Forms::TEXT));
    });
    println!("small typed, text only: {per:?}/msg");
    let per = per_call(n, || {
        black_box(s.decode(None, true, &small));
    });
    println!("small schema-less: {per:?}/msg");

    let mut big = message(
        &s,
        "containerd.services.content.v1.WriteContentRequest",
        r#"action: WRITE ref: "k8s.io/1/layer-sha256:ab" offset: 4096"#,
    );
    big.set_field_by_name("data", Value::Bytes(Rng::new(3).bytes(1 << 20).into()));
    let big = big.encode_to_vec();
    let per = per_call(500, || {
        black_box(s.decode(Some(CONTENT_WRITE), true, &big));
    });
    let mbps = big.len() as f64 / per.as_secs_f64() / 1e6;
    println!("1 MiB Content/Write typed: {per:?}/msg ({mbps:.0} MB/s)");
    let per = per_call(500, || {
        black_box(s.decode(None, true, &big));
    });
    println!("1 MiB Content/Write schema-less: {per:?}/msg");
}
