//! Kernel-side filters (as root): --socket, --comm and --pid keep exactly
//! the connections they name, both directions of each.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::thread;

use common::{require_root, short_tempdir, tshark, Containerd, Recorder};

/// Ping-pong on our own socket from threads of this test process.
fn own_traffic(sock: &Path, rounds: usize) {
    let listener = UnixListener::bind(sock).unwrap();
    let server = thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut buf = [0u8; 16];
        for _ in 0..rounds {
            c.read_exact(&mut buf).unwrap();
            c.write_all(b"other-socket-rsp").unwrap();
        }
    });
    let mut c = UnixStream::connect(sock).unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..rounds {
        c.write_all(b"other-socket-req").unwrap();
        c.read_exact(&mut buf).unwrap();
    }
    server.join().unwrap();
}

/// (interface name, direction flag) of every data packet in a capture.
fn seen(pcap: &Path) -> BTreeSet<(String, String)> {
    let out = tshark([
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "tcp.len > 0",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.interface_name",
        "-e",
        "frame.packet_flags_direction",
    ]);
    out.lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn both_directions(path: &str) -> BTreeSet<(String, String)> {
    // 1: to the server (inbound), 2: from the server (outbound).
    let dir = |d: &str| (path.to_string(), d.to_string());
    [dir("0x00000001"), dir("0x00000002")].into()
}

fn record_while(
    pcap: &Path,
    args: &[&str],
    cd: &Containerd,
    other: &Path,
) -> BTreeSet<(String, String)> {
    let rec = Recorder::start(pcap, args);
    cd.ctr_ok(&["version"]);
    own_traffic(other, 5);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record {args:?} failed: {stderr}");
    assert!(stderr.contains("no drops"), "{stderr}");
    seen(pcap)
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn filters_keep_exactly_the_named_connections() {
    require_root();
    let cd = Containerd::start();
    let dir = short_tempdir("cs-filt");
    let cd_sock = cd.sock.display().to_string();
    let cd_dir = format!("{}/*", cd.sock.parent().unwrap().display());

    // --socket names containerd's socket: our own socket's traffic is absent.
    let other = dir.path().join("a.sock");
    let got = record_while(
        &dir.path().join("1.pcapng"),
        &["--socket", &cd_sock],
        &cd,
        &other,
    );
    assert_eq!(got, both_directions(&cd_sock), "--socket {cd_sock}");

    // A prefix that covers both sockets takes both.
    let other = cd.sock.with_file_name("b.sock");
    let other_s = other.display().to_string();
    let got = record_while(
        &dir.path().join("2.pcapng"),
        &["--socket", &cd_dir],
        &cd,
        &other,
    );
    let mut want = both_directions(&cd_sock);
    want.extend(both_directions(&other_s));
    assert_eq!(got, want, "--socket {cd_dir}");

    // --comm ctr keeps ctr's connection, containerd's answers included.
    let other = cd.sock.with_file_name("c.sock");
    let got = record_while(
        &dir.path().join("3.pcapng"),
        &["--socket", &cd_dir, "--comm", "ctr"],
        &cd,
        &other,
    );
    assert_eq!(got, both_directions(&cd_sock), "--comm ctr");

    // --pid of containerd keeps its connections (ctr's request side too).
    let other = cd.sock.with_file_name("d.sock");
    let pid = cd.pid().to_string();
    let got = record_while(
        &dir.path().join("4.pcapng"),
        &["--socket", &cd_dir, "--pid", &pid],
        &cd,
        &other,
    );
    assert_eq!(got, both_directions(&cd_sock), "--pid {pid}");

    // --pid of this process keeps only our own socket.
    let other = cd.sock.with_file_name("e.sock");
    let other_s = other.display().to_string();
    let me = std::process::id().to_string();
    let got = record_while(
        &dir.path().join("5.pcapng"),
        &["--socket", &cd_dir, "--pid", &me],
        &cd,
        &other,
    );
    assert_eq!(got, both_directions(&other_s), "--pid {me}");
}
