//! Exactness (as root, for real), on both hooks (`--hook sock` and
//! `--hook syscalls`): bytes sent through write, writev, sendto and sendmsg,
//! 1 byte to 16 MiB, and partial writes on a non-blocking socket, come out
//! of the recorded pcapng byte for byte, with no drops; a writev of 100 tiny
//! iovecs is one packet. On the sock hook also sendmmsg (exact bytes),
//! io_uring and splice (exact gaps with their reason). A reply that overtakes
//! the write it answers is still placed after it, and a kept connection
//! survives the churn of many unrelated sockets. tshark is the independent
//! reassembler.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Method {
    Write,
    Writev,
    Sendto,
    Sendmsg,
    /// writev of 100 iovecs of a few bytes each (one packet expected).
    WritevTiny,
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
                Method::WritevTiny => {
                    let step = rest.len().div_ceil(100);
                    let iov: Vec<libc::iovec> = rest
                        .chunks(step)
                        .map(|c| libc::iovec {
                            iov_base: c.as_ptr() as *mut _,
                            iov_len: c.len(),
                        })
                        .collect();
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
    v.push(Scenario {
        seed: 7777,
        method: Method::WritevTiny,
        request: 500,
        response: 7,
        partial: false,
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
    // tshark does not print the follows in the order they were asked for:
    // each is placed by the stream number in its "Filter:" line.
    let mut out = vec![(vec![], vec![]); streams];
    let mut cur: Option<usize> = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Filter: tcp.stream eq ") {
            cur = n.trim().parse().ok().filter(|&n: &usize| n < streams);
        } else if line.starts_with("Follow: tcp,raw") || line.starts_with("=====") {
            continue;
        } else if let Some(c) = cur.and_then(|i| out.get_mut(i)) {
            if let Some(hex) = line.strip_prefix('\t') {
                c.1.extend(unhex(hex.trim()));
            } else if !line.is_empty() && line.bytes().all(|b| b.is_ascii_hexdigit()) {
                c.0.extend(unhex(line));
            }
        }
    }
    out
}

/// Payload lengths of the packets of TCP stream `stream` sent to port `port`.
fn payload_lengths(pcap: &Path, stream: usize, port: u16) -> Vec<u64> {
    let filter = format!("tcp.stream == {stream} && tcp.dstport == {port} && tcp.len > 0");
    tshark([
        "-r",
        &pcap.display().to_string(),
        "-Y",
        &filter,
        "-T",
        "fields",
        "-e",
        "tcp.len",
    ])
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .collect()
}

/// A recording, with `hook` and `extra` arguments, of the socket
/// `SOCK.sock` in a fresh temporary directory, into `NAME.pcapng` there:
/// the directory (to keep alive), the socket's path and the capture's.
fn record_socket(
    name: &str,
    sock: &str,
    hook: &str,
    extra: &[&str],
) -> (tempfile::TempDir, PathBuf, PathBuf, Recorder) {
    let dir = short_tempdir(&format!("cs-{name}"));
    let sock = dir.path().join(format!("{sock}.sock"));
    let pcap = dir.path().join(format!("{name}.pcapng"));
    let sock_arg = sock.display().to_string();
    let mut args = vec!["--socket", sock_arg.as_str(), "--hook", hook];
    args.extend_from_slice(extra);
    let rec = Recorder::start(&pcap, &args);
    (dir, sock, pcap, rec)
}

fn every_byte_of_every_send_syscall_is_recorded(hook: &str) {
    require_root();
    let (_dir, sock, pcap, rec) =
        record_socket("exact", "exact", hook, &["--ringbuf-size", "256M"]);
    let attached = if hook == "sock" {
        "(hook: tp_btf/sock_send_length)"
    } else {
        "(hook: syscall tracepoints)"
    };
    assert!(
        rec.stderr_text().contains(attached),
        "the attached line names the hook: {}",
        rec.stderr_text()
    );
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
    let by_seed: HashMap<u64, &Scenario> = list.iter().map(|s| (s.seed, s)).collect();
    let mut seen = 0;
    for (index, (to_server, to_client)) in streams.iter().enumerate() {
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
                    "{hook}: stream {index} matches no scenario: {} bytes to the server starting {:02x?}, {} to the client (capture in {})",
                    to_server.len(),
                    &to_server[..to_server.len().min(16)],
                    to_client.len(),
                    kept.display()
                )
            });
        assert!(
            *to_server == pattern(s.seed, s.request),
            "{hook}: {:?} {} bytes: recorded request differs (got {} bytes)",
            s.method,
            s.request,
            to_server.len()
        );
        assert!(
            *to_client == pattern(s.seed + 500_000, s.response),
            "{hook}: {:?} {} bytes: recorded response differs (got {} bytes)",
            s.method,
            s.response,
            to_client.len()
        );
        if s.method == Method::WritevTiny {
            assert_eq!(
                payload_lengths(&pcap, index, 80),
                [s.request as u64],
                "{hook}: a writev of 100 iovecs is one packet"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, list.len());
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn every_byte_of_every_send_syscall_is_recorded_sock_hook() {
    every_byte_of_every_send_syscall_is_recorded("sock");
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn every_byte_of_every_send_syscall_is_recorded_syscall_hook() {
    every_byte_of_every_send_syscall_is_recorded("syscalls");
}

/// Accept one connection on `listener` and read it to its end, on a thread.
fn drain_one(listener: &UnixListener) -> thread::JoinHandle<Vec<u8>> {
    let listener = listener.try_clone().unwrap();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = vec![];
        conn.read_to_end(&mut got).unwrap();
        got
    })
}

