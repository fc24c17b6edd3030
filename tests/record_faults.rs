//! Overload and faults (as root): a flood through a tiny ring buffer, many
//! short connections, a reader that goes away, a recorder killed with
//! SIGKILL, and a full disk.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{bin, require_root, short_tempdir, tshark, Recorder};
use containerdsnoop::decode::h2::frame::{flags, Kind};
use containerdsnoop::testsupport::h2;

const PATH: &str = "/containerd.services.namespaces.v1.Namespaces/Create";

fn string(field: u8, s: &[u8]) -> Vec<u8> {
    let mut v = vec![field << 3 | 2];
    let mut n = s.len();
    while n >= 0x80 {
        v.push(n as u8 | 0x80);
        n >>= 7;
    }
    v.push(n as u8);
    v.extend_from_slice(s);
    v
}

/// One gRPC call as HTTP/2 frames: HEADERS (static and literal fields only,
/// so every header block decodes on its own) and DATA with a
/// CreateNamespaceRequest of about 8 KiB.
fn call(stream: u32) -> Vec<u8> {
    let mut block = vec![0x83, 0x86, 0x04, PATH.len() as u8];
    block.extend_from_slice(PATH.as_bytes());
    block.extend_from_slice(&[0x0f, 0x10, 16]);
    block.extend_from_slice(b"application/grpc");
    let label = [string(1, b"filler"), string(2, &[b'x'; 8000])].concat();
    let ns = [
        string(1, format!("ns-{stream}").as_bytes()),
        string(2, &label),
    ]
    .concat();
    let data = h2::grpc_msg(&string(1, &ns));
    [
        h2::frame(Kind::Headers, flags::END_HEADERS, stream, &block),
        h2::frame(Kind::Data, flags::END_STREAM, stream, &data),
    ]
    .concat()
}

/// A server on `sock` that reads until EOF, and a client connected to it.
fn sink_server(sock: &Path) -> (UnixStream, thread::JoinHandle<()>) {
    let listener = UnixListener::bind(sock).unwrap();
    let t = thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        while !matches!(c.read(&mut buf), Ok(0) | Err(_)) {}
    });
    (UnixStream::connect(sock).unwrap(), t)
}

