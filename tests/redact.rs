//! `redact` on a capture built by hand (no root): two CRI PullImage calls
//! carrying registry credentials in their AuthConfig and in headers, as
//! flow events written by our pcapng writer. The copy must hold no secret
//! byte, keep every block's length, decode to the same calls, and dissect
//! in tshark with the same gRPC messages and no warnings (TCP checksums
//! checked); retransmitted packets are redacted too, and a capture cut short
//! is copied up to its last whole block.

mod common;

use std::path::Path;
use std::process::Command;

use containerdsnoop::decode::h2::frame::Kind;
use containerdsnoop::decode::sniff::PREFACE;
use containerdsnoop::decode::sniffer::Sniffer;
use containerdsnoop::flow::{Comm, Conn, Dir, FlowEvent, Process, Side, Sink};
use containerdsnoop::pcapng::PcapngWriter;
use containerdsnoop::protobuf::Schemas;
use containerdsnoop::testsupport::h2;
use prost_reflect::{prost::Message, DynamicMessage};

use common::{bin, tshark};
const V1: &str = "/runtime.v1.ImageService/PullImage";
const V1ALPHA2: &str = "/runtime.v1alpha2.ImageService/PullImage";
const AUTH: &str = r#"image { image: "registry.example/app:1" }
    auth { username: "u" password: "hunter2" auth: "dTpodW50ZXIy"
           identity_token: "x" registry_token: "y" server_address: "registry.example" }"#;
/// Secrets that must not survive in any form.
const SECRETS: [&str; 2] = ["hunter2", "dTpodW50ZXIy"];

use containerdsnoop::decode::h2::frame::flags::{ACK, END_HEADERS, END_STREAM, PADDED};
use h2::frame;
const DATA: Kind = Kind::Data;
const HEADERS: Kind = Kind::Headers;
const SETTINGS: Kind = Kind::Settings;

/// An HPACK string literal (RFC 7541 section 5.2), raw or Huffman-coded.
fn string(s: &str, huffman: bool) -> Vec<u8> {
    let mut out = Vec::new();
    h2::string(&mut out, s.as_bytes(), huffman);
    out
}

/// A message of type `name` in protobuf text format, gRPC-framed.
fn grpc(name: &str, text: &str) -> Vec<u8> {
    let desc = Schemas::embedded()
        .pool()
        .get_message_by_name(name)
        .unwrap();
    let msg = DynamicMessage::parse_text_format(desc, text)
        .unwrap()
        .encode_to_vec();
    h2::grpc_msg(&msg)
}

/// DATA frames carrying `msg`, cut inside its password (first frame padded).
fn data_cut_in_password(sid: u32, msg: &[u8]) -> Vec<u8> {
    let cut = msg.windows(7).position(|w| w == b"hunter2").unwrap() + 3;
    let mut padded = vec![4u8];
    padded.extend_from_slice(&msg[..cut]);
    padded.extend([0; 4]);
    let mut out = frame(DATA, PADDED, sid, &padded);
    out.extend(frame(DATA, END_STREAM, sid, &msg[cut..]));
    out
}