/// The relative sequence number of each packet to the server in TCP stream
/// `stream`, with its payload (hex) and comment.
fn client_packets(pcap: &Path, stream: usize) -> Vec<(u64, String, String)> {
    let filter = format!("tcp.stream == {stream} && tcp.dstport == 80");
    tshark([
        "-r",
        &pcap.display().to_string(),
        "-Y",
        &filter,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.payload",
        "-e",
        "frame.comment",
    ])
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split('|').collect();
        (
            f[0].parse().unwrap(),
            f.get(1).unwrap_or(&"").replace(':', ""),
            f.get(2).unwrap_or(&"").to_string(),
        )
    })
    .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Sends through io_uring: one send inline in io_uring_enter, one forced to
/// an io-wq worker (IOSQE_ASYNC). Returns the bytes the kernel took.
fn send_io_uring(fd: i32, first: &[u8], second: &[u8]) -> usize {
    use io_uring::{opcode, squeue, types, IoUring};
    let mut ring = IoUring::new(4).expect("io_uring_setup");
    let a = opcode::Send::new(types::Fd(fd), first.as_ptr(), first.len() as u32)
        .build()
        .user_data(1);
    let b = opcode::Write::new(types::Fd(fd), second.as_ptr(), second.len() as u32)
        .build()
        .flags(squeue::Flags::ASYNC)
        .user_data(2);
    let mut total = 0;
    for sqe in [a, b] {
        // SAFETY: the buffers outlive the submission, which completes
        // (submit_and_wait) before this function returns.
        unsafe { ring.submission().push(&sqe).expect("submission queue full") };
        ring.submit_and_wait(1).expect("io_uring_enter");
        let cqe = ring.completion().next().expect("a completion");
        assert!(cqe.result() > 0, "io_uring send failed: {}", cqe.result());
        total += cqe.result() as usize;
    }
    total
}

/// Bytes through a pipe into the socket with splice(2).
fn send_splice(fd: i32, data: &[u8]) -> usize {
    let mut p = [0; 2];
    // SAFETY: pipe fills two fds we own and close below.
    assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
    // SAFETY: a live slice into our own pipe.
    let w = unsafe { libc::write(p[1], data.as_ptr().cast(), data.len()) };
    assert_eq!(w as usize, data.len());
    // SAFETY: splice between two fds we own; null offsets (pipe and socket).
    let n = unsafe {
        libc::splice(
            p[0],
            std::ptr::null_mut(),
            fd,
            std::ptr::null_mut(),
            data.len(),
            0,
        )
    };
    assert!(n > 0, "splice: {}", std::io::Error::last_os_error());
    // SAFETY: closing the pipe fds we own.
    unsafe {
        libc::close(p[0]);
        libc::close(p[1]);
    }
    n as usize
}

/// Several messages, of two iovecs each, in one sendmmsg(2) call.
fn send_mmsg(fd: i32, messages: &[Vec<u8>]) {
    let iovs: Vec<[libc::iovec; 2]> = messages
        .iter()
        .map(|m| {
            let (a, b) = m.split_at(m.len() / 3);
            [
                libc::iovec {
                    iov_base: a.as_ptr() as *mut _,
                    iov_len: a.len(),
                },
                libc::iovec {
                    iov_base: b.as_ptr() as *mut _,
                    iov_len: b.len(),
                },
            ]
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = iovs
        .iter()
        .map(|iov| {
            // SAFETY: an all-zero mmsghdr is valid (no name, no control).
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov.as_ptr() as *mut _;
            h.msg_hdr.msg_iovlen = 2;
            h
        })
        .collect();
    // SAFETY: the headers point at iovecs and buffers that outlive the call.
    let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), hdrs.len() as u32, 0) };
    assert_eq!(n as usize, messages.len(), "sendmmsg sent every message");
}

