use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value as AV;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::call::Call;
use super::metrics::{label, Metrics, MAX_NAMES};
use super::otlp::{parse_headers, Exporter, Options, Target};
use super::serve::{route, Route};
use super::span::{self, Encoder, Gathered};
use super::Tap;
use crate::decode::{CallMeta, PathInfo, Protocol};
use crate::flow::container::{Container, ContainerId, InContainer};
use crate::flow::{Comm, Process};
use crate::pipeline::{ConnInfo, Item, Output, What};
use crate::subjects::extract::PodMeta;
use crate::subjects::{ContainerRef, Subject};

/// A finished call on `path` with `status`, 2 ms long, ending at 10 s.
fn call_item(path: Option<&str>, status: Option<u32>) -> Item {
    Item {
        ts_ns: 10_000_000_000,
        conn: ConnInfo {
            id: 7,
            path: Some("/run/containerd/containerd.sock".into()),
            client: Process::thread(900, 901, Comm::from_name("kubelet")).owner(),
            server: Process::thread(50, 50, Comm::from_name("containerd")).owner(),
            protocol: Some(Protocol::Grpc),
            hpack_recovered: false,
        },
        writer: Process::default(),
        peer: Process::default(),
        what: What::CallEnd {
            stream: 3,
            path: path.map_or(PathInfo::Unknown, |p| PathInfo::Known(p.into())),
            meta: CallMeta {
                namespace: Some("k8s.io".into()),
                ..CallMeta::default()
            },
            http_status: None,
            status,
            message: status.filter(|&s| s != 0).map(|_| "no such pod".into()),
            reset: None,
            latency_ns: Some(2_000_000),
            unfinished: false,
        },
        subject: Subject::default(),
        ends: Default::default(),
    }
}

/// Our bytes read back with opentelemetry-proto's types.
fn decoded(bytes: Vec<u8>) -> Span {
    use prost::Message;
    Span::decode(bytes.as_slice()).expect("a valid Span")
}

fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a AV> {
    s.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text<'a>(s: &'a Span, key: &str) -> &'a str {
    match attr(s, key) {
        Some(AV::StringValue(v)) => v,
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn a_call_is_read_once_for_names_status_and_times() {
    let item = call_item(Some("/runtime.v1.RuntimeService/RunPodSandbox"), Some(5));
    let c = Call::of(&item).unwrap();
    assert_eq!(c.service, Some("runtime.v1.RuntimeService"));
    assert_eq!(c.method, Some("RunPodSandbox"));
    assert_eq!(c.status, "NOT_FOUND");
    assert!(c.failed());
    assert_eq!(c.name(), "runtime.v1.RuntimeService/RunPodSandbox");
    assert_eq!(c.start_ns, Some(9_998_000_000));
    assert_eq!(c.seconds(), Some(0.002));
    // Never a guess: paths not of the form /service/method have no name.
    for p in ["", "/", "/a", "/a/", "//m", "/a/b/c", "a/b"] {
        let item = call_item(Some(p), Some(0));
        let c = Call::of(&item).unwrap();
        assert_eq!((c.service, c.method), (None, None), "{p:?}");
        assert_eq!(c.name(), "grpc unknown");
    }
    assert_eq!(Call::of(&call_item(None, None)).unwrap().status, "NONE");
}

/// A finished HTTP API call `method target` named `path` (as the HTTP
/// decoder names it), answered `status`.
fn http_item(method: &str, target: &str, path: &str, status: Option<u16>) -> Item {
    let mut item = call_item(Some(path), None);
    item.conn.protocol = Some(Protocol::Http1);
    if let What::CallEnd {
        meta, http_status, ..
    } = &mut item.what
    {
        meta.namespace = None;
        meta.http = Some(Box::new(crate::decode::http1::HttpCall {
            method: Some(method.into()),
            target: Some(target.into()),
            route: crate::decode::http1::ops::named(method, target).1,
            status,
            resynced: false,
        }));
        *http_status = status;
    }
    item
}

#[test]
fn http_api_calls_are_named_by_operation_and_never_by_their_target() {
    let item = http_item(
        "GET",
        "/v1.41/containers/8806619fdd57/json?size=1",
        "/docker/ContainerInspect",
        Some(404),
    );
    let c = Call::of(&item).unwrap();
    assert_eq!(c.protocol, "http");
    assert_eq!(c.name(), "docker/ContainerInspect");
    assert_eq!(c.status, "404");
    assert!(!c.failed(), "a 4xx leaves a server span's status unset");
    let s = decoded(span::of_call(
        &item,
        &c,
        Gathered::default(),
        &mut Encoder::default(),
    ));
    assert_eq!(s.name, "docker/ContainerInspect");
    assert_eq!(text(&s, "http.request.method"), "GET");
    assert!(matches!(
        attr(&s, "http.response.status_code"),
        Some(AV::IntValue(404))
    ));
    assert_eq!(text(&s, "http.route"), "/containers/*/json");
    assert!(attr(&s, "rpc.system.name").is_none());
    assert!(s.status.is_none());
    let raw = format!("{s:?}");
    assert!(
        !raw.contains("8806619fdd57"),
        "an id from the target: {raw}"
    );

    // A 5xx is the server's failure.
    let item = http_item(
        "POST",
        "/v4.3.1/libpod/images/pull?reference=x&password=hunter2",
        "/podman/ImagePullLibpod",
        Some(500),
    );
    let c = Call::of(&item).unwrap();
    assert!(c.failed());
    let s = decoded(span::of_call(
        &item,
        &c,
        Gathered::default(),
        &mut Encoder::default(),
    ));
    assert_eq!(s.name, "podman/ImagePullLibpod");
    assert_eq!(text(&s, "error.type"), "500");
    assert_eq!(s.status.as_ref().map(|st| st.code), Some(2));
    assert_eq!(text(&s, "http.route"), "/libpod/images/pull");
    assert!(!format!("{s:?}").contains("hunter2"));

    // A route neither API has: its method only; a method of its own: HTTP.
    let item = http_item("DELETE", "/secret/abc", "DELETE /secret/abc", Some(200));
    let c = Call::of(&item).unwrap();
    assert_eq!(c.name(), "DELETE unknown");
    let s = decoded(span::of_call(
        &item,
        &c,
        Gathered::default(),
        &mut Encoder::default(),
    ));
    assert!(attr(&s, "http.route").is_none());
    assert!(!format!("{s:?}").contains("abc"));
    let item = http_item("BREW", "/pot", "BREW /pot", None);
    let c = Call::of(&item).unwrap();
    assert_eq!((c.name().as_str(), c.status), ("HTTP unknown", "NONE"));
    assert_eq!(super::call::http_status_name(299), "2xx");
    assert_eq!(super::call::http_status_name(999), "other");
}

#[test]
fn spans_carry_the_conventions_and_our_namespaced_attributes() {
    let mut item = call_item(Some("/runtime.v1.RuntimeService/StartContainer"), Some(0));
    let cid = ContainerId::new(&"ab".repeat(32)).unwrap();
    item.conn.client.container = InContainer::Container(Container {
        id: cid,
        pod_uid: None,
    });
    item.subject = Subject {
        pod: Some(Arc::new(PodMeta {
            namespace: "default".into(),
            name: "web".into(),
            uid: "u-1".into(),
        })),
        container: Some(Arc::new(ContainerRef {
            id: "cd".repeat(32),
            name: Some("app".into()),
        })),
        sandbox_id: Some("ef".repeat(32).into()),
    };
    let call = Call::of(&item).unwrap();
    let s = decoded(span::of_call(
        &item,
        &call,
        Gathered::default(),
        &mut Encoder::default(),
    ));
    assert_eq!(s.name, "runtime.v1.RuntimeService/StartContainer");
    assert_eq!(s.kind, 2, "SERVER");
    assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 2_000_000);
    assert!(s.status.is_none(), "OK leaves a server span's status unset");
    assert_eq!(s.trace_id.len(), 16);
    assert_eq!(s.span_id.len(), 8);
    assert_eq!(text(&s, "rpc.system.name"), "grpc");
    assert_eq!(
        text(&s, "rpc.method"),
        "runtime.v1.RuntimeService/StartContainer"
    );
    assert_eq!(text(&s, "rpc.response.status_code"), "OK");
    assert!(attr(&s, "error.type").is_none());
    assert_eq!(text(&s, "network.transport"), "unix");
    assert_eq!(
        text(&s, "server.address"),
        "/run/containerd/containerd.sock"
    );
    assert_eq!(text(&s, "containerd.namespace"), "k8s.io");
    assert_eq!(text(&s, "server.process.executable.name"), "containerd");
    assert_eq!(attr(&s, "client.process.pid"), Some(&AV::IntValue(900)));
    assert_eq!(text(&s, "containerd.subject.pod.name"), "web");
    assert_eq!(text(&s, "containerd.subject.pod.uid"), "u-1");
    assert_eq!(text(&s, "containerd.subject.container.name"), "app");
    assert_eq!(text(&s, "client.container.id"), "ab".repeat(32));
    // Nothing that the k8sattributes processor writes for the agent's own pod.
    assert!(s.attributes.iter().all(|kv| !kv.key.starts_with("k8s.")));

    let failed = call_item(Some("/runtime.v1.RuntimeService/StopPodSandbox"), Some(5));
    let s = decoded(span::of_call(
        &failed,
        &Call::of(&failed).unwrap(),
        Gathered::default(),
        &mut Encoder::default(),
    ));
    let st = s.status.clone().unwrap();
    assert_eq!(st.code, 2, "ERROR");
    assert_eq!(st.message, "no such pod");
    assert_eq!(text(&s, "error.type"), "NOT_FOUND");

    let unknown = call_item(None, Some(0));
    let s = decoded(span::of_call(
        &unknown,
        &Call::of(&unknown).unwrap(),
        Gathered::default(),
        &mut Encoder::default(),
    ));
    assert_eq!(s.name, "grpc unknown");
    assert_eq!(text(&s, "rpc.method"), "_OTHER");
}

