use super::*;
use crate::testsupport::h2::{grpc_msg, gzip};

/// Pushes `chunks` as contiguous stream bytes; stream ranges are left out.
fn run(a: &mut Assembler, chunks: &[&[u8]]) -> Vec<Result<RawMessage, Error>> {
    let mut out = Vec::new();
    let mut at = 0;
    for c in chunks {
        a.push(c, at, &mut out);
        at += c.len() as u64;
    }
    for m in out.iter_mut().flatten() {
        m.stream_ranges.clear();
    }
    out
}

fn ok(data: &[u8]) -> Result<RawMessage, Error> {
    Ok(RawMessage {
        compressed: false,
        data: data.to_vec(),
        stream_ranges: Vec::new(),
    })
}

#[test]
fn stream_ranges_follow_the_frames() {
    // "hello" then "abc", cut in three frames 100 and 7 bytes apart in the stream.
    let mut all = grpc_msg(b"hello");
    all.extend(grpc_msg(b"abc"));
    let mut a = Assembler::new(true);
    let mut out = Vec::new();
    a.push(&all[..7], 1000, &mut out);
    a.push(&all[7..12], 1107, &mut out);
    a.push(&all[12..], 1119, &mut out);
    let ranges: Vec<_> = out.into_iter().map(|m| m.unwrap().stream_ranges).collect();
    assert_eq!(
        ranges,
        vec![vec![1005..1007, 1107..1110], vec![1119 + 3..1119 + 6]]
    );
}

#[test]
fn messages_split_and_packed_across_frames() {
    let mut all = grpc_msg(b"hello");
    all.extend(grpc_msg(b""));
    all.extend(grpc_msg(&[7u8; 300]));
    for cut in 0..all.len() {
        let mut a = Assembler::new(true);
        let out = run(&mut a, &[&all[..cut], &all[cut..]]);
        assert_eq!(
            out,
            vec![ok(b"hello"), ok(b""), ok(&[7u8; 300])],
            "cut {cut}"
        );
        assert_eq!(a.truncated(), None);
    }
}

#[test]
fn lost_sync_recovers_on_whole_message_frame() {
    let mut a = Assembler::new(false);
    let msg = grpc_msg(b"abc");
    assert!(run(&mut a, &[&msg[2..]]).is_empty());
    assert!(!a.is_synced());
    assert_eq!(run(&mut a, &[&msg]), vec![ok(b"abc")]);
    assert!(a.is_synced());
}

#[test]
fn bad_flag_and_too_large() {
    let mut a = Assembler::new(true);
    assert_eq!(
        run(&mut a, &[&[2, 0, 0, 0, 0]]),
        vec![Err(Error::BadFlag(2))]
    );
    assert!(!a.is_synced());

    let mut a = Assembler::new(true);
    let len = (MAX_MESSAGE + 1) as u32;
    let mut frame = vec![0];
    frame.extend(len.to_be_bytes());
    let out = run(&mut a, &[&frame, &[0u8; 100]]);
    assert_eq!(out, vec![Err(Error::TooLarge { length: len as u64 })]);
    assert!(a.truncated().is_some());
}

#[test]
fn truncation_is_reported() {
    let mut a = Assembler::new(true);
    let msg = grpc_msg(b"abcdef");
    run(&mut a, &[&msg[..7]]);
    assert_eq!(
        a.truncated(),
        Some(Error::Truncated {
            have: 7,
            want: Some(11)
        })
    );
}

#[test]
fn decompression() {
    let z = gzip(b"payload");
    assert_eq!(decompress(&Encoding::Gzip, &z).unwrap(), b"payload");
    assert_eq!(decompress(&Encoding::Unknown, &z).unwrap(), b"payload");
    assert!(matches!(
        decompress(&Encoding::Gzip, b"junk"),
        Err(Error::Decompress(_))
    ));
    assert_eq!(decompress(&Encoding::Identity, &z), Err(Error::NoEncoding));
    assert_eq!(
        decompress(&Encoding::Unknown, b"xx"),
        Err(Error::EncodingUnknown)
    );
    let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut zl, b"zlib").unwrap();
    let zl = zl.finish().unwrap();
    assert_eq!(decompress(&Encoding::Deflate, &zl).unwrap(), b"zlib");
    assert_eq!(
        Encoding::from_header(Some(b"snappy")),
        Encoding::Other("snappy".into())
    );
}

#[test]
fn decompression_output_is_bounded() {
    let z = gzip(&[0u8; 5000]);
    assert_eq!(
        decompress_limited(&Encoding::Gzip, &z, 4999),
        Err(Error::DecompressedTooLarge)
    );
    assert_eq!(
        decompress_limited(&Encoding::Gzip, &z, 5000).unwrap().len(),
        5000
    );
}
