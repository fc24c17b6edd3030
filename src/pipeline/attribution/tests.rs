use super::*;
use crate::decode::{CallMeta, Dir};
use crate::flow::Process;
use crate::pipeline::ConnInfo;
use crate::testsupport::ttrpc::len_field;

const SB: &str = "8806619fdd57a1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930";
const CTR: &str = "0b5c1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5a6b7c8d9eaf0b1c2d3e4f5a6b7c8d9";

fn field(n: u32, v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    len_field(&mut out, n, v);
    out
}

fn message(conn: u64, stream: u32, path: &str, dir: Dir, payload: Vec<u8>) -> Item {
    Item {
        ts_ns: 0,
        conn: ConnInfo {
            id: conn,
            ..ConnInfo::default()
        },
        writer: Process::default(),
        peer: Process::default(),
        what: What::Message {
            http: None,
            dir,
            stream,
            path: PathInfo::Known(path.into()),
            meta: CallMeta::default(),
            compressed: false,
            payload,
            decompress_error: None,
            decoded: None,
        },
        subject: Default::default(),
        ends: Default::default(),
    }
}

/// `item` written at time `ts`.
fn at(mut item: Item, ts: u64) -> Item {
    item.ts_ns = ts;
    item
}

fn stream_of(i: &Item) -> (u64, u32) {
    match &i.what {
        What::Message { stream, .. } | What::CallEnd { stream, .. } => (i.conn.id, *stream),
        _ => (i.conn.id, 0),
    }
}

const RT: &str = "/runtime.v1.RuntimeService/";
const TASK_START: &str = "/containerd.task.v2.Task/Start";

/// RunPodSandbox of pod `web` on connection 1, stream 1 (request only).
fn run_pod(a: &mut Attribution, out: &mut Vec<Item>) {
    // RunPodSandboxRequest.config (1) . metadata (1): name (1), namespace (3).
    let meta = [field(1, b"web"), field(3, b"default")].concat();
    let run = field(1, &field(1, &meta));
    a.admit(
        at(
            message(1, 1, &format!("{RT}RunPodSandbox"), Dir::ToServer, run),
            10,
        ),
        out,
    );
}

/// A Task request on `conn`, `stream` naming task `id`, written at `ts`.
fn task(conn: u64, stream: u32, id: &str, ts: u64) -> Item {
    at(
        message(
            conn,
            stream,
            TASK_START,
            Dir::ToServer,
            field(1, id.as_bytes()),
        ),
        ts,
    )
}

/// [`run_pod`]'s response at `ts`: the sandbox is [`SB`].
fn pod_created(a: &mut Attribution, out: &mut Vec<Item>, ts: u64) {
    let resp = field(1, SB.as_bytes());
    a.admit(
        at(
            message(1, 1, &format!("{RT}RunPodSandbox"), Dir::ToClient, resp),
            ts,
        ),
        out,
    );
}

#[test]
fn a_call_naming_an_unknown_id_waits_for_it_with_its_connection() {
    let mut a = Attribution::default();
    let mut out = Vec::new();
    run_pod(&mut a, &mut out);
    pod_created(&mut a, &mut out, 11);
    // CreateContainer asked; the shim's Task/Start on connection 2 comes
    // before the response that names its container, then another call.
    let config = field(2, &field(1, &field(1, b"app")));
    let create = [field(1, SB.as_bytes()), config].concat();
    a.admit(
        at(
            message(1, 3, &format!("{RT}CreateContainer"), Dir::ToServer, create),
            12,
        ),
        &mut out,
    );
    assert_eq!(out.len(), 3);
    a.admit(task(2, 1, CTR, 13), &mut out);
    a.admit(
        at(message(2, 3, "/x.Y/Z", Dir::ToServer, Vec::new()), 14),
        &mut out,
    );
    assert_eq!(
        out.len(),
        3,
        "held, and the connection's next item behind it"
    );
    let resp = field(1, CTR.as_bytes());
    a.admit(
        at(
            message(1, 3, &format!("{RT}CreateContainer"), Dir::ToClient, resp),
            15,
        ),
        &mut out,
    );
    let order: Vec<(u64, u32)> = out.iter().map(stream_of).collect();
    assert_eq!(order, [(1, 1), (1, 1), (1, 3), (1, 3), (2, 1), (2, 3)]);
    let named = &out[4].subject;
    assert_eq!(
        named.container.as_ref().and_then(|c| c.name.as_deref()),
        Some("app")
    );
    assert_eq!(named.pod.as_ref().map(|p| p.name.as_str()), Some("web"));
    let mut sizes = Sizes::default();
    a.sizes(&mut sizes);
    assert_eq!(sizes.get("attribution.held"), Some(0));
}