#[test]
fn metric_labels_are_bounded_and_clean() {
    assert_eq!(label("a/b c\"d\n"), "a_b_c_d_");
    assert_eq!(label(&"x".repeat(500)).len(), 128);
    let m = Metrics::new();
    for i in 0..MAX_NAMES + 5 {
        let path = format!("/svc.S/M{i}");
        let item = call_item(Some(&path), Some(0));
        m.call(&Call::of(&item).unwrap());
    }
    let text = m.encode();
    assert!(text.contains("method=\"M0\""), "{text}");
    assert!(
        !text.contains(&format!("method=\"M{}\"", MAX_NAMES)),
        "{text}"
    );
    assert!(text.contains("method=\"other\",status=\"OK\"} 5"), "{text}");
    assert!(
        text.contains("containerdsnoop_calls_folded_total 5"),
        "{text}"
    );
    assert!(
        text.contains("containerdsnoop_call_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn metrics_requests_are_routed_by_their_request_line() {
    assert_eq!(route(b"GET /metrics HTTP/1.1\r\n\r\n"), Route::Metrics);
    assert_eq!(route(b"GET /metrics?x HTTP/1.1\r\n\r\n"), Route::Metrics);
    assert_eq!(route(b"GET /metricsx HTTP/1.1\r\n\r\n"), Route::NotFound);
    assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::NotAllowed);
    assert_eq!(route(b""), Route::NotAllowed);
}

#[test]
fn the_endpoint_comes_from_the_flag_then_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let t = Target::resolve(Some("http://c:4318/"), None, env(&[]), None)
        .unwrap()
        .unwrap();
    assert_eq!(t.url, "http://c:4318/v1/traces");
    let e = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://base:4318"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b, x=1"),
    ]);
    let t = Target::resolve(None, None, e, None).unwrap().unwrap();
    assert_eq!(t.url, "https://base:4318/v1/traces");
    assert_eq!(
        t.headers,
        vec![("api-key".into(), "a b".into()), ("x".into(), "1".into())]
    );
    let e = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/custom"),
    ]);
    assert_eq!(
        Target::resolve(None, None, e, None).unwrap().unwrap().url,
        "http://t/custom"
    );
    assert_eq!(Target::resolve(None, None, env(&[]), None).unwrap(), None);
    assert!(Target::resolve(Some("c:4318"), None, env(&[]), None).is_err());
    // The CA file: the flag, else the traces variable, else the general one.
    let e = || {
        env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://base"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/all.pem"),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/traces.pem"),
        ])
    };
    let ca = |flag: Option<&str>, e| {
        Target::resolve(None, flag.map(std::path::Path::new), e, None)
            .unwrap()
            .unwrap()
            .certificate
    };
    assert_eq!(ca(Some("/flag.pem"), e()), Some("/flag.pem".into()));
    assert_eq!(ca(None, e()), Some("/traces.pem".into()));
    let general = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://base"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/all.pem"),
    ]);
    assert_eq!(ca(None, general), Some("/all.pem".into()));
    assert_eq!(t.certificate, None);
    assert!(parse_headers("novalue").is_err());
    assert!(parse_headers("a b=c").is_err());
    assert!(parse_headers("a=b%0Ac").is_err());
}

