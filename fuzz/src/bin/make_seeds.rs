//! Writes the seed corpora of every target into `fuzz/corpus/<target>/`
//! from the capture fixtures in `tests/fixtures/`: the files themselves,
//! each connection as TCP segments and as decoder writes, and the frames,
//! header blocks, DATA payloads and messages found in them.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --bin make_seeds`

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use containerdsnoop::decode::h2::frame::{self, Frame, Head, HEAD_LEN};
use containerdsnoop::decode::sniff::PREFACE;
use containerdsnoop::decode::{ConnDecoder, Event, PathInfo, Stamp};
use containerdsnoop::flow::{self, ConnId, OwnedEvent};
use containerdsnoop::input::{self, ReadOptions};
use containerdsnoop_fuzz::segments::{self, ctrl};
use containerdsnoop_fuzz::{method_paths, push_record};

/// Per-seed cap, so that the committed set stays small and runs fast.
const SEED_CAP: usize = 48 * 1024;

#[derive(Debug)]
enum Ev {
    Data(flow::Dir, Vec<u8>),
    Gap(flow::Dir, u64),
}

/// Each connection's bytes and gaps, in order, from what the flow layer
/// delivered.
fn by_conn(rec: &flow::Recorder) -> BTreeMap<ConnId, Vec<Ev>> {
    let mut conns: BTreeMap<ConnId, Vec<Ev>> = BTreeMap::new();
    for (conn, _, ev) in &rec.events {
        let evs = conns.entry(conn.id).or_default();
        match ev {
            OwnedEvent::Data { dir, bytes, .. } => evs.push(Ev::Data(*dir, bytes.clone())),
            OwnedEvent::Gap { dir, len, .. } => evs.push(Ev::Gap(*dir, *len)),
            _ => {}
        }
    }
    conns
}

struct Out {
    root: PathBuf,
    seen: HashSet<(String, Vec<u8>)>,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        if bytes.is_empty() || !self.seen.insert((target.to_owned(), bytes.to_vec())) {
            return;
        }
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), bytes).unwrap();
    }
}

fn dir_bit(d: flow::Dir) -> u8 {
    match d {
        flow::Dir::ToServer => 0,
        flow::Dir::ToClient => 1,
    }
}