#[test]
fn an_id_never_described_waits_a_bounded_time() {
    let mut a = Attribution::default();
    let mut out = Vec::new();
    // Nothing is being created: an unknown id (a `ctr run` container) is
    // not held.
    a.admit(task(2, 1, CTR, 50), &mut out);
    assert_eq!(out.len(), 1);
    out.clear();
    // A sandbox is being created: its own Task calls wait for its id, at
    // most HOLD_CREATING_NS while it is.
    run_pod(&mut a, &mut out);
    out.clear();
    a.admit(task(2, 3, SB, 100), &mut out);
    a.expire(100 + HOLD_CREATING_NS - 1, &mut out);
    assert!(out.is_empty());
    // Another connection's items pass meanwhile.
    a.admit(
        at(message(3, 1, "/x.Y/Z", Dir::ToServer, Vec::new()), 101),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    a.expire(100 + HOLD_CREATING_NS, &mut out);
    assert_eq!(out.len(), 2);
    assert!(out[1].subject.is_empty(), "unknown stays unknown");

    // And the end of the input lets everything out.
    a.admit(task(2, 5, SB, 5000 + HOLD_NS), &mut out);
    assert_eq!(out.len(), 2);
    a.flush(&mut out);
    assert_eq!(out.len(), 3);
}

/// `item` of a call in containerd namespace `ns`.
fn in_namespace(mut item: Item, ns: &str) -> Item {
    if let What::Message { meta, .. } = &mut item.what {
        meta.namespace = Some(ns.to_owned());
    }
    item
}

#[test]
fn a_call_in_the_cri_namespace_waits_even_before_the_cri_spoke() {
    let mut a = Attribution::default();
    let mut out = Vec::new();
    // The sandbox's shim connection is delivered before the CRI connection
    // (each new connection waits for both its sides): its Task/Create in
    // namespace k8s.io waits for the RunPodSandbox that names its id.
    a.admit(in_namespace(task(2, 1, SB, 5), "k8s.io"), &mut out);
    assert!(out.is_empty(), "held");
    // The same in another namespace is not held: nothing will describe it.
    a.admit(in_namespace(task(3, 1, CTR, 6), "default"), &mut out);
    assert_eq!(out.len(), 1);
    run_pod(&mut a, &mut out);
    pod_created(&mut a, &mut out, 11);
    let named = out
        .iter()
        .find(|i| stream_of(i) == (2, 1))
        .expect("released once the id was described");
    assert_eq!(
        named.subject.pod.as_ref().map(|p| p.name.as_str()),
        Some("web")
    );
    assert_eq!(named.subject.sandbox_id.as_deref(), Some(SB));

    // Never described: it waits HOLD_NS at most, and stays unknown.
    let mut a = Attribution::default();
    let mut out = Vec::new();
    a.admit(in_namespace(task(2, 1, CTR, 100), "k8s.io"), &mut out);
    a.expire(100 + HOLD_NS - 1, &mut out);
    assert!(out.is_empty());
    a.expire(100 + HOLD_NS, &mut out);
    assert_eq!(out.len(), 1);
    assert!(out[0].subject.is_empty());
}

#[test]
fn a_sandbox_shim_call_waits_while_its_sandbox_is_being_created() {
    let mut a = Attribution::default();
    let mut out = Vec::new();
    run_pod(&mut a, &mut out);
    out.clear();
    // The sandbox's Task/Create, and its answer 1.5 s later (a slow runc
    // create): later than HOLD_NS, but RunPodSandbox is still in flight.
    let create = "/containerd.task.v2.Task/Create";
    a.admit(
        at(
            message(2, 1, create, Dir::ToServer, field(1, SB.as_bytes())),
            20,
        ),
        &mut out,
    );
    a.admit(
        at(
            message(2, 1, create, Dir::ToClient, Vec::new()),
            20 + HOLD_NS * 3 / 2,
        ),
        &mut out,
    );
    a.expire(20 + HOLD_NS * 3 / 2, &mut out);
    assert!(
        out.is_empty(),
        "held while the sandbox is being created: {out:?}"
    );
    pod_created(&mut a, &mut out, 20 + HOLD_NS * 2);
    let named: Vec<Option<&str>> = out
        .iter()
        .filter(|i| i.conn.id == 2)
        .map(|i| i.subject.pod.as_ref().map(|p| p.name.as_str()))
        .collect();
    assert_eq!(named, [Some("web"), Some("web")]);
    // Still bounded: with a creation in flight that never answers, an
    // unknown id waits HOLD_CREATING_NS at most.
    let mut a = Attribution::default();
    run_pod(&mut a, &mut out);
    out.clear();
    let t = 100 * HOLD_NS;
    a.admit(task(3, 1, CTR, t), &mut out);
    a.expire(t + HOLD_CREATING_NS - 1, &mut out);
    assert!(out.is_empty());
    a.expire(t + HOLD_CREATING_NS, &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn held_connections_go_out_in_the_order_they_were_written() {
    // Several connections wait for the same sandbox id; once it is
    // described they go out by their items' times, not in the map's order.
    for _ in 0..8 {
        let mut a = Attribution::default();
        let mut out = Vec::new();
        run_pod(&mut a, &mut out);
        out.clear();
        for (conn, ts) in [(9, 40), (4, 20), (7, 30), (2, 50)] {
            a.admit(task(conn, 1, SB, ts), &mut out);
        }
        assert!(out.is_empty());
        pod_created(&mut a, &mut out, 60);
        let order: Vec<u64> = out.iter().map(|i| i.conn.id).collect();
        assert_eq!(order, [1, 4, 7, 9, 2]);
    }
}

#[test]
fn a_wait_over_before_a_write_goes_out_before_it_ticked_or_not() {
    // A Task call naming an unknown id waits (k8s.io); the next write, on
    // another connection, comes after its wait is over. Offline nothing
    // ticks between; live a tick may: the output is the same.
    let items = || {
        [
            in_namespace(task(2, 1, CTR, 100), "k8s.io"),
            at(
                message(3, 1, "/x.Y/Z", Dir::ToServer, Vec::new()),
                100 + HOLD_NS + 5,
            ),
        ]
    };
    let order = |tick: bool| {
        let mut a = Attribution::default();
        let mut out = Vec::new();
        let [held, next] = items();
        a.admit(held, &mut out);
        assert!(out.is_empty(), "held: {out:?}");
        if tick {
            a.expire(100 + HOLD_NS, &mut out);
        }
        a.admit(next, &mut out);
        out.iter().map(|i| i.conn.id).collect::<Vec<_>>()
    };
    assert_eq!(order(false), [2, 3]);
    assert_eq!(order(true), [2, 3]);
}
