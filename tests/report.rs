//! `containerdsnoop report`: the page draws every call `decode --json`
//! finds (a bar, a request arrow, a response arrow for each that ended, a
//! row per method), loads nothing, shows names from the socket as text,
//! stays bounded for 200,000 calls, and follows `record`'s rules for its
//! output file. No root. The Chromium tests (Debian's `chromium`, headless,
//! a fresh profile) are marked ignored like the other tests of Debian's
//! binaries and run by `scripts/test.sh`, where a missing browser fails.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use containerdsnoop::flow::{Comm, Conn, Dir, FlowEvent, Process, Protocol, Side, Sink};
use containerdsnoop::pcapng::PcapngWriter;
use containerdsnoop::testsupport::h2::{grpc_msg, Conv};
use serde_json::Value;

use common::chromium::{Browser, CHROMIUM, HEADLESS};
use common::report::{drawn, network_references, report_ok, Drawn};
use common::{bin, decode_ok, require_file, run_bounded};

const FIXTURES: [&str; 4] = ["ctr-run", "ctr-session", "shim-run", "mid-connection"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.pcapng"))
}

/// What `decode --json ARGS` says of the calls: by method, all and ended.
#[derive(Debug, Default)]
struct Truth {
    calls: BTreeMap<String, u64>,
    ended: BTreeMap<String, u64>,
    pods: BTreeSet<String>,
}

fn truth(file: &Path, args: &[&str]) -> Truth {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let mut t = Truth::default();
    for line in decode_ok(file, &all).lines() {
        let o: Value = serde_json::from_str(line).unwrap();
        if o["type"] != "call" {
            continue;
        }
        let method = o["method"].as_str().unwrap_or("<unknown>").to_string();
        *t.calls.entry(method.clone()).or_default() += 1;
        if o["unfinished"] == false {
            *t.ended.entry(method).or_default() += 1;
        }
        if let Some(name) = o["pod"]["name"].as_str() {
            t.pods.insert(format!(
                "{}/{name}",
                o["pod"]["namespace"].as_str().unwrap()
            ));
        }
    }
    t
}

/// The page draws exactly the calls of `t`.
fn assert_draws(d: &Drawn, t: &Truth, what: &str) {
    assert!(!t.calls.is_empty(), "{what}: decode finds calls");
    assert_eq!(d.calls, t.calls, "{what}: call bars by method");
    assert_eq!(d.requests, t.calls, "{what}: request arrows by method");
    assert_eq!(d.responses, t.ended, "{what}: response arrows by method");
    assert_eq!(d.rows, t.calls, "{what}: method rows");
    assert_eq!(d.scripts, 2, "{what}: the JSON figures and the script");
}

#[test]
fn each_fixture_draws_every_call_decode_finds_and_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for name in FIXTURES {
        let out = dir.path().join(format!("{name}.html"));
        let html = report_ok(&fixture(name), &out, &[]);
        assert_draws(&drawn(&html), &truth(&fixture(name), &[]), name);
        assert_eq!(network_references(&html), Vec::<String>::new(), "{name}");
        assert!(!html.contains("Aggregated"), "{name}: nothing aggregated");
    }
}

#[test]
fn filters_are_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("ctr-run");
    for args in [
        &["--method", "*Content*"][..],
        &["--method", "/containerd.services.tasks.v1.Tasks/*"],
    ] {
        let html = report_ok(
            &file,
            &dir.path().join("f.html"),
            &[&["--force"], args].concat(),
        );
        assert_draws(&drawn(&html), &truth(&file, args), &format!("{args:?}"));
    }
}

