//! Properties of the decoder on the fixtures' real traffic, no root:
//! how the bytes are cut into writes never changes what is decoded, and a
//! capture with any one byte changed is read or refused but never panics.

mod flows;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use containerdsnoop::decode::sniff::{sniff, Sniff};
use containerdsnoop::decode::sniffer::Sniffer;
use containerdsnoop::decode::{http1, ConnDecoder, Event, Http1Decoder, Protocol, TtrpcDecoder};
use containerdsnoop::flow::{Comm, Conn, FlowEvent, Process, Side, Sink, Stamp};
use containerdsnoop::input::{self, ReadOptions};
use containerdsnoop::pipeline::method_filter::MethodFilter;
use containerdsnoop::pipeline::{Item, Output, Pipeline, View, What};
use containerdsnoop::protobuf::{Forms, Schemas};
use flows::{Chunk, Rng};

const FIXTURES: [&str; 4] = ["ctr-session", "ctr-run", "mid-connection", "shim-run"];

/// The decoder a connection's first write calls for (as `decode::sniff`
/// says; the pipeline's choice is tested through `pipeline_rows`).
enum Decoder {
    Http2(Box<ConnDecoder>),
    Ttrpc(Box<TtrpcDecoder>),
}

/// Whether a connection, as captured, is ttrpc (by its first write).
fn is_ttrpc(writes: &[Chunk]) -> bool {
    let first = writes.iter().find_map(|w| match w {
        Chunk::Data(d, b) => Some(sniff(b, !d.is_request())),
        Chunk::Gap(..) => None,
    });
    first == Some(Sniff::Is(Protocol::Ttrpc))
}

/// Decodes a connection given as writes, each with the same stamp, as the
/// pipeline does (the start is recognised by the preface, not assumed),
/// with the decoder of its protocol.
fn events(ttrpc: bool, writes: &[Chunk]) -> Vec<Event> {
    let mut dec = match ttrpc {
        true => Decoder::Ttrpc(Box::default()),
        false => Decoder::Http2(Box::new(ConnDecoder::new(false))),
    };
    let stamp = Stamp {
        ts_ns: 1,
        by: Process::thread(1, 1, Comm::from_name("w")),
    };
    let mut out = Vec::new();
    for w in writes {
        match (&mut dec, w) {
            (Decoder::Http2(x), Chunk::Data(d, b)) => x.feed(*d, b, &stamp, &mut out),
            (Decoder::Http2(x), Chunk::Gap(d, n)) => x.gap(*d, *n, &mut out),
            (Decoder::Ttrpc(x), Chunk::Data(d, b)) => x.feed(*d, b, &stamp, &mut out),
            (Decoder::Ttrpc(x), Chunk::Gap(d, n)) => x.gap(*d, *n, &mut out),
        }
    }
    match &mut dec {
        Decoder::Http2(x) => x.close(2, &mut out),
        Decoder::Ttrpc(x) => x.close(2, &mut out),
    }
    out
}

#[test]
fn any_cut_of_a_ttrpc_stream_decodes_the_same() {
    // Real shim traffic: every connection of the fixture is ttrpc.
    let mut rng = Rng(0x77c0_ffee);
    let mut total = 0;
    for (id, chunks) in flows::of_fixture("shim-run.pcapng").conns {
        assert!(is_ttrpc(&chunks), "connection {id}");
        let want = events(true, &chunks);
        let n = messages(&want);
        assert!(n > 0, "connection {id} decodes nothing");
        assert!(
            !want
                .iter()
                .any(|e| matches!(e, Event::Error { .. } | Event::Resync { skipped: 1.., .. })),
            "connection {id}: {want:#?}"
        );
        total += n;
        for round in 0..64 {
            let writes = recut(&chunks, &mut rng, [2, 8, 64, 512][round % 4]);
            assert!(
                events(true, &writes) == want,
                "connection {id}, round {round}"
            );
        }
    }
    assert!(total >= 20, "only {total} ttrpc messages");
}

/// The same bytes in other writes: consecutive writes of a direction
/// merged (with probability 1/2), then cut at random points.
fn recut(chunks: &[Chunk], rng: &mut Rng, max_pieces: usize) -> Vec<Chunk> {
    let mut merged: Vec<Chunk> = Vec::new();
    for c in chunks {
        match (merged.last_mut(), c) {
            (Some(Chunk::Data(pd, pb)), Chunk::Data(d, b)) if pd == d && rng.below(2) == 0 => {
                pb.extend_from_slice(b)
            }
            _ => merged.push(c.clone()),
        }
    }
    let mut out = Vec::new();
    for c in merged {
        let Chunk::Data(d, b) = c else {
            out.push(c);
            continue;
        };
        let mut cuts: Vec<usize> = (0..rng.below(max_pieces))
            .map(|_| rng.below(b.len() + 1))
            .collect();
        cuts.push(0);
        cuts.push(b.len());
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            out.push(Chunk::Data(d, b[w[0]..w[1]].to_vec()));
        }
    }
    out
}