/// Frames of one direction's bytes (after the preface, if any).
fn frames(mut s: &[u8]) -> Vec<(Head, &[u8])> {
    if s.starts_with(PREFACE) {
        s = &s[PREFACE.len()..];
    }
    let mut out = Vec::new();
    while let Some(head) = Head::parse_prefix(s) {
        let end = HEAD_LEN + head.length as usize;
        let Some(payload) = s.get(HEAD_LEN..end) else {
            break;
        };
        out.push((head, payload));
        s = &s[end..];
    }
    out
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut out = Out {
        root: repo.join("fuzz/corpus"),
        seen: HashSet::new(),
    };
    let paths = method_paths();
    let mut fixtures: Vec<PathBuf> = fs::read_dir(repo.join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcapng"))
        .collect();
    fixtures.sort();
    let (mut frames_kept, mut grpc_kept, mut msgs_kept) = (0, 0, 0);
    for fx in &fixtures {
        let stem = fx.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = fs::read(fx).unwrap();
        out.put("pcap_read", &stem, &bytes);
        let mut rec = flow::Recorder::default();
        input::read(&bytes[..], &ReadOptions::default(), &mut rec).unwrap();
        for (id, evs) in &by_conn(&rec) {
            let name = format!("{stem}-{id}");
            let mut streams: [Vec<u8>; 2] = Default::default();
            let from_start = evs
                .iter()
                .find_map(|e| match e {
                    Ev::Data(flow::Dir::ToServer, b) => Some(b.starts_with(PREFACE)),
                    _ => None,
                })
                .unwrap_or(false);

            // tcp_segments: handshake, each write as a segment, FIN both ways.
            let mut seg = Vec::new();
            segments::push_segment(&mut seg, ctrl::SYN | ctrl::NO_ACK, 0, &[]);
            segments::push_segment(&mut seg, ctrl::TO_CLIENT | ctrl::SYN, 0, &[]);
            let mut next = [1u32; 2];
            // conn_decoder: byte 0 is at_start; then writes and gaps.
            let mut conn = vec![u8::from(from_start)];
            for e in evs {
                match e {
                    Ev::Data(d, b) => {
                        let i = d.index();
                        if seg.len() < SEED_CAP {
                            segments::push_segment(&mut seg, dir_bit(*d), next[i], b);
                        }
                        next[i] = next[i].wrapping_add(b.len() as u32);
                        if conn.len() < SEED_CAP {
                            for chunk in b.chunks(usize::from(u16::MAX)) {
                                push_record(&mut conn, dir_bit(*d), chunk);
                            }
                        }
                        streams[i].extend_from_slice(b);
                    }
                    Ev::Gap(d, n) => {
                        next[d.index()] = next[d.index()].wrapping_add(*n as u32);
                        let n = (*n).min(u64::from(u16::MAX)) as u16;
                        conn.push(dir_bit(*d) | 2);
                        conn.extend_from_slice(&n.to_le_bytes());
                    }
                }
            }
            segments::push_segment(&mut seg, ctrl::FIN, next[0], &[]);
            segments::push_segment(&mut seg, ctrl::TO_CLIENT | ctrl::FIN, next[1], &[]);
            out.put("tcp_segments", &name, &seg);
            out.put("conn_decoder", &name, &conn);
            if seg.len() < 4096 {
                out.put(
                    "pcap_read",
                    &format!("{name}.pcap"),
                    &segments::pcap_of(&seg),
                );
            }

            for (i, s) in streams.iter().enumerate() {
                let fr = frames(s);
                // h2_frame: a few of each kind.
                for (head, payload) in &fr {
                    if frames_kept < 120 && payload.len() < 4096 {
                        let mut f = Vec::new();
                        let raw_head = head_bytes(head);
                        f.extend_from_slice(&raw_head);
                        f.extend_from_slice(payload);
                        let before = out.seen.len();
                        out.put("h2_frame", &format!("{name}-{i}-{frames_kept}"), &f);
                        frames_kept += usize::from(out.seen.len() > before);
                    }
                }
                // hpack: every header block of the direction, in order.
                let mut hp = vec![u8::from(from_start)];
                let mut block = Vec::new();
                // grpc_assembler: the DATA payloads of each stream.
                let mut data: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
                for (head, payload) in &fr {
                    match frame::load(head, payload) {
                        Ok(Frame::Headers {
                            fragment,
                            end_headers,
                            ..
                        }) => {
                            block = fragment.to_vec();
                            if end_headers && hp.len() < SEED_CAP {
                                push_record(&mut hp, 0, &block);
                            }
                        }
                        Ok(Frame::Continuation {
                            fragment,
                            end_headers,
                            ..
                        }) => {
                            block.extend_from_slice(fragment);
                            if end_headers && hp.len() < SEED_CAP {
                                push_record(&mut hp, 0, &block);
                            }
                        }
                        Ok(Frame::Data {
                            stream_id, data: d, ..
                        }) => {
                            let v = data.entry(stream_id).or_insert_with(|| vec![1]);
                            if v.len() < SEED_CAP {
                                push_record(v, 0, d);
                            }
                        }
                        _ => {}
                    }
                }
                if hp.len() > 1 {
                    out.put("hpack", &format!("{name}-{i}"), &hp);
                }
                for (sid, v) in data {
                    if grpc_kept < 60 {
                        let before = out.seen.len();
                        out.put("grpc_assembler", &format!("{name}-{i}-{sid}"), &v);
                        grpc_kept += usize::from(out.seen.len() > before);
                    }
                }
            }

            // protobuf: each message with its method's index.
            let mut dec = ConnDecoder::new(false);
            let mut evout = Vec::new();
            let stamp = Stamp::default();
            for e in evs {
                match e {
                    Ev::Data(d, b) => dec.feed(*d, b, &stamp, &mut evout),
                    Ev::Gap(d, n) => dec.gap(*d, *n, &mut evout),
                }
            }
            for ev in evout {
                if let Event::Message {
                    dir,
                    path: PathInfo::Known(p),
                    payload,
                    ..
                } = ev
                {
                    let Ok(idx) = paths.binary_search(&p) else {
                        continue;
                    };
                    if msgs_kept >= 150 || payload.len() > 4096 {
                        continue;
                    }
                    let mut m = (idx as u16).to_le_bytes().to_vec();
                    m.push(u8::from(dir == flow::Dir::ToServer));
                    m.extend_from_slice(&payload);
                    let before = out.seen.len();
                    out.put("protobuf", &format!("{name}-{msgs_kept}"), &m);
                    msgs_kept += usize::from(out.seen.len() > before);
                }
            }
        }
    }
    binary_seeds(&mut out);
    comment_seeds(&mut out);
    subject_seeds(&mut out, &paths);
    cgroup_seeds(&mut out);
    println!("seeds written under {}", out.root.display());
}

/// Seeds of `cgroup_path`: each layout `flow::container` knows, complete
/// (first byte 1) and cut at the top (0), and paths that are no container.
fn cgroup_seeds(out: &mut Out) {
    let id = "8806619fdd57a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a";
    let uid = "2b3c4d5e-6f70-4a1b-9c2d-3e4f5a6b7c8d";
    let uid_ = uid.replace('-', "_");
    let paths = [
        format!("/k8s.io/{id}"),
        "/default/cg1".to_string(),
        format!("/docker/{id}"),
        format!("/libpod_parent/libpod-{id}"),
        format!("/kubepods/besteffort/pod{uid}/{id}"),
        format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{id}.scope"),
        format!("/system.slice/docker-{id}.scope"),
        format!("/machine.slice/libpod-conmon-{id}.scope"),
        format!("/crio-{id}.scope"),
        "/system.slice/containerd.service".to_string(),
        "/process_api/22aa3778687218d84ad7f105c2f5b1f7".to_string(),
        "/".to_string(),
    ];
    for (i, p) in paths.iter().enumerate() {
        for complete in [1u8, 0] {
            let mut bytes = vec![complete];
            bytes.extend_from_slice(p.as_bytes());
            out.put("cgroup_path", &format!("path-{i}-{complete}"), &bytes);
        }
    }
}

/// Seeds of `pcapng_comment`: every kind of comment our writer makes (names
/// with spaces, `=`, backslashes and bytes that are not UTF-8 among them),
/// and comments as the fixtures, written before the field lists, have them.
fn comment_seeds(out: &mut Out) {
    use containerdsnoop::flow::{Comm, Conn, Process, Side};
    use containerdsnoop::pcapng::comment::{self, SchemaNote};

    let python = Comm::from_name("python3");
    let odd = Comm::from_bytes(b"a b=c\\d\xff\x01").unwrap();
    let in_container = Process {
        container: containerdsnoop::flow::container::from_cgroup_path(
            "/kubepods/besteffort/pod2b3c4d5e-6f70-4a1b-9c2d-3e4f5a6b7c8d/cg1",
            true,
        ),
        ..Process::thread(9, 9, Comm::from_name("ctr"))
    };
    let writers = [
        Process::thread(32089, 32094, python).with_thread_comm(Comm::from_name("event_engine")),
        Process::thread(7, 7, Comm::from_name("containerd"))
            .with_thread_comm(Comm::from_name("containerd")),
        Process::thread(7, 8, odd).with_thread_comm(odd),
        in_container,
    ];
    for (i, w) in writers.iter().enumerate() {
        out.put(
            "pcapng_comment",
            &format!("writer-{i}"),
            comment::writer(w).unwrap().as_bytes(),
        );
    }
    let side = |ino, pid: Option<u32>, comm: Option<Comm>, from_creds| Side {
        ino,
        owner: Process {
            pid,
            comm,
            ..Process::default()
        },
        from_creds,
    };
    let conns = [
        (
            Some("/run/containerd/containerd.sock"),
            side(5678, Some(17013), Some(python), false),
            side(
                5679,
                Some(15367),
                Some(Comm::from_name("containerd")),
                false,
            ),
        ),
        (
            None,
            side(7000, Some(1), Some(odd), true),
            side(0, Some(20949), None, true),
        ),
        (
            Some("/run/x: client y; server z"),
            side(1, None, None, false),
            Side::default(),
        ),
    ];
    for (i, (path, client, server)) in conns.into_iter().enumerate() {
        let conn = Conn {
            id: i as u64,
            path: path.map(str::to_string),
            client,
            server,
            first_ns: 0,
        };
        out.put(
            "pcapng_comment",
            &format!("opening-{i}"),
            comment::opening(&conn).as_bytes(),
        );
    }
    let before = [
        "pid 14538 tid 14541 comm ctr",
        "connection 0 on /tmp/cdt/c.sock: client pid 14538 (?) inode 44165; server pid 5600 \
         (containerd) inode 44166",
        "connection 1 on /tmp/x.sock: client connected by pid 29543 (containerd-shim) inode \
         987086; server bound by pid 29444 (?) inode 0",
    ];
    for (i, text) in before.iter().enumerate() {
        out.put("pcapng_comment", &format!("before-{i}"), text.as_bytes());
    }
    let note = SchemaNote {
        path: "/usr/bin/containerd".into(),
        version: "go1.19.8, version 1.6.20~ds1".into(),
        build_id: Some("4e3f00".into()),
    };
    let origin = "12 entries from the decoder of containerd (pid 880), before stream 41";
    let others = [
        comment::lost(1234),
        comment::SYNTHETIC_PREFACE.to_string(),
        comment::seed("PUSH_PROMISE", origin),
        comment::schemas(&note),
    ];
    for (i, text) in others.iter().enumerate() {
        out.put("pcapng_comment", &format!("other-{i}"), text.as_bytes());
    }
}

/// Seeds of `binary_schemas`: bundled descriptors gzipped (as gogo/protobuf
/// registers them) and raw (as protobuf-go keeps them), the two CRI files
/// under one name, a Go build information header, and a small ELF file
/// with build ID notes.
fn binary_seeds(out: &mut Out) {
    use std::io::Write as _;

    use containerdsnoop::protobuf::Schemas;
    use flate2::{write::GzEncoder, Compression};
    use prost::Message;

    let gzip = |bytes: &[u8]| {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    let schemas = Schemas::embedded();
    let files: Vec<_> = schemas.pool().file_descriptor_protos().cloned().collect();
    let small: Vec<_> = files
        .iter()
        .filter(|f| f.encoded_len() < 2048 && f.dependency.len() <= 2)
        .take(6)
        .collect();
    let mut gz = Vec::new();
    let mut raw = Vec::new();
    for f in &small {
        gz.extend(gzip(&f.encode_to_vec()));
        gz.extend([0u8; 8]);
        raw.extend(f.encode_to_vec());
    }
    raw.extend([0u8; 8]);
    out.put("binary_schemas", "gzip-members", &gz);
    out.put("binary_schemas", "raw-descriptors", &raw);
    let mut cri = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.name().ends_with("/api.proto") && f.package().starts_with("runtime."))
    {
        let mut f = f.clone();
        f.name = Some("api.proto".into());
        cri.extend(gzip(&f.encode_to_vec()));
    }
    out.put("binary_schemas", "one-name-two-packages", &cri);

    let modinfo = "path\texample.com/cmd/d\nmod\texample.com\tv1.2.3\th1:abc=\n\
                   dep\tgithub.com/gogo/protobuf\tv1.3.2\th1:x=\n=>\tgithub.com/x/protobuf\tv1.3.3\th1:y=\n\
                   build\t-ldflags=\"-X example.com/version.Version=1.2.3\"\n";
    let mut info = b"\xff Go buildinf:\x08\x02".to_vec();
    info.extend([0u8; 16]);
    info.push(8);
    info.extend(b"go1.22.1");
    let framed = [&[0x30u8; 16][..], modinfo.as_bytes(), &[0x31u8; 16][..]].concat();
    let mut len = framed.len();
    while len >= 0x80 {
        info.push(len as u8 | 0x80);
        len >>= 7;
    }
    info.push(len as u8);
    info.extend(framed);
    out.put("binary_schemas", "buildinfo", &info);
    out.put("binary_schemas", "elf-notes", &tiny_elf());
}

/// A 64-bit little-endian ELF file: header, a Go and a GNU build ID note,
/// the section name table and the section headers.
fn tiny_elf() -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
    let go_note = [
        &4u32.to_le_bytes()[..],
        &8u32.to_le_bytes(),
        &4u32.to_le_bytes(),
        b"Go\0\0",
        b"abcd/efg",
    ]
    .concat();
    let gnu_note = [
        &4u32.to_le_bytes()[..],
        &4u32.to_le_bytes(),
        &3u32.to_le_bytes(),
        b"GNU\0",
        &[1, 2, 3, 4],
    ]
    .concat();
    let strtab = b"\0.note.go.buildid\0.note.gnu.build-id\0.shstrtab\0";
    let mut sections = vec![(0u32, 0u32, 0usize, 0usize)];
    for (name, kind, data) in [
        (1u32, 7u32, &go_note[..]),
        (18, 7, &gnu_note[..]),
        (37, 3, &strtab[..]),
    ] {
        sections.push((name, kind, b.len(), data.len()));
        b.extend_from_slice(data);
    }
    b.resize(b.len().next_multiple_of(8), 0);
    let shoff = b.len();
    for (name, kind, offset, size) in &sections {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&name.to_le_bytes());
        h[4..8].copy_from_slice(&kind.to_le_bytes());
        h[24..32].copy_from_slice(&(*offset as u64).to_le_bytes());
        h[32..40].copy_from_slice(&(*size as u64).to_le_bytes());
        b.extend(h);
    }
    b[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
    b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    b[0x3c..0x3e].copy_from_slice(&4u16.to_le_bytes());
    b[0x3e..0x40].copy_from_slice(&3u16.to_le_bytes());
    b
}