#[test]
fn the_output_is_private_never_replaced_without_force_never_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = |args: &[&str]| {
        Command::new(bin())
            .arg("report")
            .arg(fixture("shim-run"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["-o", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
    let o = run(&["-o", out.to_str().unwrap(), "--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    let link = dir.path().join("link.html");
    std::os::unix::fs::symlink(dir.path().join("target.html"), &link).unwrap();
    let o = run(&["-o", link.to_str().unwrap(), "--force"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("symbolic link"));
    assert!(!dir.path().join("target.html").exists());
}

#[test]
fn a_capture_cut_short_still_gives_its_page_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(fixture("ctr-run")).unwrap();
    let cut = dir.path().join("cut.pcapng");
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let out = dir.path().join("cut.html");
    let o = Command::new(bin())
        .arg("report")
        .arg(&cut)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success(), "a truncated capture is an error");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("everything before that point is in the report"),
        "{err}"
    );
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("<dt>Read</dt>"), "the page says so too");
    assert!(html.ends_with("</html>\n"));
    assert!(!drawn(&html).calls.is_empty());
}

/// A pcapng written from flows: each connection's writes, a write every
/// `step` ns from `t0`, consecutive writes of one direction joined.
struct Capture(PcapngWriter<BufWriter<File>>);

impl Capture {
    fn create(path: &Path) -> Capture {
        let f = BufWriter::new(File::create(path).unwrap());
        Capture(PcapngWriter::new(f, "report test").unwrap())
    }

    fn conn(&mut self, conn: &Conn, writes: &[(Dir, Vec<u8>)], t0: u64, step: u64) {
        self.0.event(conn, t0, FlowEvent::Open).unwrap();
        self.0
            .event(conn, t0, FlowEvent::Protocol(Some(Protocol::Grpc)))
            .unwrap();
        let mut joined: Vec<(Dir, Vec<u8>)> = Vec::new();
        for (dir, bytes) in writes {
            match joined.last_mut() {
                Some((d, b)) if d == dir => b.extend_from_slice(bytes),
                _ => joined.push((*dir, bytes.clone())),
            }
        }
        let mut offsets = [0u64; 2];
        let mut t = t0;
        for (dir, bytes) in &joined {
            let writer = match dir {
                Dir::ToServer => conn.client.owner,
                Dir::ToClient => conn.server.owner,
            };
            let ev = FlowEvent::Data {
                dir: *dir,
                writer: &writer,
                offset: offsets[dir.index()],
                bytes,
            };
            offsets[dir.index()] += bytes.len() as u64;
            self.0.event(conn, t, ev).unwrap();
            t += step;
        }
        self.0.event(conn, t, FlowEvent::Close).unwrap();
    }

    fn finish(self) {
        let mut w = self.0.finish().unwrap();
        std::io::Write::flush(&mut w).unwrap();
    }
}

fn side(pid: u32, comm: &str) -> Side {
    Side {
        ino: u64::from(pid),
        owner: Process {
            pid: Some(pid),
            tid: Some(pid),
            comm: Some(Comm::from_name(comm)),
            ..Default::default()
        },
        from_creds: false,
    }
}

fn conn(id: u64, client: Side, server: Side, t0: u64) -> Conn {
    Conn {
        id,
        path: Some("/run/containerd/containerd.sock".into()),
        client,
        server,
        first_ns: t0,
    }
}

/// A length-delimited protobuf field.
fn field(n: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![(n << 3 | 2) as u8];
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
    out
}

const EVIL_POD: &str = "<script>alert(\"pod\")</script>'&";
const EVIL_NS: &str = "ns\"><b>x</b>";
const EVIL_METHOD: &str = "/evil.Svc\"'/<script>alert('m')</script>";
const EVIL_COMM: &str = "<i>\"x'&</i>";

const PASSWORD: &str = "hunter2-never-shown";

/// A capture whose method, pod and process names hold markup and quotes:
/// a CRI RunPodSandbox of pod `EVIL_NS/EVIL_POD`, a StopPodSandbox of it,
/// a call of method `EVIL_METHOD`, by a client named `EVIL_COMM`, and a
/// PullImage with a registry password.
fn evil_capture(path: &Path) {
    let meta = [
        field(1, EVIL_POD.as_bytes()),
        field(2, b"uid-1"),
        field(3, EVIL_NS.as_bytes()),
    ]
    .concat();
    let run = field(1, &field(1, &meta));
    let id = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut conv = Conv::new();
    conv.start();
    conv.unary(
        1,
        "/runtime.v1.RuntimeService/RunPodSandbox",
        &run,
        &field(1, id),
    );
    conv.unary(
        3,
        "/runtime.v1.RuntimeService/StopPodSandbox",
        &field(1, id),
        b"",
    );
    conv.request(5, EVIL_METHOD);
    conv.data(Dir::ToServer, 5, &grpc_msg(b"\x0a\x03<b>"), true);
    conv.response(5);
    conv.trailers(5, 3, "</script><script>alert(1)</script>");
    let auth = [field(1, b"user"), field(2, PASSWORD.as_bytes())].concat();
    let pull = [
        field(1, &field(1, b"docker.io/library/busybox:latest")),
        field(2, &auth),
    ]
    .concat();
    conv.unary(7, "/runtime.v1.ImageService/PullImage", &pull, b"");
    let t0 = 1_700_000_000_000_000_000;
    let c = conn(1, side(4000, EVIL_COMM), side(100, "containerd"), t0);
    let mut cap = Capture::create(path);
    cap.conn(&c, &conv.writes, t0, 1_000_000);
    cap.finish();
}

#[test]
fn names_from_the_socket_are_shown_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("evil.pcapng");
    evil_capture(&cap);
    let html = report_ok(&cap, &dir.path().join("evil.html"), &[]);
    let t = truth(&cap, &[]);
    assert!(t.calls.contains_key(EVIL_METHOD), "{t:?}");
    assert_eq!(t.pods, BTreeSet::from([format!("{EVIL_NS}/{EVIL_POD}")]));
    let d = drawn(&html);
    assert_draws(&d, &t, "evil");
    // The pod's names came through whole, as attribute values...
    assert_eq!(d.pod_diagrams, vec![format!("{EVIL_NS}/{EVIL_POD}")]);
    // ...and as text: no element of theirs, in the raw page.
    let names: BTreeSet<String> = common::report::tags(&html)
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(!names.contains("b") && !names.contains("i"), "{names:?}");
    assert!(html.contains("&lt;script&gt;alert(&quot;pod&quot;)&lt;/script&gt;"));
    assert!(
        html.contains("&lt;i&gt;&quot;x&#39;&amp;&lt;/i&gt;")
            || html.contains("&lt;i&gt;\"x'&amp;&lt;/i&gt;")
    );
    assert_eq!(network_references(&html), Vec::<String>::new());
    // The hover text shows the start of a request as the table does:
    // secrets redacted.
    assert!(
        html.contains("busybox:latest"),
        "the PullImage excerpt is shown"
    );
    assert!(!html.contains(PASSWORD), "the password is redacted");
    // `--pod` as for decode: the pod's calls, in its one diagram.
    let pod = format!("{EVIL_NS}/{EVIL_POD}");
    let args = ["--pod", pod.as_str()];
    let only = report_ok(&cap, &dir.path().join("pod.html"), &args);
    let d = drawn(&only);
    assert_draws(&d, &truth(&cap, &args), "--pod");
    assert_eq!(
        d.requests.len(),
        2,
        "RunPodSandbox and StopPodSandbox: {d:?}"
    );
    assert_eq!((d.pod_diagrams, d.conn_diagrams), (vec![pod], 0));
}

/// 200,000 calls on one connection and 2,000 short connections of one
/// call each: the page draws what it can, counts the rest, says so, and
/// stays under 5 MB. (How long it takes is printed, not asserted:
/// BENCHMARKS.md has the figures of a real capture.)
#[test]
fn two_hundred_thousand_calls_make_a_bounded_page() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("many.pcapng");
    let t0 = 1_700_000_000_000_000_000u64;
    let server = side(100, "containerd");
    let mut w = Capture::create(&cap);
    let mut conv = Conv::new();
    conv.start();
    const LOOPED: u32 = 200_000;
    for i in 0..LOOPED {
        let status = if i % 1000 == 7 { 5 } else { 0 };
        conv.request(2 * i + 1, "/containerd.services.version.v1.Version/Version");
        conv.data(Dir::ToServer, 2 * i + 1, &grpc_msg(b""), true);
        conv.response(2 * i + 1);
        conv.data(Dir::ToClient, 2 * i + 1, &grpc_msg(b"\x0a\x041.61"), false);
        conv.trailers(2 * i + 1, status, "");
    }
    w.conn(
        &conn(0, side(200, "loop"), server, t0),
        &conv.writes,
        t0,
        30_000,
    );
    drop(conv);
    const SHORT: u64 = 2_000;
    for i in 0..SHORT {
        let mut c = Conv::new();
        c.start();
        c.unary(
            1,
            "/containerd.services.namespaces.v1.Namespaces/List",
            b"",
            b"",
        );
        let start = t0 + i * 2_000_000;
        w.conn(
            &conn(1 + i, side(1000 + i as u32, "ctr"), server, start),
            &c.writes,
            start,
            100_000,
        );
    }
    w.finish();
    let out = dir.path().join("many.html");
    let started = Instant::now();
    let html = report_ok(&cap, &out, &[]);
    eprintln!(
        "report of {} calls: {} bytes in {:?}",
        u64::from(LOOPED) + SHORT,
        html.len(),
        started.elapsed()
    );
    assert!(html.len() <= 5 << 20, "{} bytes", html.len());
    let d = drawn(&html);
    let total: u64 = d.rows.values().sum();
    assert_eq!(total, u64::from(LOOPED) + SHORT);
    assert_eq!(d.rows.len(), 2);
    let bars: u64 = d.calls.values().sum();
    assert_eq!(bars, 4_000);
    assert!(html.contains(&format!("the other {} are shaded slices", total - bars)));
    assert!(html.contains("share a lane per client, server and socket"));
    // The errors are drawn first: all 200 of them.
    let errors = html.matches("class=\"call err").count();
    assert_eq!(errors, 200);
}

