//! HTTP/1.1 decoding speed on a capture (not a test: a benchmark prints
//! figures and asserts nothing). Reads the capture's flows once, then feeds
//! every HTTP/1.1 connection's writes and gaps to fresh decoders, ROUNDS
//! times, and prints the median: bytes per second and calls per second of
//! the decoder alone (what `decode` adds for reading the file, the output
//! and the rest is in `scripts/bench-http.sh`).
//!
//! `cargo run --release --example http_speed -- CAPTURE [ROUNDS]`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use containerdsnoop::decode::{Event, Http1Decoder, Protocol, Stamp};
use containerdsnoop::flow::{OwnedEvent, Recorder};
use containerdsnoop::input::{self, ReadOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: http_speed CAPTURE [ROUNDS]");
    let rounds: usize = args
        .next()
        .map_or(7, |r| r.parse().expect("ROUNDS is a number"));
    let file = std::fs::File::open(&path).expect("cannot open the capture");
    let mut rec = Recorder::default();
    input::read(
        std::io::BufReader::new(file),
        &ReadOptions::default(),
        &mut rec,
    )
    .expect("cannot read the capture");
    // The HTTP/1.1 connections' events, in order.
    let mut http: HashMap<u64, bool> = HashMap::new();
    let mut events = Vec::new();
    for (conn, ts, ev) in rec.events {
        if let OwnedEvent::Protocol(p) = ev {
            http.insert(conn.id, p == Some(Protocol::Http1));
            continue;
        }
        if http.get(&conn.id) == Some(&true) {
            events.push((conn.id, ts, ev));
        }
    }
    let bytes: usize = events.iter().map(|(_, _, e)| e.data_len()).sum();
    let mut times = Vec::new();
    let mut calls = 0;
    for _ in 0..rounds {
        let mut decs: HashMap<u64, Http1Decoder> = HashMap::new();
        let mut out = Vec::new();
        calls = 0;
        let t = Instant::now();
        for (id, ts, ev) in &events {
            let dec = decs.entry(*id).or_default();
            match ev {
                OwnedEvent::Data {
                    dir, writer, bytes, ..
                } => {
                    let stamp = Stamp {
                        ts_ns: *ts,
                        by: *writer,
                    };
                    dec.feed(*dir, bytes, &stamp, &mut out);
                }
                OwnedEvent::Gap { dir, len, .. } => dec.gap(*dir, *len, &mut out),
                OwnedEvent::Close => {
                    if let Some(mut d) = decs.remove(id) {
                        d.close(*ts, &mut out);
                    }
                }
                _ => {}
            }
            calls += out
                .iter()
                .filter(|e| matches!(e, Event::CallEnd { .. }))
                .count();
            black_box(&out);
            out.clear();
        }
        for (_, mut d) in decs.drain() {
            d.close(0, &mut out);
        }
        calls += out
            .iter()
            .filter(|e| matches!(e, Event::CallEnd { .. }))
            .count();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{path}: {} HTTP/1.1 connections, {:.1} MB, {calls} calls; decoder median of {rounds}: \
         {:.3} s, {:.0} MB/s, {:.0} calls/s",
        http.values().filter(|h| **h).count(),
        bytes as f64 / 1e6,
        median,
        bytes as f64 / 1e6 / median,
        calls as f64 / median
    );
}