/// An exporter to `url` with `queue` spans and a flush bound of `flush`.
fn exporter(url: String, queue: usize, flush: Duration) -> Exporter {
    let target = Target {
        url,
        headers: Vec::new(),
        certificate: None,
    };
    Exporter::new(target, Vec::new(), Options::new(queue, flush))
}

fn a_span() -> Vec<u8> {
    let item = call_item(Some("/s.S/M"), Some(0));
    span::of_call(
        &item,
        &Call::of(&item).unwrap(),
        Gathered::default(),
        &mut Encoder::default(),
    )
}

#[test]
fn a_full_queue_drops_and_counts_and_never_waits() {
    // Not spawned: nothing takes from the queue.
    let e = exporter("http://127.0.0.1:9/v1/traces".into(), 4, Duration::ZERO);
    let t = Instant::now();
    for _ in 0..100 {
        e.send(&a_span());
    }
    assert!(t.elapsed() < Duration::from_secs(1));
    let c = e.counts();
    assert_eq!((c.queued, c.dropped, c.sent, c.failed), (4, 96, 0, 0));
    // At exit, what is still queued counts as failed.
    let c = e.shutdown();
    assert_eq!((c.queued, c.dropped, c.sent, c.failed), (0, 96, 0, 4));
}

#[test]
fn spans_reach_a_collector_and_a_stalled_one_is_given_up_in_time() {
    // A collector that answers 200 to each request, counting them.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let mut c = c;
            let mut buf = vec![0u8; 1 << 20];
            let mut got = Vec::new();
            // Read the head and the body it announces.
            loop {
                let n = c.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        use std::io::Write;
                        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: application/x-protobuf\r\n\r\n");
                        got.clear();
                    }
                }
            }
        }
    });
    let e = exporter(url, 1000, Duration::from_secs(5));
    e.spawn().unwrap();
    for _ in 0..700 {
        e.send(&a_span());
    }
    let c = e.shutdown();
    assert_eq!((c.sent, c.dropped, c.failed, c.queued), (700, 0, 0, 0));

    // Stalled: accepts and reads, never answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf = [0u8; 4096];
                while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    let e = exporter(url, 1000, Duration::from_millis(300));
    e.spawn().unwrap();
    for _ in 0..10 {
        e.send(&a_span());
    }
    let t = Instant::now();
    let c = e.shutdown();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!((c.sent, c.failed, c.queued), (0, 10, 0));
}

#[test]
fn the_tap_counts_messages_and_hands_items_on() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Count(Arc<AtomicUsize>);
    impl Output for Count {
        fn item(&mut self, _: &Item) -> anyhow::Result<()> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        fn flush(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
    }
    let shown = Arc::new(AtomicUsize::new(0));
    let e = Arc::new(exporter(
        "http://127.0.0.1:9/v1/traces".into(),
        10,
        Duration::ZERO,
    ));
    let m = Arc::new(Metrics::new());
    let mut tap = Tap::new(Some(Box::new(Count(shown.clone()))))
        .exporting(e.clone(), true)
        .counting(m.clone());
    let end = call_item(Some("/s.S/M"), Some(0));
    let mut msg = end.clone();
    msg.what = What::Message {
        dir: crate::flow::Dir::ToServer,
        stream: 3,
        path: PathInfo::Known("/s.S/M".into()),
        meta: CallMeta::default(),
        compressed: false,
        payload: vec![1, 2, 3],
        decompress_error: None,
        decoded: None,
        http: None,
    };
    for _ in 0..70 {
        tap.item(&msg).unwrap();
    }
    let open_calls = |tap: &Tap| {
        let mut sizes = crate::sizes::Sizes::default();
        tap.sizes(&mut sizes);
        sizes.get("export.open_calls")
    };
    assert_eq!(open_calls(&tap), Some(1));
    tap.item(&end).unwrap();
    assert_eq!(e.counts().queued, 1);
    assert_eq!(shown.load(Ordering::Relaxed), 71);
    assert!(m.encode().contains(
        "containerdsnoop_calls_total{protocol=\"grpc\",service=\"s.S\",method=\"M\",status=\"OK\"} 1"
    ));
    // The call's entry went with its end.
    assert_eq!(open_calls(&tap), Some(0));
}