/// Debian's Chromium, headless, with a fresh profile: its stdout.
fn chromium(page: &Path, args: &[&str]) -> Vec<u8> {
    require_file(CHROMIUM, "chromium");
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(CHROMIUM);
    cmd.args(HEADLESS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()));
    let out = run_bounded(&mut cmd, "chromium", Duration::from_secs(120));
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Chromium, offline: no proxy reachable and no name resolving.
const OFFLINE: [&str; 2] = [
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
];

fn dom(page: &Path, args: &[&str]) -> String {
    let mut all = vec!["--dump-dom"];
    all.extend_from_slice(args);
    String::from_utf8(chromium(page, &all)).expect("the DOM is UTF-8")
}

#[test]
#[ignore = "needs Debian's chromium: run with --include-ignored (scripts/test.sh does)"]
fn chromium_shows_every_call_offline_and_without_script() {
    require_file(CHROMIUM, "chromium");
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.pcapng");
    evil_capture(&evil);
    for (name, file) in [
        ("ctr-run", fixture("ctr-run")),
        ("shim-run", fixture("shim-run")),
        ("evil", evil),
    ] {
        let page = dir.path().join(format!("{name}.html"));
        let html = report_ok(&file, &page, &[]);
        let t = truth(&file, &[]);
        let raw = drawn(&html);
        let online = dom(&page, &[]);
        let offline = dom(&page, &OFFLINE);
        // `--dump-dom` prints nothing with script disabled: the DevTools
        // protocol reads that DOM.
        let mut browser = Browser::start(&[
            OFFLINE[0],
            OFFLINE[1],
            "--blink-settings=scriptEnabled=false",
        ]);
        let canary = dir.path().join("canary.html");
        std::fs::write(
            &canary,
            "<body><script>document.body.setAttribute('data-ran', '1')</script></body>",
        )
        .unwrap();
        browser.open(&canary, false, 200, 200);
        assert!(
            !browser.dom().contains("data-ran=\"1\""),
            "script is disabled"
        );
        browser.open(&page, false, 1400, 1000);
        let scriptless = browser.dom();
        for (how, d) in [
            ("online", &online),
            ("offline", &offline),
            ("without script", &scriptless),
        ] {
            let seen = drawn(d);
            assert_draws(&seen, &t, &format!("{name} {how}"));
            assert_eq!(seen, raw, "{name} {how}: as the page says");
            assert_eq!(network_references(d), Vec::<String>::new(), "{name} {how}");
        }
        assert_eq!(
            offline, online,
            "{name}: the same DOM with the network blocked"
        );
    }
}