/// sendmmsg, io_uring and splice on the sock hook: exact bytes where the
/// buffers are in the registers, else gaps of exactly the bytes sent, with
/// their reason, and the stream goes on at the right offset.
#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn sends_without_a_user_buffer_are_exact_gaps_on_the_sock_hook() {
    require_root();
    let (_dir, sock, pcap, rec) = record_socket("gaps", "gaps", "sock", &[]);
    let listener = UnixListener::bind(&sock).unwrap();
    let tail = b"tail after the gap";

    // Stream 0: sendmmsg of three messages.
    let messages: Vec<Vec<u8>> = (0..3)
        .map(|i| pattern(300 + i, 1000 + 37 * i as usize))
        .collect();
    let server = drain_one(&listener);
    let client = UnixStream::connect(&sock).unwrap();
    send_mmsg(client.as_raw_fd(), &messages);
    drop(client);
    assert_eq!(server.join().unwrap(), messages.concat());

    // Stream 1: io_uring (inline and io-wq), then a plain write.
    let server = drain_one(&listener);
    let mut client = UnixStream::connect(&sock).unwrap();
    let sent = send_io_uring(client.as_raw_fd(), &pattern(400, 700), &pattern(401, 300));
    assert_eq!(sent, 1000);
    client.write_all(tail).unwrap();
    drop(client);
    assert_eq!(server.join().unwrap().len(), 1000 + tail.len());

    // Stream 2: splice from a pipe, then a plain write.
    let server = drain_one(&listener);
    let mut client = UnixStream::connect(&sock).unwrap();
    assert_eq!(send_splice(client.as_raw_fd(), &pattern(500, 500)), 500);
    client.write_all(tail).unwrap();
    drop(client);
    assert_eq!(server.join().unwrap().len(), 500 + tail.len());

    thread::sleep(Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    assert!(stderr.contains("no drops"), "drops: {stderr}");
    assert!(
        stderr.contains("1.5 KiB not copyable (io_uring 1000 B, splice/sendfile 500 B)"),
        "the gaps and their reasons are in the summary: {stderr}"
    );

    // The file may hold the connections in another order than they were
    // made (a connection whose server never writes is written at its end).
    let streams = follow_streams(&pcap, 3);
    let mmsg = streams
        .iter()
        .position(|s| s.0 == messages.concat())
        .expect("sendmmsg bytes are exact");
    let mut gaps = Vec::new();
    for stream in (0..3).filter(|&s| s != mmsg) {
        let packets = client_packets(&pcap, stream);
        // One marked gap per send that could not be copied.
        let gap: u64 = packets
            .iter()
            .filter_map(|(_, _, c)| c.strip_suffix(" bytes lost"))
            .map(|n| n.parse::<u64>().unwrap())
            .sum();
        let data = packets
            .iter()
            .find(|(_, p, _)| *p == hex(tail))
            .unwrap_or_else(|| panic!("stream {stream}: the tail is missing: {packets:?}"));
        // Relative sequence numbers: the SYN takes 1.
        assert_eq!(
            data.0,
            gap + 1,
            "stream {stream}: the tail follows a gap of exactly {gap}"
        );
        gaps.push(gap);
    }
    gaps.sort_unstable();
    assert_eq!(gaps, [500, 1000], "the gaps are exact (splice, io_uring)");
}

