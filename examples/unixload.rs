//! Unix-socket load generator for containerdsnoop's benchmarks.
//!
//! ```text
//! unixload pingpong DIR [--size 64] [--conns 1] [--seconds 3]
//! unixload stream   DIR [--size 65536] [--conns 1] [--seconds 3] [--rate MB_PER_S] [--copies N]
//! unixload syscalls DIR [--seconds 3]     (writes to a file and a pipe: no socket)
//! ```
//! Prints one line: `mode=... ops=... ops_per_s=... bytes_per_s=...`.
//! The socket is DIR/load.sock (DIR must exist). `--copies N` makes each
//! writer copy every message N more times, into a 16 MiB ring like the
//! tracer's ring buffer, before sending it: with N = 1, the figure that a
//! tracer copying every byte once could at best reach (the copy-bound limit).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Size of the ring that `--copies` copies into (the tracer's default).
const RING: usize = 16 << 20;

struct Opts {
    mode: String,
    dir: PathBuf,
    size: usize,
    conns: usize,
    seconds: f64,
    rate: Option<f64>,
    copies: usize,
}

fn parse() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!("usage: unixload pingpong|stream|syscalls DIR [--size N] [--conns N] [--seconds S] [--rate MB/s]");
        std::process::exit(2)
    };
    if args.len() < 2 {
        usage();
    }
    let mut o = Opts {
        mode: args[0].clone(),
        dir: PathBuf::from(&args[1]),
        size: 0,
        conns: 1,
        seconds: 3.0,
        rate: None,
        copies: 0,
    };
    let mut it = args[2..].iter();
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--size" => o.size = v.parse().unwrap_or_else(|_| usage()),
            "--conns" => o.conns = v.parse().unwrap_or_else(|_| usage()),
            "--seconds" => o.seconds = v.parse().unwrap_or_else(|_| usage()),
            "--rate" => o.rate = Some(v.parse().unwrap_or_else(|_| usage())),
            "--copies" => o.copies = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.size == 0 {
        o.size = if o.mode == "pingpong" { 64 } else { 65536 };
    }
    o
}

fn serve(sock: &Path, conns: usize, size: usize, echo: bool) -> thread::JoinHandle<()> {
    let _ = std::fs::remove_file(sock);
    let listener = UnixListener::bind(sock).expect("bind");
    thread::spawn(move || {
        let mut handles = vec![];
        for _ in 0..conns {
            let (mut c, _) = listener.accept().expect("accept");
            handles.push(thread::spawn(move || {
                let mut buf = vec![0u8; size.max(1 << 16)];
                loop {
                    if echo {
                        if c.read_exact(&mut buf[..size]).is_err()
                            || c.write_all(&buf[..size]).is_err()
                        {
                            return;
                        }
                    } else if matches!(c.read(&mut buf), Ok(0) | Err(_)) {
                        return;
                    }
                }
            }));
        }
        for h in handles {
            let _ = h.join();
        }
    })
}

fn run_clients(o: &Opts, sock: &Path) -> (u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let per_conn_rate = o.rate.map(|mb| mb * 1e6 / o.conns as f64);
    let mut clients = vec![];
    for _ in 0..o.conns {
        let mut c = UnixStream::connect(sock).expect("connect");
        let (stop, ops, bytes) = (stop.clone(), ops.clone(), bytes.clone());
        let (size, pingpong, copies) = (o.size, o.mode == "pingpong", o.copies);
        clients.push(thread::spawn(move || {
            let msg = vec![0x5au8; size];
            let mut back = vec![0u8; size];
            let ring = if copies > 0 { RING.max(size) } else { 0 };
            let mut scratch = vec![0u8; ring];
            let mut at = 0;
            let start = Instant::now();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..copies {
                    if at + size > ring {
                        at = 0;
                    }
                    scratch[at..at + size].copy_from_slice(std::hint::black_box(&msg));
                    std::hint::black_box(&mut scratch);
                    at += size;
                }
                if c.write_all(&msg).is_err() {
                    return;
                }
                if pingpong && c.read_exact(&mut back).is_err() {
                    return;
                }
                sent += size as u64;
                ops.fetch_add(1, Ordering::Relaxed);
                bytes.fetch_add(size as u64, Ordering::Relaxed);
                if let Some(rate) = per_conn_rate {
                    let due = Duration::from_secs_f64(sent as f64 / rate);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        thread::sleep(wait);
                    }
                }
            }
        }));
    }
    thread::sleep(Duration::from_secs_f64(o.seconds));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    (ops.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed))
}

/// Writes of `size` bytes alternately to a file and a pipe: syscalls the
/// tracer's hooks see but its filters drop.
fn run_syscalls(o: &Opts) -> (u64, u64) {
    let mut file = std::fs::File::create(o.dir.join("load.file")).expect("file");
    let (mut rx, mut tx) = {
        let mut fds = [0; 2];
        // SAFETY: pipe fills the two fds we own.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        use std::os::fd::FromRawFd;
        // SAFETY: the fds are fresh and owned by these Files only.
        unsafe {
            (
                std::fs::File::from_raw_fd(fds[0]),
                std::fs::File::from_raw_fd(fds[1]),
            )
        }
    };
    let size = o.size.min(4096);
    let msg = vec![1u8; size];
    let mut back = vec![0u8; size];
    let deadline = Instant::now() + Duration::from_secs_f64(o.seconds);
    let mut ops = 0u64;
    while Instant::now() < deadline {
        for _ in 0..256 {
            file.write_all(&msg).unwrap();
            tx.write_all(&msg).unwrap();
            rx.read_exact(&mut back).unwrap();
            ops += 2;
        }
        if ops % (1 << 16) == 0 {
            let _ = file.set_len(0);
        }
    }
    let _ = std::fs::remove_file(o.dir.join("load.file"));
    (ops, ops * size as u64)
}

fn main() {
    let o = parse();
    let sock = o.dir.join("load.sock");
    let started = Instant::now();
    let (ops, bytes) = match o.mode.as_str() {
        "pingpong" | "stream" => {
            let server = serve(&sock, o.conns, o.size, o.mode == "pingpong");
            let r = run_clients(&o, &sock);
            let _ = server.join();
            r
        }
        "syscalls" => run_syscalls(&o),
        m => {
            eprintln!("unknown mode {m}");
            std::process::exit(2)
        }
    };
    let secs = started.elapsed().as_secs_f64().min(o.seconds.max(1e-9));
    println!(
        "mode={} size={} conns={} ops={ops} ops_per_s={:.0} bytes_per_s={:.0}",
        o.mode,
        o.size,
        o.conns,
        ops as f64 / secs,
        bytes as f64 / secs
    );
}