/// The pixels of a PNG as RGBA, with its width (8-bit RGB or RGBA, not
/// interlaced: what Chromium writes).
fn png_pixels(bytes: &[u8]) -> (usize, Vec<[u8; 4]>) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "8 bits a sample");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("colour type {t}"),
                };
                assert_eq!(data[12], 0, "not interlaced");
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * channels;
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(width * height);
    for row in raw.chunks(stride + 1).take(height) {
        let (filter, line) = (row[0], &row[1..]);
        let mut cur = line.to_vec();
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 };
            let b = prev[i];
            let c = if i >= channels { prev[i - channels] } else { 0 };
            cur[i] = cur[i].wrapping_add(match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            });
        }
        for px in cur.chunks(channels) {
            pixels.push([px[0], px[1], px[2], if channels == 4 { px[3] } else { 255 }]);
        }
        prev = cur;
    }
    (width, pixels)
}

/// Rows of the image holding at least `min` pixels of colour `rgb`.
fn rows_with(width: usize, pixels: &[[u8; 4]], rgb: [u8; 3], min: usize) -> Vec<usize> {
    pixels
        .chunks(width)
        .enumerate()
        .filter(|(_, row)| {
            row.iter()
                .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 3))
                .count()
                >= min
        })
        .map(|(y, _)| y)
        .collect()
}