/// A reply that overtakes the write it answers: the client writes 4 MiB in
/// one call, far more than the socket buffers, so the call blocks with the
/// first part queued; the server reads the first 64 bytes and answers at
/// once, and only then drains the rest. The reply's send completes (and is
/// traced) long before the client's write does, on every kernel and
/// preemption model, with no timing luck involved. The capture must still
/// show the request's first packet before the reply.
fn reply_after_request(hook: &str) {
    require_root();
    let (_dir, sock, pcap, rec) = record_socket("order", "order", hook, &["--ringbuf-size", "64M"]);
    let listener = UnixListener::bind(&sock).unwrap();
    let request = pattern(600, 4 << 20);
    let reply = b"early reply";
    let server = thread::spawn({
        let listener = listener.try_clone().unwrap();
        move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = [0u8; 64];
            conn.read_exact(&mut head).unwrap();
            conn.write_all(reply).unwrap();
            let mut rest = vec![];
            conn.read_to_end(&mut rest).unwrap();
            64 + rest.len()
        }
    });
    let mut client = UnixStream::connect(&sock).unwrap();
    // Let the server block in its read first.
    thread::sleep(Duration::from_millis(50));
    client.write_all(&request).unwrap();
    let mut got = [0u8; 11];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, reply);
    client.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap(), request.len());
    drop(client);
    thread::sleep(Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    assert!(stderr.contains("no drops"), "drops: {stderr}");
    let frames = tshark([
        "-r",
        &pcap.display().to_string(),
        "-Y",
        "tcp.len > 0",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.number",
        "-e",
        "tcp.dstport",
    ]);
    let first = |to_server: bool| {
        frames
            .lines()
            .find(|l| l.ends_with("|80") == to_server)
            .and_then(|l| l.split('|').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no data frame to_server={to_server}: {frames}"))
    };
    let (req, resp) = (first(true), first(false));
    assert!(
        resp > req,
        "{hook}: the reply (frame {resp}) must follow its request (frame {req})"
    );
    let streams = follow_streams(&pcap, 1);
    assert!(streams[0].0 == request, "{hook}: the request is exact");
    assert_eq!(streams[0].1, reply, "{hook}: the reply is exact");
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn a_reply_that_overtakes_its_request_follows_it_sock_hook() {
    reply_after_request("sock");
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn a_reply_that_overtakes_its_request_follows_it_syscall_hook() {
    reply_after_request("syscalls");
}

/// Sockets the filters leave out, more than the tracer's tables hold, each
/// sending once while a kept connection is idle; then the kept connection
/// sends again: its bytes are exact (or reported, never silently lost).
fn kept_connection_survives_socket_churn(hook: &str) {
    require_root();
    let (_dir, sock, pcap, rec) = record_socket("churn", "kept", hook, &[]);
    let listener = UnixListener::bind(&sock).unwrap();
    let server = drain_one(&listener);
    let mut client = UnixStream::connect(&sock).unwrap();
    let first = pattern(700, 3000);
    let second = pattern(701, 5000);
    client.write_all(&first).unwrap();
    // 70 000 unrelated connections (the syscall hook keeps 65 536 kept and
    // 16 384 rejected sockets; the sock hook's handoff table 16 384).
    for _ in 0..70_000 {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"x").unwrap();
        b.write_all(b"y").unwrap();
    }
    client.write_all(&second).unwrap();
    drop(client);
    assert_eq!(
        server.join().unwrap(),
        [first.clone(), second.clone()].concat()
    );
    thread::sleep(Duration::from_millis(300));
    let (status, stderr) = rec.stop();
    assert!(status.success(), "record failed: {stderr}");
    assert!(
        stderr.contains("containerdsnoop: 1 connection ("),
        "only the kept one: {stderr}"
    );
    assert!(stderr.contains("no drops"), "{hook}: drops: {stderr}");
    assert!(!stderr.contains("restarts"), "{hook}: state lost: {stderr}");
    let streams = follow_streams(&pcap, 1);
    assert!(
        streams[0].0 == [first, second].concat(),
        "{hook}: the kept connection's bytes are exact"
    );
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn kept_connection_survives_socket_churn_sock_hook() {
    kept_connection_survives_socket_churn("sock");
}

#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn kept_connection_survives_socket_churn_syscall_hook() {
    kept_connection_survives_socket_churn("syscalls");
}

/// A client that sends and closes while its server never reads again: no
/// end of file is read, so the sock hook sees no close. The recorder's
/// sock_diag backstop finds the client's socket gone and ends the
/// connection (FIN packets) during the capture, about a second later.
#[test]
#[ignore = "needs root: run with --include-ignored (scripts/test.sh does)"]
fn a_connection_whose_socket_is_gone_ends_during_the_capture_sock_hook() {
    require_root();
    let (_dir, sock, pcap, rec) = record_socket("gone", "gone", "sock", &[]);
    let listener = UnixListener::bind(&sock).unwrap();
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = [0u8; 5];
        conn.read_exact(&mut got).unwrap();
        // Keep the socket open, unread, until the capture is over.
        let _ = hold.recv();
        drop(conn);
    });
    let mut client = UnixStream::connect(&sock).unwrap();
    client.write_all(b"hello").unwrap();
    thread::sleep(Duration::from_millis(100));
    let epoch = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    drop(client);
    let closed = epoch(std::time::SystemTime::now());
    thread::sleep(Duration::from_secs(3));
    let stopped = epoch(std::time::SystemTime::now());
    let (status, stderr) = rec.stop();
    release.send(()).unwrap();
    server.join().unwrap();
    assert!(status.success(), "record failed: {stderr}");
    let fins = tshark([
        "-r",
        &pcap.display().to_string(),
        "-Y",
        "tcp.flags.fin == 1",
        "-T",
        "fields",
        "-e",
        "frame.time_epoch",
    ]);
    let fin: f64 = fins
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("the connection was not ended: no FIN; {stderr}"));
    assert!(
        fin >= closed + 0.9 && fin <= stopped - 0.5,
        "ended at {fin:.3}: the client closed at {closed:.3} and the capture stopped at {stopped:.3}"
    );
}
