//! Exactness (as root, for real): bytes sent through write, writev, sendto
//! and sendmsg, 1 byte to 16 MiB, and partial writes on a non-blocking
//! socket, come out of the recorded pcapng byte for byte, with no drops.
//! tshark's TCP follow is the independent reassembler.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::thread;
use std::time::Duration;

use common::{require_root, short_tempdir, tshark, Recorder};
use containerdsnoop::testsupport::Rng;

/// The test's reproducible pseudo-random bytes.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Rng::new(seed).bytes(len);
    // The first 8 bytes name the scenario, so streams can be matched.
    let tag = seed.to_le_bytes();
    let n = len.min(8);
    out[..n].copy_from_slice(&tag[..n]);
    out
}

#[derive(Clone, Copy, Debug)]
enum Method {
    Write,
    Writev,
    Sendto,
    Sendmsg,
}

fn check(ret: isize) -> usize {
    assert!(ret >= 0, "send failed: {}", std::io::Error::last_os_error());
    ret as usize
}

/// Split `data` into up to `n` iovecs of uneven sizes (some empty).
fn iovecs(data: &[u8], n: usize) -> Vec<libc::iovec> {
    let mut v = vec![];
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() && v.len() < n - 1 {
        let len = ((i * 7919) % 9973).min(data.len() - pos);
        v.push(libc::iovec {
            iov_base: data[pos..].as_ptr() as *mut _,
            iov_len: len,
        });
        pos += len;
        i += 1;
    }
    v.push(libc::iovec {
        iov_base: data[pos..].as_ptr() as *mut _,
        iov_len: data.len() - pos,
    });
    v
}

/// Send all of `data` with one call of `method` per remaining chunk.
fn send_all(fd: i32, data: &[u8], method: Method) {
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        // SAFETY: the pointers and lengths describe live slices of `data`.
        let n = unsafe {
            match method {
                Method::Write => libc::write(fd, rest.as_ptr().cast(), rest.len()),
                Method::Sendto => {
                    libc::sendto(fd, rest.as_ptr().cast(), rest.len(), 0, std::ptr::null(), 0)
                }
                Method::Writev => {
                    let iov = iovecs(rest, 1024);
                    libc::writev(fd, iov.as_ptr(), iov.len() as i32)
                }
                Method::Sendmsg => {
                    let iov = iovecs(rest, 64);
                    let mut msg: libc::msghdr = std::mem::zeroed();
                    msg.msg_iov = iov.as_ptr() as *mut _;
                    msg.msg_iovlen = iov.len();
                    libc::sendmsg(fd, &msg, 0)
                }
            }
        };
        pos += check(n);
    }
}

/// Non-blocking writes of 1 MiB that the kernel accepts only in part.
fn send_partial(fd: i32, data: &[u8]) -> usize {
    // SAFETY: fcntl on a socket we own.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    let mut pos = 0;
    let mut partial = 0;
    while pos < data.len() {
        let want = (data.len() - pos).min(1 << 20);
        // SAFETY: a live slice of `data`.
        let n = unsafe { libc::write(fd, data[pos..].as_ptr().cast(), want) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one pollfd we own.
            unsafe { libc::poll(&mut p, 1, 1000) };
            continue;
        }
        if (n as usize) < want {
            partial += 1;
        }
        pos += n as usize;
    }
    partial
}

struct Scenario {
    seed: u64,
    method: Method,
    request: usize,
    response: usize,
    partial: bool,
}

fn scenarios() -> Vec<Scenario> {
    let sizes = [1usize, 9, 100, 4096, 65_495, 65_536 + 7, 1 << 20, 16 << 20];
    let methods = [
        Method::Write,
        Method::Writev,
        Method::Sendto,
        Method::Sendmsg,
    ];
    let mut v = vec![];
    for (mi, &method) in methods.iter().enumerate() {
        for (si, &size) in sizes.iter().enumerate() {
            v.push(Scenario {
                seed: 1000 + (mi * 100 + si) as u64,
                method,
                request: size,
                response: size / 3 + 1,
                partial: false,
            });
        }
    }
    v.push(Scenario {
        seed: 9999,
        method: Method::Write,
        request: 8 << 20,
        response: 10,
        partial: true,
    });
    v
}