/// An HTTP/2 client on `sock` that has sent its preface, SETTINGS and `n` calls.
fn h2_client(sock: &Path, n: u32) -> (UnixStream, thread::JoinHandle<()>) {
    let (mut c, t) = sink_server(sock);
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    c.write_all(&h2::frame(Kind::Settings, 0, 0, &[])).unwrap();
    for i in 0..n {
        c.write_all(&call(2 * i + 1)).unwrap();
    }
    (c, t)
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn flood_through_a_tiny_ring_buffer_is_counted_marked_and_resynced() {
    require_root();
    let dir = short_tempdir("cs-flood");
    let sock = dir.path().join("flood.sock");
    let pcap = dir.path().join("flood.pcapng");
    let rec = Recorder::start(
        &pcap,
        &["--socket", sock.to_str().unwrap(), "--ringbuf-size", "64K"],
    );
    let listener = UnixListener::bind(&sock).unwrap();
    let server = thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.write_all(&h2::frame(Kind::Settings, 0, 0, &[])).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        while !matches!(c.read(&mut buf), Ok(0) | Err(_)) {}
    });
    let mut c = UnixStream::connect(&sock).unwrap();
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    c.write_all(&h2::frame(Kind::Settings, 0, 0, &[])).unwrap();
    let started = Instant::now();
    let mut stream = 1u32;
    let mut sent = 0usize;
    // The reader may keep up with this writer: the recorder is stopped for
    // a while in the middle of the flood, so that the 64K ring overflows.
    let pid = libc::pid_t::try_from(rec.pid()).unwrap();
    let mut stopped = false;
    while started.elapsed() < Duration::from_secs(2) {
        // Several calls per write, as a busy client's buffered writer does.
        let batch: Vec<u8> = (0..8).flat_map(|i| call(stream + 2 * i)).collect();
        c.write_all(&batch).unwrap();
        stream += 16;
        sent += batch.len();
        let t = started.elapsed();
        if !stopped && t > Duration::from_millis(500) && t < Duration::from_millis(1000) {
            // SAFETY: kill on our own child, which has not been reaped.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            stopped = true;
        } else if stopped && t >= Duration::from_millis(1000) {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            stopped = false;
        }
    }
    if stopped {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
    }
    drop(c);
    server.join().unwrap();
    thread::sleep(Duration::from_millis(300));
    let rss = peak_rss_kib(rec.pid());
    let (status, stderr) = rec.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("DROPPED"),
        "a 64K ring must drop under a flood: {stderr}"
    );
    assert!(
        rss < 128 * 1024,
        "recorder peak RSS {rss} KiB after {sent} bytes"
    );

    let p = pcap.to_str().unwrap();
    let lost = tshark([
        "-r",
        p,
        "-Y",
        "tcp.analysis.lost_segment",
        "-T",
        "fields",
        "-e",
        "frame.comment",
    ]);
    assert!(
        lost.lines().any(|l| l.contains("bytes lost")),
        "gaps are marked for Wireshark"
    );

    let out = Command::new(bin())
        .args(["decode", p, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut gap_seen = false;
    let mut after_gap = 0;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let o: serde_json::Value = serde_json::from_str(line).unwrap();
        if o["type"] == "gap" {
            gap_seen = true;
        } else if gap_seen && o["type"] == "message" && o["method"] == PATH {
            assert_eq!(o["schema"], "typed", "{o}");
            assert!(
                o["message"]["namespace"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("ns-"),
                "{o}"
            );
            after_gap += 1;
        }
    }
    assert!(
        gap_seen && after_gap > 0,
        "the decoder resynchronises after gaps ({after_gap} calls)"
    );
    // The figures, for `cargo test --test record_faults -- --nocapture`.
    eprintln!(
        "flood: {sent} bytes sent in 2 s through a 64 KiB ring; recorder peak RSS {rss} KiB; \
         {} packets marked lost by tshark; {after_gap} calls decoded after the first gap; \
         recorder: {}",
        lost.lines().filter(|l| l.contains("bytes lost")).count(),
        stderr.lines().last().unwrap_or_default()
    );
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn thousands_of_short_connections_are_finished_and_forgotten() {
    require_root();
    let dir = short_tempdir("cs-many");
    let sock = dir.path().join("many.sock");
    let pcap = dir.path().join("many.pcapng");
    let rec = Recorder::start(&pcap, &["--socket", sock.to_str().unwrap()]);
    let listener = UnixListener::bind(&sock).unwrap();
    const N: usize = 3000;
    let server = thread::spawn(move || {
        for _ in 0..N {
            let (mut c, _) = listener.accept().unwrap();
            let mut b = [0u8; 4];
            c.read_exact(&mut b).unwrap();
            c.write_all(b"pong").unwrap();
        }
    });
    for _ in 0..N {
        let mut c = UnixStream::connect(&sock).unwrap();
        c.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).unwrap();
    }
    server.join().unwrap();
    thread::sleep(Duration::from_millis(500));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{N} connections (0 open)")),
        "{stderr}"
    );
    assert!(stderr.contains("no drops"), "{stderr}");
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn reader_going_away_and_sigkill_leave_usable_output() {
    require_root();
    let dir = short_tempdir("cs-pipe");
    let sock = dir.path().join("pipe.sock");
    let sock_s = sock.to_str().unwrap().to_string();
    // `record -o - | head -c 1000`: a clean exit once head is gone.
    let mut rec = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' record -o - --socket '{sock_s}' | head -c 1000 > /dev/null",
            bin().display()
        ))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(1500));
    let (mut c, t) = sink_server(&sock);
    for _ in 0..200 {
        c.write_all(&[7u8; 4096]).unwrap();
    }
    drop(c);
    t.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while rec.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "record did not notice its reader went away"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let mut err = String::new();
    rec.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(rec.wait().unwrap().success(), "{err}");
    assert!(err.contains("the reader of the output went away"), "{err}");

    // SIGKILL: the file decodes up to its last complete block, with a warning.
    let pcap = dir.path().join("killed.pcapng");
    let sock2 = dir.path().join("kill.sock");
    let rec = Recorder::start(&pcap, &["--socket", sock2.to_str().unwrap()]);
    let (c, t) = h2_client(&sock2, 50);
    thread::sleep(Duration::from_millis(400));
    // SAFETY: kill on our own child.
    unsafe { libc::kill(rec.pid() as i32, libc::SIGKILL) };
    drop(rec);
    drop(c);
    t.join().unwrap();
    // Cut the file mid-block too, as a kill during a write would.
    let bytes = std::fs::read(&pcap).unwrap();
    let cut = dir.path().join("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() - 37]).unwrap();
    for (file, complete) in [(&pcap, true), (&cut, false)] {
        let out = Command::new(bin())
            .args(["decode", "--json"])
            .arg(file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let calls = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(PATH))
            .count();
        assert!(
            calls >= 40,
            "{}: {calls} messages decoded; {stderr}",
            file.display()
        );
        if complete {
            assert!(out.status.success(), "{stderr}");
        } else {
            assert_eq!(out.status.code(), Some(3), "{stderr}");
            assert!(
                stderr.contains("everything before that point was decoded"),
                "{stderr}"
            );
        }
    }
    assert!(Path::new(&pcap).exists());
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn sigterm_finishes_a_valid_file() {
    require_root();
    let dir = short_tempdir("cs-term");
    let sock = dir.path().join("term.sock");
    let pcap = dir.path().join("term.pcapng");
    let rec = Recorder::start(&pcap, &["--socket", sock.to_str().unwrap()]);
    let (c, t) = h2_client(&sock, 10);
    drop(c);
    t.join().unwrap();
    thread::sleep(Duration::from_millis(300));
    // SAFETY: kill on our own child.
    unsafe { libc::kill(rec.pid() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rec.stderr_text().contains("packets written") {
        assert!(
            Instant::now() < deadline,
            "no summary after SIGTERM: {}",
            rec.stderr_text()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(bin())
        .args(["decode", "--json"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(PATH))
        .count();
    assert_eq!(calls, 20, "10 requests, each a message and a call end");
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn a_full_disk_ends_the_capture_with_one_clear_sentence() {
    require_root();
    let dir = short_tempdir("cs-full");
    let sock = dir.path().join("full.sock");
    // /dev/full fails every write with ENOSPC, as a full filesystem does.
    let rec = Recorder::start_command(
        &dir.path().join("full"),
        &[
            "record",
            "-o",
            "/dev/full",
            "--socket",
            sock.to_str().unwrap(),
        ],
    );
    let (c, t) = h2_client(&sock, 10);
    drop(c);
    t.join().unwrap();
    thread::sleep(Duration::from_millis(500));
    let (status, stderr) = rec.stop();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("containerdsnoop: the disk is full (")
            && last.contains("the file is valid up to its last complete block"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