fn messages(evs: &[Event]) -> usize {
    evs.iter()
        .filter(|e| matches!(e, Event::Message { .. }))
        .count()
}

/// `chunks` one byte a write.
fn bytewise(chunks: &[Chunk]) -> Vec<Chunk> {
    chunks
        .iter()
        .flat_map(|c| match c {
            Chunk::Data(d, b) => b.iter().map(|x| Chunk::Data(*d, vec![*x])).collect(),
            g => vec![g.clone()],
        })
        .collect()
}

#[test]
fn any_cut_into_writes_decodes_the_same() {
    let mut rng = Rng(0x5eed_cafe);
    let mut total = 0;
    for name in FIXTURES {
        for (id, chunks) in flows::of_fixture(&format!("{name}.pcapng")).conns {
            let ttrpc = is_ttrpc(&chunks);
            let want = events(ttrpc, &chunks);
            total += messages(&want);
            for round in 0..12 {
                let writes = recut(&chunks, &mut rng, [2, 8, 64][round % 3]);
                let got = events(ttrpc, &writes);
                assert!(
                    got == want,
                    "{name} connection {id}, round {round}: {} writes give other events",
                    writes.len()
                );
            }
            // One byte at a time, the hardest cut.
            let bytes = bytewise(&chunks);
            assert!(
                events(ttrpc, &bytes) == want,
                "{name} connection {id}: byte by byte"
            );
        }
    }
    assert!(total > 100, "only {total} messages in the fixtures");
}

/// The HTTP/1.1 decoder's events for a connection given as writes, each
/// with the same stamp.
fn http_events(writes: &[Chunk]) -> Vec<Event> {
    let mut dec = Http1Decoder::new();
    let stamp = Stamp {
        ts_ns: 1,
        by: Process::thread(1, 1, Comm::from_name("w")),
    };
    let mut out = Vec::new();
    for w in writes {
        match w {
            Chunk::Data(d, b) => dec.feed(*d, b, &stamp, &mut out),
            Chunk::Gap(d, n) => dec.gap(*d, *n, &mut out),
        }
    }
    dec.close(2, &mut out);
    out
}

#[test]
fn any_cut_of_an_http_connection_decodes_the_same() {
    let mut rng = Rng(0x4854_5450);
    let mut checked = 0;
    for (id, chunks) in flows::of_fixture("docker-session.pcapng").conns {
        let want = http_events(&chunks);
        // A hijacked stream's pieces are shown as they were written.
        let switched = want.iter().any(|e| {
            matches!(e, Event::Message { http: Some(p), .. } if p.kind != http1::PartKind::Body)
        });
        if switched {
            continue;
        }
        checked += messages(&want);
        for round in 0..24 {
            let writes = recut(&chunks, &mut rng, [2, 8, 64][round % 3]);
            assert!(
                http_events(&writes) == want,
                "connection {id}, round {round}: {} writes give other events",
                writes.len()
            );
        }
        assert!(
            http_events(&bytewise(&chunks)) == want,
            "connection {id}: byte by byte"
        );
    }
    assert!(checked > 20, "only {checked} messages checked");
}

/// Keeps the text of what `decode` would print, minus times.
#[derive(Default)]
struct Collect(Vec<String>);

