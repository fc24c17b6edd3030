//! The synthetic frames: what a table's frame is (a PUSH_PROMISE, not a
//! call), that it and the HEADERS frames of files written before rebuild
//! the same table in our decoder, and where their literals lie.

use super::*;
use crate::decode::h2::hpack::Decoder;
use crate::decode::{ConnDecoder, Event, PathInfo};
use crate::testsupport::decoders::stamp;
use crate::testsupport::h2::headers_seed_frame as old_seed_frame;

fn entries(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    list.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

/// What a server's encoder holds after a few calls, one of them failed.
fn server_table() -> Vec<(Vec<u8>, Vec<u8>)> {
    entries(&[
        ("content-type", "application/grpc"),
        ("grpc-status", "0"),
        ("grpc-message", ""),
        ("grpc-status", "5"),
        ("grpc-message", "task abc not found"),
    ])
}

fn names_and_values(block: &[u8], decoder: &mut Decoder) -> Vec<(String, String)> {
    let text = |o: &crate::decode::header::Octets| {
        String::from_utf8_lossy(o.known().expect("a known field")).into_owned()
    };
    decoder
        .decode(block)
        .expect("the block decodes")
        .fields
        .iter()
        .map(|f| (text(&f.name), text(&f.value)))
        .collect()
}

#[test]
fn a_table_rides_in_a_push_promise_that_ends_no_stream() {
    let f = seed_frame(&server_table(), 4096);
    let head = Head::parse(f[..HEAD_LEN].try_into().unwrap());
    assert_eq!(head.kind, Kind::PushPromise);
    assert_eq!(head.stream_id, SEED_STREAM);
    assert_eq!(head.flags, flags::END_HEADERS, "no END_STREAM, no padding");
    assert_eq!(f[HEAD_LEN..HEAD_LEN + 4], SEED_PROMISED.to_be_bytes());
    assert_eq!(frame_type_name(&f), "PUSH_PROMISE");
    let (stream, block) = parse_seed_frame(&f).expect("a seed frame");
    assert_eq!(stream, SEED_STREAM);
    // The marker first, then the entries, oldest first.
    let mut d = Decoder::new(false);
    let fields = names_and_values(block, &mut d);
    let marker = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    assert_eq!(fields[0], (marker(MARKER.0), marker(MARKER.1)));
    assert_eq!(fields.len(), 1 + server_table().len());
    // The table is exactly the entries: 62 the newest, nothing beyond.
    assert!(d.table().is_synced());
    let newest = names_and_values(&[0x80 | 62, 0x80 | 66], &mut d);
    assert_eq!(newest[0].1, "task abc not found");
    assert_eq!(newest[1].1, "application/grpc");
    assert!(d.decode(&[0x80 | 67]).unwrap().desync.is_some());
}

#[test]
fn an_empty_table_still_has_a_field() {
    let f = seed_frame(&[], 4096);
    let fields = literal_fields(&f);
    assert_eq!(fields.len(), 1);
    assert_eq!(&f[fields[0].0.clone()], MARKER.0);
    let (_, block) = parse_seed_frame(&f).unwrap();
    let mut d = Decoder::new(false);
    d.decode(block).unwrap();
    assert!(d.table().is_synced());
    assert!(d.decode(&[0x80 | 62]).unwrap().desync.is_some());
}

#[test]
fn tables_of_files_written_before_still_read() {
    let (new, old) = (
        seed_frame(&server_table(), 4096),
        old_seed_frame(&server_table(), 4096),
    );
    assert_eq!(frame_type_name(&old), "HEADERS");
    let (stream, old_block) = parse_seed_frame(&old).expect("an old seed frame");
    assert_eq!(stream, SEED_STREAM);
    let (_, new_block) = parse_seed_frame(&new).unwrap();
    let (mut a, mut b) = (Decoder::new(false), Decoder::new(false));
    let (old_fields, new_fields) = (
        names_and_values(old_block, &mut a),
        names_and_values(new_block, &mut b),
    );
    assert_eq!(old_fields[..], new_fields[1..], "the same entries");
    let refs = [0x80 | 62, 0x80 | 63, 0x80 | 64, 0x80 | 65, 0x80 | 66];
    assert_eq!(
        names_and_values(&refs, &mut a),
        names_and_values(&refs, &mut b)
    );
}

/// The events of a connection seen from its middle: a request on stream
/// 1, the server's table seeded by `seed`, then a trailers-only failure
/// that refers to the table's entries.
fn failed_call_after(seed: &[u8]) -> Vec<Event> {
    let mut dec = ConnDecoder::new(false);
    let mut out = Vec::new();
    let mut request = vec![0x83, 0x86, 0x04];
    encode_plain_string(&mut request, b"/containerd.services.tasks.v1.Tasks/Get");
    let request = frame::encode(Kind::Headers, flags::END_HEADERS, 1, &request);
    let data = frame::encode(Kind::Data, flags::END_STREAM, 1, &[0, 0, 0, 0, 0]);
    dec.feed(
        Dir::ToServer,
        &[request, data].concat(),
        &stamp(1),
        &mut out,
    );
    assert!(dec.seed(Dir::ToClient, seed, &stamp(2), &mut out));
    // :status 200, content-type, grpc-status 5, grpc-message: all indexed.
    let trailers = [0x88, 0x80 | 66, 0x80 | 63, 0x80 | 62];
    let trailers = frame::encode(
        Kind::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &trailers,
    );
    dec.feed(Dir::ToClient, &trailers, &stamp(3), &mut out);
    // Seen from the middle, a lone frame is confirmed by the close.
    dec.close(4, &mut out);
    out
}

#[test]
fn what_follows_a_table_decodes_the_same_from_either_frame() {
    let new = failed_call_after(&seed_frame(&server_table(), 4096));
    let old = failed_call_after(&old_seed_frame(&server_table(), 4096));
    let ends = |evs: &[Event]| -> Vec<(u32, PathInfo, Option<u32>)> {
        evs.iter()
            .filter_map(|e| match e {
                Event::CallEnd {
                    stream_id,
                    path,
                    status,
                    ..
                } => Some((*stream_id, path.clone(), *status)),
                _ => None,
            })
            .collect()
    };
    let path = PathInfo::Known("/containerd.services.tasks.v1.Tasks/Get".into());
    assert_eq!(ends(&new), vec![(1, path, Some(5))]);
    assert_eq!(ends(&new), ends(&old));
    // The synthetic frame itself is no call.
    for e in &new {
        if let Event::CallStart { stream_id, .. } | Event::CallEnd { stream_id, .. } = e {
            assert_ne!(*stream_id, SEED_STREAM, "{e:?}");
        }
    }
}

#[test]
fn literal_fields_lie_where_the_frames_hold_them() {
    let table = server_table();
    for f in [seed_frame(&table, 4096), old_seed_frame(&table, 4096)] {
        let fields: Vec<(&[u8], &[u8])> = literal_fields(&f)
            .into_iter()
            .map(|(n, v)| (&f[n], &f[v]))
            .collect();
        let want: Vec<(&[u8], &[u8])> = table
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
            .collect();
        let entries = match fields.first() {
            Some(&first) if first == MARKER => &fields[1..],
            _ => &fields[..],
        };
        assert_eq!(entries, want, "{}", frame_type_name(&f));
    }
    let f = stream_frame(5, "/a.B/C", Dir::ToServer);
    let paths: Vec<&[u8]> = literal_fields(&f)
        .into_iter()
        .filter(|(n, _)| &f[n.clone()] == b":path")
        .map(|(_, v)| &f[v])
        .collect();
    assert_eq!(paths, vec![b"/a.B/C".as_slice()]);
}

#[test]
fn other_frames_are_not_seeds() {
    let good = seed_frame(&server_table(), 4096);
    assert!(parse_seed_frame(&good[..good.len() - 1]).is_none());
    // A PUSH_PROMISE on another stream, or promising another one.
    let mut other_stream = good.clone();
    other_stream[5..9].copy_from_slice(&3u32.to_be_bytes());
    assert!(parse_seed_frame(&other_stream).is_none());
    let mut other_promise = good.clone();
    other_promise[HEAD_LEN..HEAD_LEN + 4].copy_from_slice(&2u32.to_be_bytes());
    assert!(parse_seed_frame(&other_promise).is_none());
    // Padded, or not ending the block.
    for flag in [flags::END_HEADERS | flags::PADDED, 0] {
        let mut f = good.clone();
        f[4] = flag;
        assert!(parse_seed_frame(&f).is_none(), "flags {flag:#x}");
    }
    let data = frame::encode(Kind::Data, 0, SEED_STREAM, b"abc");
    assert!(parse_seed_frame(&data).is_none());
    assert!(literal_fields(&data).is_empty());
}