#[test]
#[ignore = "needs Debian's chromium: run with --include-ignored (scripts/test.sh does)"]
fn chromium_screenshot_shows_the_timeline_and_a_sequence_diagram() {
    require_file(CHROMIUM, "chromium");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("shim-run.html");
    report_ok(&fixture("shim-run"), &page, &[]);
    let shot = dir.path().join("shot.png");
    chromium(
        &page,
        &[
            OFFLINE[0],
            OFFLINE[1],
            "--hide-scrollbars",
            "--window-size=1400,2600",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let (width, pixels) = png_pixels(&std::fs::read(&shot).unwrap());
    assert_eq!(width, 1400);
    // The timeline's OK bars (#3c9a4f), below them a participant box of a
    // sequence diagram (#eef3fb), each several pixels wide.
    let bars = rows_with(width, &pixels, [0x3c, 0x9a, 0x4f], 3);
    let boxes = rows_with(width, &pixels, [0xee, 0xf3, 0xfb], 100);
    assert!(!bars.is_empty(), "no timeline bar in the screenshot");
    assert!(!boxes.is_empty(), "no sequence diagram in the screenshot");
    assert!(bars[0] < boxes[0], "the timeline comes first");
}

#[test]
#[ignore = "needs Debian's chromium: run with --include-ignored (scripts/test.sh does)"]
fn chromium_draws_the_same_pixels_without_script() {
    require_file(CHROMIUM, "chromium");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("ctr-run.html");
    report_ok(&fixture("ctr-run"), &page, &[]);
    let mut shots = Vec::new();
    for script in [true, false] {
        let mut browser = Browser::start(&OFFLINE);
        browser.open(&page, script, 1400, 2400);
        let (width, pixels) = png_pixels(&browser.screenshot());
        assert_eq!(width, 1400);
        shots.push(pixels);
    }
    assert!(
        shots[0] == shots[1],
        "the page looks the same with script disabled"
    );
    let green = rows_with(1400, &shots[0], [0x3c, 0x9a, 0x4f], 3);
    assert!(!green.is_empty(), "the timeline is in view");
}