impl Output for Collect {
    fn item(&mut self, item: &Item) -> anyhow::Result<()> {
        let text = match &item.what {
            What::Message {
                dir,
                stream,
                path,
                decoded,
                ..
            } => {
                let text = decoded.as_ref().map_or("", |d| d.text.as_str());
                format!("{} {dir} {stream} {path} {text}", item.conn.id)
            }
            other => format!("{} {other:?}", item.conn.id),
        };
        self.0.push(text);
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The pipeline with every method shown and messages decoded as text.
fn pipeline() -> Pipeline<Collect> {
    let view = View {
        schemas: Arc::new(Schemas::embedded()),
        methods: MethodFilter::default(),
        forms: Forms::TEXT,
        binaries: None,
        from_container: false,
        subjects: Default::default(),
    };
    Pipeline::new(view, Collect::default())
}

/// Drives the pipeline by hand with the connections' writes, one
/// connection after another, behind the sniffer as every command does.
fn pipeline_rows(conns: &[(u64, Vec<Chunk>)]) -> Vec<String> {
    let mut pipeline = pipeline();
    let mut sniffer = Sniffer::new();
    let mut sink = sniffer.sink(&mut pipeline);
    let writer = Process::thread(1, 1, Comm::from_name("w"));
    for (id, chunks) in conns {
        let conn = Conn {
            id: *id,
            path: Some("/run/test.sock".into()),
            client: Side::default(),
            server: Side::default(),
            first_ns: 1,
        };
        sink.event(&conn, 1, FlowEvent::Open).unwrap();
        let mut offset = [0u64; 2];
        for c in chunks {
            let ev = match c {
                Chunk::Data(dir, bytes) => FlowEvent::Data {
                    dir: *dir,
                    writer: &writer,
                    offset: offset[dir.index()],
                    bytes,
                },
                Chunk::Gap(dir, len) => FlowEvent::Gap {
                    dir: *dir,
                    offset: offset[dir.index()],
                    len: *len,
                },
            };
            sink.event(&conn, 1, ev).unwrap();
            let (Chunk::Data(dir, _) | Chunk::Gap(dir, _)) = c;
            offset[dir.index()] += match c {
                Chunk::Data(_, b) => b.len() as u64,
                Chunk::Gap(_, n) => *n,
            };
        }
        sink.event(&conn, 1, FlowEvent::Close).unwrap();
    }
    sink.flush().unwrap();
    pipeline.finish(1).unwrap();
    pipeline.out.0
}

#[test]
fn any_cut_into_flow_writes_gives_the_same_rows() {
    let mut rng = Rng(42);
    for name in FIXTURES {
        let conns = flows::of_fixture(&format!("{name}.pcapng")).conns;
        let want = pipeline_rows(&conns);
        assert!(want.len() > 10, "{name}: {} rows", want.len());
        for round in 0..4 {
            let recut: Vec<(u64, Vec<Chunk>)> = conns
                .iter()
                .map(|(id, c)| (*id, recut(c, &mut rng, 16)))
                .collect();
            assert_eq!(pipeline_rows(&recut), want, "{name}, round {round}");
        }
    }
}

/// Reads a capture through the whole decoder, output rendered and dropped.
fn read_all(bytes: &[u8]) -> Result<usize, String> {
    let mut sink = pipeline();
    let r = input::read(bytes, &ReadOptions::default(), &mut sink);
    sink.finish(sink.last_ns()).map_err(|e| e.to_string())?;
    r.map(|_| sink.out.0.len()).map_err(|e| e.to_string())
}

#[test]
fn one_corrupted_byte_never_panics() {
    // A fixed number of positions per fixture, in random order: every
    // framing byte first, then the rest (fuzz/ covers the whole space).
    const POSITIONS: usize = 1500;
    let mut rng = Rng(0xbad_b17e);
    for name in FIXTURES.iter().chain(&["docker-session"]) {
        let file = std::fs::read(flows::fixture(&format!("{name}.pcapng"))).unwrap();
        // Block headers and trailers first (type, lengths, interface,
        // captured length), then the rest, each part in random order.
        let mut framing = Vec::new();
        let mut off = 0;
        while off + 8 <= file.len() {
            let len = u32::from_le_bytes(file[off + 4..off + 8].try_into().unwrap()) as usize;
            framing.extend(off..off + 28.min(len));
            framing.extend(off + len.saturating_sub(4)..off + len);
            off += len;
        }
        framing.retain(|&p| p < file.len());
        framing.sort_unstable();
        framing.dedup();
        let mut rest: Vec<usize> = (0..file.len())
            .filter(|p| framing.binary_search(p).is_err())
            .collect();
        rng.shuffle(&mut framing);
        rng.shuffle(&mut rest);
        let positions: Vec<usize> = framing.into_iter().chain(rest).take(POSITIONS).collect();
        let (mut tried, mut refused) = (0, 0);
        for &pos in &positions {
            let mut bad = file.clone();
            // A flipped bit, a zero or an all-ones byte: lengths, flags, magic.
            bad[pos] = match rng.below(3) {
                0 => bad[pos] ^ (1 << rng.below(8)),
                1 => 0,
                _ => 0xff,
            };
            let r = panic::catch_unwind(AssertUnwindSafe(|| read_all(&bad)));
            match r {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => refused += 1,
                Err(_) => panic!(
                    "{name}: byte {pos} set to {:#04x} (was {:#04x}) panics",
                    bad[pos], file[pos]
                ),
            }
            tried += 1;
        }
        eprintln!(
            "{name}: {tried} of {} positions, {refused} refused",
            file.len()
        );
        assert_eq!(tried, positions.len());
        assert!(tried >= POSITIONS.min(file.len()));
    }
}
