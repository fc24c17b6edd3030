use super::calls::{Call, Outcome};
use super::escape::{attr, cut, script_json, text};
use super::lanes::{Bins, BINS};
use super::methods::Methods;
use super::*;
use crate::decode::{CallMeta, PathInfo};
use crate::flow::{Comm, Dir, Process};
use crate::pipeline::{ConnInfo, Item, Output, What};
use crate::subjects::extract::PodMeta;
use crate::subjects::Subject;
use std::sync::Arc;

#[test]
fn text_and_attributes_cannot_break_out() {
    let evil = "<script>alert(\"x\")</script>'&\u{1b}";
    assert_eq!(
        text(evil),
        "&lt;script&gt;alert(\"x\")&lt;/script&gt;'&amp;\\u{1b}"
    );
    assert_eq!(
        attr(evil),
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;\\u{1b}"
    );
    let json = serde_json::json!({"m": "</script><!-- \u{2028}&"}).to_string();
    let safe = script_json(&json);
    assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
    let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
    assert_eq!(back["m"], "</script><!-- \u{2028}&");
}

#[test]
fn cut_keeps_whole_characters() {
    assert_eq!(cut("héllo", 2), "hé…");
    assert_eq!(cut("hé", 2), "hé");
}

#[test]
fn bins_widen_and_keep_every_call() {
    let mut b = Bins::new_for_test(0);
    for i in 0..10_000u64 {
        b.add(i * 3_000_000, i % 10 == 0);
    }
    let (calls, errors) = b.slices().fold((0u64, 0u64), |(c, e), s| {
        (c + u64::from(s.2), e + u64::from(s.3))
    });
    assert_eq!((calls, errors), (10_000, 1_000));
    assert!(b.slices().count() <= BINS);
    let last = b.slices().last().unwrap();
    assert!(last.0 <= 29_997_000_000 && 29_997_000_000 < last.1);
}

fn call(method: &str, latency: Option<u64>, outcome: Outcome) -> Call {
    Call {
        seq: 0,
        conn: 1,
        stream: 1,
        method: method.into(),
        pod: None,
        container: None,
        start_ns: latency.map(|l| 1_000_000_000 - l),
        end_ns: 1_000_000_000,
        outcome,
        streaming: false,
        excerpt: None,
        status_message: None,
        client: Process::default(),
        server: Process::default(),
    }
}

#[test]
fn percentiles_are_nearest_rank_and_exact() {
    let mut m = Methods::default();
    let name = m.intern("/a.B/C");
    for l in 1..=100u64 {
        m.call(&call(&name, Some(l * 1000), Outcome::Ok));
    }
    m.call(&call(&name, None, Outcome::Failed(5)));
    m.call(&call(&name, Some(9_999_999), Outcome::Open));
    let (_, row) = m.rows().next().unwrap();
    assert_eq!(row.calls, 102);
    assert_eq!(row.timed, 100);
    assert_eq!(row.errors(), 1);
    assert_eq!(row.percentile(50).unwrap().ns, 50_000);
    assert_eq!(row.percentile(95).unwrap().ns, 95_000);
    assert_eq!(row.max_ns, 100_000);
}

fn conn(id: u64) -> ConnInfo {
    ConnInfo {
        id,
        path: Some("/run/containerd/containerd.sock".into()),
        client: Process::thread(10, 10, Comm::from_name("ctr")),
        server: Process::thread(20, 20, Comm::from_name("containerd")),
        ..ConnInfo::default()
    }
}

fn end(conn_id: u64, stream: u32, path: &str, ts: u64, subject: Subject) -> Item {
    let c = conn(conn_id);
    Item {
        ts_ns: ts,
        writer: c.server,
        peer: c.client,
        conn: c,
        what: What::CallEnd {
            http_status: None,
            stream,
            path: PathInfo::Known(path.into()),
            meta: CallMeta::default(),
            status: Some(0),
            message: None,
            reset: None,
            latency_ns: Some(1_000),
            unfinished: false,
        },
        subject,
        ends: Default::default(),
    }
}