/// Both directions' writes of one connection with two PullImage calls.
fn conversation() -> Vec<(Dir, Vec<u8>)> {
    let mut w = Vec::new();
    let mut first = PREFACE.to_vec();
    first.extend(frame(SETTINGS, 0, 0, &[]));
    w.push((Dir::ToServer, first));
    let mut s = frame(SETTINGS, 0, 0, &[]);
    s.extend(frame(SETTINGS, ACK, 0, &[]));
    w.push((Dir::ToClient, s));
    w.push((Dir::ToServer, frame(SETTINGS, ACK, 0, &[])));

    // Call 1: static names, values indexed into the client's table (62 is
    // the newest): authorization 62, te 63, content-type 64, :authority 65, :path 66.
    let mut block = vec![0x83, 0x86, 0x44];
    block.extend(string(V1, true));
    block.push(0x41);
    block.extend(string("/run/containerd/containerd.sock", true));
    block.push(0x5f);
    block.extend(string("application/grpc", false));
    block.extend([0x40]);
    block.extend(string("te", false));
    block.extend(string("trailers", false));
    block.push(0x57);
    block.extend(string("Bearer hunter2", false));
    let mut c = frame(HEADERS, END_HEADERS, 1, &block);
    c.extend(data_cut_in_password(
        1,
        &grpc("runtime.v1.PullImageRequest", AUTH),
    ));
    w.push((Dir::ToServer, c));

    // Responses: :status 200, content-type into the server's table (62),
    // trailers without indexing.
    let response = |sid: u32, first: bool| {
        let mut block = vec![0x88];
        match first {
            true => {
                block.push(0x5f);
                block.extend(string("application/grpc", true));
            }
            false => block.push(0xbe),
        }
        let mut r = frame(HEADERS, END_HEADERS, sid, &block);
        let name = match first {
            true => "runtime.v1.PullImageResponse",
            false => "runtime.v1alpha2.PullImageResponse",
        };
        r.extend(frame(
            DATA,
            0,
            sid,
            &grpc(name, r#"image_ref: "sha256:0123""#),
        ));
        let mut trailers = vec![0x00];
        trailers.extend(string("grpc-status", true));
        trailers.extend(string("0", false));
        r.extend(frame(HEADERS, END_HEADERS | END_STREAM, sid, &trailers));
        r
    };
    w.push((Dir::ToClient, response(1, true)));

    // Call 3: the v1alpha2 method, authorization by index, and a token
    // header Huffman-coded, never indexed.
    let mut block = vec![0x83, 0x86, 0x04];
    block.extend(string(V1ALPHA2, true));
    block.extend([0xc1, 0xc0, 0xbf, 0xbe, 0x10]);
    block.extend(string("x-registry-token", false));
    block.extend(string("hunter2-huffman", true));
    let mut c = frame(HEADERS, END_HEADERS, 3, &block);
    c.extend(data_cut_in_password(
        3,
        &grpc("runtime.v1alpha2.PullImageRequest", AUTH),
    ));
    w.push((Dir::ToServer, c));
    w.push((Dir::ToClient, response(3, false)));
    w
}

/// Writes the conversation as containerdsnoop's recorder would.
fn write_capture(path: &Path) {
    let side = |ino, pid, comm| Side {
        ino,
        owner: Process {
            pid: Some(pid),
            tid: None,
            comm: Some(Comm::from_name(comm)),
            ..Default::default()
        },
        from_creds: false,
    };
    let conn = Conn {
        id: 0,
        path: Some("/run/containerd/containerd.sock".into()),
        client: side(1001, 4242, "kubelet"),
        server: side(1002, 77, "containerd"),
        first_ns: 1_700_000_000_000_000_000,
    };
    let out = std::fs::File::create(path).unwrap();
    let mut w = PcapngWriter::new(out, "redact test").unwrap();
    let mut ts = conn.first_ns;
    w.event(&conn, ts, FlowEvent::Open).unwrap();
    let mut offsets = [0u64; 2];
    for (dir, bytes) in conversation() {
        ts += 1_000_000;
        let writer = match dir {
            Dir::ToServer => Process::thread(4242, 1, Comm::from_name("kubelet")),
            Dir::ToClient => Process::thread(77, 1, Comm::from_name("containerd")),
        };
        let offset = offsets[dir.index()];
        offsets[dir.index()] += bytes.len() as u64;
        let ev = FlowEvent::Data {
            dir,
            writer: &writer,
            offset,
            bytes: &bytes,
        };
        w.event(&conn, ts, ev).unwrap();
    }
    w.event(&conn, ts + 1_000_000, FlowEvent::Close).unwrap();
    w.finish().unwrap();
}

fn run(args: &[&str]) -> (String, String) {
    let out = Command::new(bin())
        .args(args)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{args:?}: {stderr}");
    (stdout, stderr)
}

/// (block type, length) of every pcapng block (little-endian, as written here).
fn blocks(file: &[u8]) -> Vec<(u32, u32)> {
    let word = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
    let (mut out, mut at) = (Vec::new(), 0);
    while at < file.len() {
        out.push((word(at), word(at + 4)));
        at += word(at + 4) as usize;
    }
    out
}

/// What `decode --json` says of each message and call, by line.
fn decoded(pcap: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["decode", pcap, "--json"];
    args.extend(extra);
    run(&args)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn redacted_copy_has_no_secrets_and_dissects_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pull.pcapng");
    let output = dir.path().join("shared.pcapng");
    write_capture(&input);
    let (inp, outp) = (input.to_str().unwrap(), output.to_str().unwrap());
    let (_, stderr) = run(&["redact", inp, "-o", outp]);
    assert!(
        stderr.contains("10 secret values (67 bytes) overwritten in 2 messages and 2 headers"),
        "{stderr}"
    );

    let (before, after) = (
        std::fs::read(&input).unwrap(),
        std::fs::read(&output).unwrap(),
    );
    for s in SECRETS {
        let has = |f: &[u8]| f.windows(s.len()).any(|w| w == s.as_bytes());
        assert!(has(&before), "the test capture holds {s}");
        assert!(!has(&after), "{s} is still in the copy");
    }
    assert_eq!(before.len(), after.len());
    assert_eq!(blocks(&before), blocks(&after));

    // Our decoder: the same calls and messages, the secrets now x's.
    let (a, b) = (decoded(inp, &[]), decoded(outp, &[]));
    assert_eq!(a, b, "redacted fields decode the same");
    let shown = decoded(outp, &["--show-secrets"]);
    let requests: Vec<_> = shown
        .iter()
        .filter(|m| m["direction"] == "request")
        .collect();
    assert_eq!(requests.len(), 2);
    for (m, method) in requests.iter().zip([V1, V1ALPHA2]) {
        assert_eq!(m["method"], method);
        assert_eq!(m["schema"], "typed");
        let auth = &m["message"]["auth"];
        assert_eq!(auth["username"], "u");
        assert_eq!(auth["password"], "xxxxxxx");
        assert_eq!(auth["auth"], "xxxxxxxxxxxx");
        assert_eq!(auth["identityToken"], "x");
        assert_eq!(auth["registryToken"], "x");
        assert_eq!(auth["serverAddress"], "registry.example");
    }
    let original = decoded(inp, &["--show-secrets"]);
    assert!(original
        .iter()
        .any(|m| m["message"]["auth"]["password"] == "hunter2"));

    // tshark: the same gRPC messages, nothing malformed, checksums right.
    assert_eq!(common::grpc_census(inp), common::grpc_census(outp));
    assert_eq!(common::grpc_census(outp).values().sum::<u32>(), 4);
    let bad = "_ws.malformed || _ws.expert.severity >= warning";
    for pcap in [inp, outp] {
        let complaints = tshark(["-r", pcap, "-o", "tcp.check_checksum:TRUE", "-Y", bad]);
        assert_eq!(complaints, "", "{pcap}");
    }
    // Header values as tshark decodes them (Huffman and table included).
    let headers = |pcap| {
        tshark([
            "-r",
            pcap,
            "-T",
            "fields",
            "-e",
            "http2.header.name",
            "-e",
            "http2.header.value",
        ])
    };
    let (h_in, h_out) = (headers(inp), headers(outp));
    assert!(
        h_in.contains("Bearer hunter2") && h_in.contains("hunter2-huffman"),
        "{h_in}"
    );
    assert!(!h_out.contains("hunter2"), "{h_out}");
    assert!(h_out.contains(V1) && h_out.contains(V1ALPHA2) && h_out.contains("trailers"));
    assert_eq!(
        h_out.matches("xxxxxxxxxxxxxx").count(),
        2,
        "both uses of authorization"
    );
}

#[test]
fn captures_without_secrets_are_copied_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ctr-session.pcapng");
    let output = dir.path().join("copy.pcapng");
    let (_, stderr) = run(&[
        "redact",
        fixture.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(stderr.contains("no secret values found"), "{stderr}");
    assert_eq!(
        std::fs::read(&fixture).unwrap(),
        std::fs::read(&output).unwrap()
    );
    // Never over an existing file without --force, never over the input.
    let again = Command::new(bin())
        .args([
            "redact",
            fixture.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let itself = Command::new(bin())
        .args([
            "redact",
            fixture.to_str().unwrap(),
            "-o",
            fixture.to_str().unwrap(),
            "--force",
        ])
        .output()
        .unwrap();
    assert!(!itself.status.success());
    assert!(String::from_utf8_lossy(&itself.stderr).contains("is the input"));
}

#[test]
fn a_capture_cut_short_is_copied_to_its_last_whole_block() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.pcapng");
    write_capture(&whole);
    let bytes = std::fs::read(&whole).unwrap();
    // Cut inside the block that carries call 3's request.
    let at = bytes
        .windows(16)
        .rposition(|w| w == b"x-registry-token")
        .unwrap();
    let ends: Vec<usize> = blocks(&bytes)
        .iter()
        .scan(0, |end, &(_, len)| {
            *end += len as usize;
            Some(*end)
        })
        .collect();
    let last_whole = *ends.iter().rfind(|&&e| e <= at).unwrap();
    let cut = dir.path().join("cut.pcapng");
    std::fs::write(&cut, &bytes[..at]).unwrap();
    let output = dir.path().join("shared.pcapng");
    let (_, stderr) = run(&[
        "redact",
        cut.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains(&format!("the copy stops at byte {last_whole}")),
        "{stderr}"
    );
    let copy = std::fs::read(&output).unwrap();
    assert_eq!(copy.len(), last_whole);
    assert!(!copy.windows(7).any(|w| w == b"hunter2"));
    assert_eq!(&blocks(&copy)[..], &blocks(&bytes)[..blocks(&copy).len()]);
}

#[test]
fn retransmitted_packets_are_redacted_too() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.pcapng");
    write_capture(&original);
    let bytes = std::fs::read(&original).unwrap();
    // Send the first packet holding a password twice, as a retransmission.
    let (mut at, mut resent) = (0, false);
    let mut twice = Vec::new();
    for (_, len) in blocks(&bytes) {
        let block = &bytes[at..at + len as usize];
        twice.extend_from_slice(block);
        if !resent && block.windows(7).any(|w| w == b"hunter2") {
            twice.extend_from_slice(block);
            resent = true;
        }
        at += len as usize;
    }
    assert!(resent);
    let input = dir.path().join("retransmitted.pcapng");
    std::fs::write(&input, &twice).unwrap();
    let output = dir.path().join("shared.pcapng");
    let (inp, outp) = (input.to_str().unwrap(), output.to_str().unwrap());
    let (_, stderr) = run(&["redact", inp, "-o", outp]);
    assert!(stderr.contains("(3 packets)"), "{stderr}");
    let copy = std::fs::read(&output).unwrap();
    assert!(!copy.windows(7).any(|w| w == b"hunter2"));
    assert_eq!(blocks(&copy), blocks(&twice));
    let complaints = tshark([
        "-r",
        outp,
        "-o",
        "tcp.check_checksum:TRUE",
        "-Y",
        "tcp.checksum.status != 1",
    ]);
    assert_eq!(complaints, "");
}

/// A recovered HPACK table (the synthetic frame `record` writes for a
/// connection begun before the capture) can hold a secret header's value:
/// the copy overwrites it there, and later references show the redacted entry.
#[test]
fn secret_headers_in_recovered_tables_are_redacted() {
    use containerdsnoop::recovery::RecoveredTable;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mid.pcapng");
    let output = dir.path().join("shared.pcapng");
    let conn = Conn {
        id: 0,
        path: Some("/run/containerd/containerd.sock".into()),
        client: Side::default(),
        server: Side::default(),
        first_ns: 1_700_000_000_000_000_000,
    };
    let table = RecoveredTable {
        dir: Dir::ToServer,
        stream: 5,
        end_stream: false,
        block_prefix: vec![],
        entries: vec![
            (b"authorization".to_vec(), b"Bearer s3cret-t0ken".to_vec()),
            (b"content-type".to_vec(), b"application/grpc".to_vec()),
            (
                b":path".to_vec(),
                b"/containerd.services.version.v1.Version/Version".to_vec(),
            ),
        ],
        size: 0,
        max_size: 4096,
        pid: 77,
        comm: "containerd".into(),
    };
    let table = RecoveredTable {
        size: table
            .entries
            .iter()
            .map(|(n, v)| (n.len() + v.len() + 32) as u32)
            .sum(),
        ..table
    };
    let seed = table.seed_frame();
    // A request of stream 5 that refers to the three entries only.
    let mut request = vec![0, 0, 6, 1, 4, 0, 0, 0, 5];
    request.extend([0x83, 0x86, 0x80 | 62, 0x80 | 63, 0x80 | 64, 0x80 | 1]);
    let mut pw = PcapngWriter::new(std::fs::File::create(&input).unwrap(), "t").unwrap();
    // Behind the sniffer, as in `record`.
    let mut sniffer = Sniffer::new();
    let mut w = sniffer.sink(&mut pw);
    let ts = conn.first_ns;
    let writer = Process::thread(4242, 1, Comm::from_name("kubelet"));
    w.event(&conn, ts, FlowEvent::Open).unwrap();
    let origin = table.origin();
    let ev = FlowEvent::Seed {
        dir: Dir::ToServer,
        offset: 0,
        frame: &seed,
        origin: &origin,
    };
    w.event(&conn, ts, ev).unwrap();
    let ev = FlowEvent::Data {
        dir: Dir::ToServer,
        writer: &writer,
        offset: 0,
        bytes: &request,
    };
    w.event(&conn, ts + 1, ev).unwrap();
    w.event(&conn, ts + 2, FlowEvent::Close).unwrap();
    pw.finish().unwrap();
    let original = std::fs::read(&input).unwrap();
    assert!(original.windows(6).any(|w| w == b"s3cret"));
    let (inp, outp) = (input.to_str().unwrap(), output.to_str().unwrap());
    run(&["redact", inp, "-o", outp]);
    let copy = std::fs::read(&output).unwrap();
    assert_eq!(copy.len(), original.len());
    assert!(
        !copy.windows(6).any(|w| w == b"s3cret"),
        "the token survived"
    );
    // The call is still named from the recovered table.
    let calls = decoded(outp, &[]);
    assert!(
        calls
            .iter()
            .any(|c| c["method"] == "/containerd.services.version.v1.Version/Version"),
        "{calls:?}"
    );
}