#[test]
fn message_events_are_bounded_in_number_and_size() {
    let mut g = Gathered::default();
    let item = call_item(Some("/s.S/M"), Some(0));
    g.messages = 70;
    let s = decoded(span::of_call(
        &item,
        &Call::of(&item).unwrap(),
        g,
        &mut Encoder::default(),
    ));
    assert_eq!(
        attr(&s, "containerdsnoop.messages"),
        Some(&AV::IntValue(70))
    );
}

#[test]
fn requests_and_events_decode_as_the_crate_encodes_them() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    let mut g = Gathered::default();
    g.events.push(span::event(5, "message", |a| {
        a.string("k", "v");
        a.int("n", -3);
        a.boolean("b", true);
    }));
    g.dropped_events = 2;
    let item = call_item(Some("/s.S/M"), Some(0));
    let one = span::of_call(&item, &Call::of(&item).unwrap(), g, &mut Encoder::default());
    let mut spans = Vec::new();
    for s in [&one, &one, &Vec::new()] {
        super::wire::bytes(&mut spans, 2, s);
    }
    let mut body = Vec::new();
    super::wire::request(b"", b"\x0a\x01x", "https://s/1", &spans, &mut body);
    let r = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
    let rs = &r.resource_spans[0];
    assert_eq!(rs.schema_url, "https://s/1");
    let ss = &rs.scope_spans[0];
    assert_eq!(ss.scope.as_ref().unwrap().name, "x");
    assert_eq!(ss.schema_url, "https://s/1");
    assert_eq!(ss.spans.len(), 3);
    assert_eq!(ss.spans[0], decoded(one));
    let s = &ss.spans[0];
    assert_eq!(s.dropped_events_count, 2);
    let e = &s.events[0];
    assert_eq!((e.time_unix_nano, e.name.as_str()), (5, "message"));
    let vals: Vec<_> = e
        .attributes
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone().unwrap().value.unwrap()))
        .collect();
    assert_eq!(
        vals,
        vec![
            ("k", AV::StringValue("v".into())),
            ("n", AV::IntValue(-3)),
            ("b", AV::BoolValue(true)),
        ]
    );
    // Re-encoded by the crate, the same bytes.
    assert_eq!(r.encode_to_vec(), body);
}

#[test]
fn a_connections_shared_attributes_follow_what_it_learns_and_stay_bounded() {
    let mut enc = Encoder::default();
    let mut item = call_item(Some("/s.S/M"), Some(0));
    // The server not named yet, then named: the second span says so.
    item.conn.server = Process::default();
    let call = Call::of(&item).unwrap();
    let first = decoded(enc.span(&item, &call, Gathered::default()).to_vec());
    assert_eq!(attr(&first, "server.process.pid"), None);
    let mut named = item.clone();
    named.conn.server = Process::thread(50, 50, Comm::from_name("containerd")).owner();
    let call = Call::of(&named).unwrap();
    let second = decoded(enc.span(&named, &call, Gathered::default()).to_vec());
    assert_eq!(attr(&second, "server.process.pid"), Some(&AV::IntValue(50)));
    assert_eq!(
        text(&second, "server.process.executable.name"),
        "containerd"
    );
    assert_eq!(enc.len(), 1);
    // Many connections: the kept attributes stay bounded, every span whole.
    for id in 0..3000 {
        let mut other = named.clone();
        other.conn.id = id;
        let call = Call::of(&other).unwrap();
        let s = decoded(enc.span(&other, &call, Gathered::default()).to_vec());
        assert_eq!(text(&s, "network.transport"), "unix");
        assert!(enc.len() <= 1024, "{}", enc.len());
    }
}