/// Run every scenario over `sock`; returns how many partial writes happened.
fn run_traffic(sock: &Path, list: &[Scenario]) -> usize {
    let listener = UnixListener::bind(sock).unwrap();
    let mut partial_writes = 0;
    for s in list {
        let req = pattern(s.seed, s.request);
        let resp = pattern(s.seed + 500_000, s.response);
        let (req2, resp2, method) = (req.clone(), resp.clone(), s.method);
        let server = thread::spawn({
            let listener = listener.try_clone().unwrap();
            move || {
                let (mut conn, _) = listener.accept().unwrap();
                let mut got = vec![0u8; req2.len()];
                conn.read_exact(&mut got).unwrap();
                assert!(got == req2, "server received different bytes");
                send_all(conn.as_raw_fd(), &resp2, method);
                conn.flush().unwrap();
            }
        });
        let mut client = UnixStream::connect(sock).unwrap();
        if s.partial {
            // The server reads only after everything is sent: force short writes.
            partial_writes += send_partial(client.as_raw_fd(), &req);
            // SAFETY: back to blocking mode on our own socket.
            unsafe { libc::fcntl(client.as_raw_fd(), libc::F_SETFL, 0) };
        } else {
            send_all(client.as_raw_fd(), &req, s.method);
        }
        let mut got = vec![0u8; resp.len()];
        client.read_exact(&mut got).unwrap();
        assert!(got == resp, "client received different bytes");
        server.join().unwrap();
    }
    partial_writes
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Each TCP stream's two directions, by tshark's follow (client first).
fn follow_streams(pcap: &Path, streams: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut args = vec![
        "-r".to_string(),
        pcap.display().to_string(),
        "-q".to_string(),
    ];
    for i in 0..streams {
        args.push("-z".into());
        args.push(format!("follow,tcp,raw,{i}"));
    }
    let text = tshark(&args);
    let mut out = vec![];
    let mut cur: Option<(Vec<u8>, Vec<u8>)> = None;
    for line in text.lines() {
        if line.starts_with("Follow: tcp,raw") {
            if let Some(c) = cur.take() {
                out.push(c);
            }
            cur = Some((vec![], vec![]));
        } else if let Some(c) = cur.as_mut() {
            if let Some(hex) = line.strip_prefix('\t') {
                c.1.extend(unhex(hex.trim()));
            } else if !line.is_empty() && line.bytes().all(|b| b.is_ascii_hexdigit()) {
                c.0.extend(unhex(line));
            }
        }
    }
    out.extend(cur);
    out
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn every_byte_of_every_send_syscall_is_recorded() {
    require_root();
    let dir = short_tempdir("cs-exact");
    let sock = dir.path().join("exact.sock");
    let pcap = dir.path().join("exact.pcapng");
    let sock_arg = sock.display().to_string();
    let rec = Recorder::start(&pcap, &["--socket", &sock_arg, "--ringbuf-size", "256M"]);
    let list = scenarios();
    let partial = run_traffic(&sock, &list);
    thread::sleep(Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    assert!(
        stderr.contains("no drops"),
        "the recorder reported drops: {stderr}"
    );
    assert!(
        partial > 0,
        "the non-blocking scenario made no partial write"
    );

    let streams = follow_streams(&pcap, list.len());
    assert_eq!(streams.len(), list.len(), "one TCP stream per connection");
    let by_seed: HashMap<u64, &Scenario> = list.iter().map(|s| (s.seed, s)).collect();
    let mut seen = 0;
    for (to_server, to_client) in &streams {
        let mut tag = [0u8; 8];
        let n = to_server.len().min(8);
        tag[..n].copy_from_slice(&to_server[..n]);
        // A 1-byte request carries only the tag's first byte.
        let s = list
            .iter()
            .find(|s| s.request < 8 && s.request == to_server.len() && pattern(s.seed, s.request) == *to_server)
            .or_else(|| by_seed.get(&u64::from_le_bytes(tag)).copied())
            .unwrap_or_else(|| {
                let kept = Path::new("/tmp/containerdsnoop-exact-failure.pcapng");
                let _ = std::fs::copy(&pcap, kept);
                panic!(
                    "a stream matches no scenario: {} bytes to the server starting {:02x?}, {} to the client (capture in {})",
                    to_server.len(),
                    &to_server[..to_server.len().min(16)],
                    to_client.len(),
                    kept.display()
                )
            });
        assert!(
            *to_server == pattern(s.seed, s.request),
            "{:?} {} bytes: recorded request differs (got {} bytes)",
            s.method,
            s.request,
            to_server.len()
        );
        assert!(
            *to_client == pattern(s.seed + 500_000, s.response),
            "{:?} {} bytes: recorded response differs (got {} bytes)",
            s.method,
            s.response,
            to_client.len()
        );
        seen += 1;
    }
    assert_eq!(seen, list.len());
}