fn page(r: Report) -> String {
    let mut out = Vec::new();
    r.write(&Facts::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn names_from_the_wire_are_text() {
    let mut r = Report::new();
    let pod = PodMeta {
        namespace: "ns\"'".into(),
        name: "<script>alert(1)</script>".into(),
        uid: "u".into(),
    };
    let subject = Subject {
        pod: Some(Arc::new(pod)),
        ..Subject::default()
    };
    r.item(&end(1, 1, "/x.Y/<script>\"", 5_000, subject))
        .unwrap();
    let html = page(r);
    assert_eq!(html.matches("<script").count(), 2, "{html}");
    assert!(html.contains("data-pod=\"ns&quot;&#39;/&lt;script&gt;alert(1)&lt;/script&gt;\""));
    assert!(html.contains("data-method=\"/x.Y/&lt;script&gt;&quot;\""));
}

#[test]
fn every_call_is_drawn_or_counted() {
    let mut r = Report::new();
    let n = drawn::MAX_DRAWN as u64 + 500;
    for i in 0..n {
        r.item(&end(
            i % 100,
            i as u32,
            "/a.B/C",
            1_000_000 + i * 1000,
            Subject::default(),
        ))
        .unwrap();
    }
    let html = page(r);
    let drawn = html.matches("class=\"call ").count() as u64;
    assert_eq!(drawn, drawn::MAX_DRAWN as u64);
    assert!(html.contains(&format!(
        "the other {} are shaded slices",
        n - drawn::MAX_DRAWN as u64
    )));
    assert!(html.contains("class=\"slice"));
    assert!(html.contains("share a lane per client"));
}

#[test]
fn a_message_gives_its_call_an_excerpt_and_bytes() {
    let mut r = Report::new();
    let c = conn(3);
    let msg = Item {
        ts_ns: 1_000,
        writer: c.client,
        peer: c.server,
        conn: c,
        what: What::Message {
            http: None,
            dir: Dir::ToServer,
            stream: 7,
            path: PathInfo::Known("/a.B/C".into()),
            meta: CallMeta::default(),
            compressed: false,
            payload: vec![0; 12],
            decompress_error: None,
            decoded: None,
        },
        subject: Subject::default(),
        ends: Default::default(),
    };
    r.item(&msg).unwrap();
    r.item(&end(3, 7, "/a.B/C", 2_000, Subject::default()))
        .unwrap();
    let html = page(r);
    assert!(html.contains("data-sort=\"12\""), "{html}");
    assert_eq!(html.matches("class=\"arrow req\"").count(), 1);
    assert_eq!(html.matches("class=\"arrow resp ok\"").count(), 1);
}

#[test]
fn long_names_from_the_wire_keep_the_page_small() {
    let mut r = Report::new();
    for i in 0..3_000u64 {
        let pod = PodMeta {
            namespace: "ns".into(),
            name: format!("{i}{}", "<".repeat(250)),
            uid: format!("u{i}"),
        };
        let subject = Subject {
            pod: Some(Arc::new(pod)),
            ..Subject::default()
        };
        let method = format!("/s.S/{i}{}", "&".repeat(10_000));
        r.item(&end(
            i % 30,
            i as u32,
            &method,
            1_000_000 + i * 1000,
            subject,
        ))
        .unwrap();
    }
    let html = page(r);
    assert!(html.len() < 5_000_000, "{} bytes", html.len());
    assert!(html.contains("fewer to keep the page small"));
    assert!(html.contains("sequence diagrams are not drawn, to keep the page small"));
    assert!(html.contains("have no row of their own, to keep the page small"));
}

#[test]
fn the_axis_of_any_span_ends() {
    for (t0, t1) in [
        (0, 0),
        (u64::MAX - 5, u64::MAX),
        (0, u64::MAX),
        (7, 7_000_000_007),
    ] {
        let scale = super::svg::Scale::new(t0, t1, 0.0, 1000.0);
        let mut out = String::new();
        scale.axis(&mut out, 10.0, 20.0);
        let ticks = out.matches("class=\"tick\"").count();
        assert!((1..=11).contains(&ticks), "{t0}..{t1}: {ticks} ticks");
    }
}

#[test]
fn extreme_items_give_a_page_without_panic_or_nan() {
    let mut r = Report::new();
    for (i, ts) in [0, u64::MAX, 5, u64::MAX - 1, 1 << 62]
        .into_iter()
        .enumerate()
    {
        let c = conn(i as u64);
        let what = match i % 3 {
            0 => What::CallEnd {
                http_status: None,
                stream: 1,
                path: PathInfo::Unknown,
                meta: CallMeta::default(),
                status: None,
                message: Some("\u{0}\u{7f}</title>".into()),
                reset: Some(8),
                latency_ns: Some(u64::MAX),
                unfinished: false,
            },
            1 => What::Gap {
                dir: Dir::ToClient,
                bytes: u64::MAX,
            },
            _ => What::CallEnd {
                http_status: None,
                stream: 3,
                path: PathInfo::Known(String::new()),
                meta: CallMeta::default(),
                status: Some(u32::MAX),
                message: None,
                reset: None,
                latency_ns: None,
                unfinished: true,
            },
        };
        let item = Item {
            ts_ns: ts,
            writer: c.server,
            peer: c.client,
            conn: c,
            what,
            subject: Subject::default(),
            ends: Default::default(),
        };
        r.item(&item).unwrap();
    }
    let html = page(r);
    assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");
    assert!(html.contains("data-method=\"&lt;unknown&gt;\""));
    assert!(html.contains("RST_STREAM CANCEL"));
}

#[test]
fn http_statuses_of_400_and_above_are_errors() {
    assert!(Outcome::of_http(404, false).is_error());
    assert_eq!(Outcome::of_http(404, false).label(), "HTTP 404");
    assert!(!Outcome::of_http(204, false).is_error());
    assert_eq!(Outcome::of_http(500, true), Outcome::Open);
}