fn head_bytes(h: &Head) -> [u8; HEAD_LEN] {
    let l = h.length.to_be_bytes();
    let s = (h.stream_id | if h.reserved { 1 << 31 } else { 0 }).to_be_bytes();
    [
        l[1],
        l[2],
        l[3],
        h.kind.to_byte(),
        h.flags,
        s[0],
        s[1],
        s[2],
        s[3],
    ]
}

/// A protobuf length-delimited field.
fn pb(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    let mut key = u64::from(number << 3 | 2);
    let mut len = value.len() as u64;
    for v in [&mut key, &mut len] {
        while *v >= 0x80 {
            out.push(*v as u8 | 0x80);
            *v >>= 7;
        }
        out.push(*v as u8);
    }
    out.extend_from_slice(value);
}

fn pb_msg(fields: &[(u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        pb(&mut out, *n, v);
    }
    out
}

/// Seeds of `subjects`: a pod's life as kubelet drives it (RunPodSandbox,
/// CreateContainer, a status and a relist, the shim's Task calls, the
/// removals), in the target's record format.
fn subject_seeds(out: &mut Out, paths: &[String]) {
    let sandbox = b"8806619fdd57a1c2b3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930";
    let ctr = b"0b5c1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5a6b7c8d9eaf0b1c2d3e4f5a6b7c8d9";
    let meta = pb_msg(&[(1, b"web-0"), (2, b"uid-1"), (3, b"default")]);
    let config = pb_msg(&[(1, &meta)]);
    let run = pb_msg(&[(1, &config)]);
    let cmeta = pb_msg(&[(1, b"app")]);
    let cconfig = pb_msg(&[(1, &cmeta)]);
    let create = pb_msg(&[(1, sandbox), (2, &cconfig)]);
    let item = pb_msg(&[(1, sandbox), (2, &meta)]);
    let list = pb_msg(&[(1, &item)]);
    let by_id = |id: &[u8]| pb_msg(&[(1, id)]);
    // (method, stream, request?, payload) then the call's end.
    let steps: Vec<(&str, u8, bool, Vec<u8>)> = vec![
        (
            "/runtime.v1.RuntimeService/RunPodSandbox",
            0,
            true,
            run.clone(),
        ),
        (
            "/runtime.v1.RuntimeService/RunPodSandbox",
            0,
            false,
            by_id(sandbox),
        ),
        (
            "/runtime.v1.RuntimeService/CreateContainer",
            1,
            true,
            create,
        ),
        (
            "/runtime.v1.RuntimeService/CreateContainer",
            1,
            false,
            by_id(ctr),
        ),
        ("/containerd.task.v2.Task/Start", 2, true, by_id(ctr)),
        (
            "/runtime.v1.RuntimeService/ListPodSandbox",
            3,
            true,
            Vec::new(),
        ),
        ("/runtime.v1.RuntimeService/ListPodSandbox", 3, false, list),
        (
            "/runtime.v1.RuntimeService/RemoveContainer",
            4,
            true,
            by_id(ctr),
        ),
        (
            "/runtime.v1.RuntimeService/RemovePodSandbox",
            5,
            true,
            by_id(sandbox),
        ),
        (
            "/runtime.v1alpha2.RuntimeService/RunPodSandbox",
            6,
            true,
            run,
        ),
    ];
    let mut all = Vec::new();
    for (i, (path, stream, request, payload)) in steps.iter().enumerate() {
        let Some(index) = paths.iter().position(|p| p == path) else {
            continue;
        };
        let mut bytes = (index as u16).to_le_bytes().to_vec();
        bytes.extend_from_slice(payload);
        let mut one = Vec::new();
        push_record(&mut one, stream << 1 | u8::from(*request), &bytes);
        if !request {
            // The call ends with success.
            push_record(&mut one, 0xc0 | stream << 1, &[]);
        }
        out.put("subjects", &format!("step-{i}"), &one);
        all.extend_from_slice(&one);
    }
    out.put("subjects", "lifecycle", &all);
}
