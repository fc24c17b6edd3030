//! Parsing of every frame type and of its errors.

use super::*;
use crate::testsupport::h2::frame as build;

/// Parses a frame built from its parts.
fn parse(kind: Kind, fl: u8, sid: u32, payload: &[u8]) -> Result<Frame<'static>, Error> {
    let bytes: &'static [u8] = Box::leak(build(kind, fl, sid, payload).into_boxed_slice());
    let head = Head::parse_prefix(bytes).unwrap();
    load(&head, &bytes[HEAD_LEN..])
}

#[test]
fn header_fields() {
    let h = Head::parse(&[0x01, 0x02, 0x03, 0x01, 0x25, 0x80, 0, 0, 7]);
    assert_eq!(h.length, 0x010203);
    assert_eq!(h.kind, Kind::Headers);
    assert_eq!(h.flags, 0x25);
    assert_eq!(h.stream_id, 7);
    assert!(h.reserved);
    assert!(h.has(flags::END_STREAM) && h.has(flags::PRIORITY) && !h.has(flags::PADDED));
    assert_eq!(Head::parse_prefix(&[0; 8]), None);
    for b in 0..=255u8 {
        assert_eq!(Kind::from_byte(b).to_byte(), b);
    }
}

#[test]
fn data_with_and_without_padding() {
    assert_eq!(
        parse(Kind::Data, flags::END_STREAM, 1, b"abc"),
        Ok(Frame::Data {
            stream_id: 1,
            end_stream: true,
            data: b"abc"
        })
    );
    assert_eq!(
        parse(Kind::Data, flags::PADDED, 3, b"\x02abc\0\0"),
        Ok(Frame::Data {
            stream_id: 3,
            end_stream: false,
            data: b"abc"
        })
    );
    // Pad Length equal to the rest is allowed (all padding) ...
    assert!(matches!(
        parse(Kind::Data, flags::PADDED, 3, b"\x02\0\0"),
        Ok(Frame::Data { data: b"", .. })
    ));
    // ... larger is not, nor an empty padded payload.
    assert_eq!(
        parse(Kind::Data, flags::PADDED, 3, b"\x03\0\0"),
        Err(Error::PaddingTooLong(Kind::Data))
    );
    assert_eq!(
        parse(Kind::Data, flags::PADDED, 3, b""),
        Err(Error::BadLength(Kind::Data, 0))
    );
    assert_eq!(
        parse(Kind::Data, 0, 0, b"x"),
        Err(Error::StreamIdZero(Kind::Data))
    );
}

#[test]
fn headers_with_padding_and_priority() {
    let fl = flags::PADDED | flags::PRIORITY | flags::END_HEADERS;
    let payload = b"\x01\x80\0\0\x05\x0fblock\0";
    assert_eq!(
        parse(Kind::Headers, fl, 7, payload),
        Ok(Frame::Headers {
            stream_id: 7,
            end_stream: false,
            end_headers: true,
            priority: Some(PrioritySpec {
                exclusive: true,
                dependency: 5,
                weight: 15
            }),
            fragment: b"block"
        })
    );
    assert_eq!(
        parse(Kind::Headers, flags::PRIORITY, 7, b"\0\0\0"),
        Err(Error::BadLength(Kind::Headers, 3))
    );
    assert_eq!(
        parse(Kind::Headers, 0, 0, b""),
        Err(Error::StreamIdZero(Kind::Headers))
    );
}

#[test]
fn priority_rst_window_update() {
    assert_eq!(
        parse(Kind::Priority, 0, 3, b"\0\0\0\x01\x10"),
        Ok(Frame::Priority {
            stream_id: 3,
            spec: PrioritySpec {
                exclusive: false,
                dependency: 1,
                weight: 16
            }
        })
    );
    assert_eq!(
        parse(Kind::Priority, 0, 3, b"\0\0\0\x01"),
        Err(Error::BadLength(Kind::Priority, 4))
    );
    assert_eq!(
        parse(Kind::RstStream, 0, 5, &8u32.to_be_bytes()),
        Ok(Frame::RstStream {
            stream_id: 5,
            error_code: 8
        })
    );
    assert_eq!(
        parse(Kind::RstStream, 0, 0, &8u32.to_be_bytes()),
        Err(Error::StreamIdZero(Kind::RstStream))
    );
    assert_eq!(
        parse(Kind::RstStream, 0, 5, b"\0"),
        Err(Error::BadLength(Kind::RstStream, 1))
    );
    assert_eq!(
        parse(Kind::WindowUpdate, 0, 0, &0x8000_0100u32.to_be_bytes()),
        Ok(Frame::WindowUpdate {
            stream_id: 0,
            increment: 256
        })
    );
    assert_eq!(
        parse(Kind::WindowUpdate, 0, 1, &0u32.to_be_bytes()),
        Err(Error::ZeroWindowIncrement)
    );
}

#[test]
fn settings_values_and_ack() {
    let mut p = Vec::new();
    for (id, v) in [(1u16, 4096u32), (5, 32768), (1, 0), (0x99, 7)] {
        p.extend(id.to_be_bytes());
        p.extend(v.to_be_bytes());
    }
    let Ok(Frame::Settings(s)) = parse(Kind::Settings, 0, 0, &p) else {
        panic!("settings");
    };
    assert!(!s.ack);
    assert_eq!(s.iter().count(), 4);
    assert_eq!(
        s.get(setting::HEADER_TABLE_SIZE),
        Some(0),
        "last value wins"
    );
    assert_eq!(s.get(setting::MAX_FRAME_SIZE), Some(32768));
    assert_eq!(s.get(setting::MAX_HEADER_LIST_SIZE), None);

    assert!(matches!(
        parse(Kind::Settings, flags::ACK, 0, b""),
        Ok(Frame::Settings(Settings { ack: true, .. }))
    ));
    assert_eq!(
        parse(Kind::Settings, flags::ACK, 0, &p[..6]),
        Err(Error::BadLength(Kind::Settings, 6))
    );
    assert_eq!(
        parse(Kind::Settings, 0, 0, &p[..5]),
        Err(Error::BadLength(Kind::Settings, 5))
    );
    assert_eq!(
        parse(Kind::Settings, 0, 1, b""),
        Err(Error::StreamIdNonZero(Kind::Settings))
    );
    for (id, v) in [(2u16, 2u32), (4, 0x8000_0000), (5, 16383), (5, 1 << 24)] {
        let mut p = id.to_be_bytes().to_vec();
        p.extend(v.to_be_bytes());
        assert_eq!(
            parse(Kind::Settings, 0, 0, &p),
            Err(Error::BadSetting { id, value: v })
        );
    }
}

#[test]
fn push_promise_ping_goaway_continuation_unknown() {
    assert_eq!(
        parse(
            Kind::PushPromise,
            flags::END_HEADERS | flags::PADDED,
            1,
            b"\x01\x80\0\0\x02hb\0"
        ),
        Ok(Frame::PushPromise {
            stream_id: 1,
            promised_id: 2,
            end_headers: true,
            fragment: b"hb"
        })
    );
    assert_eq!(
        parse(Kind::PushPromise, 0, 1, b"\0\0"),
        Err(Error::BadLength(Kind::PushPromise, 2))
    );
    assert_eq!(
        parse(Kind::Ping, flags::ACK, 0, b"12345678"),
        Ok(Frame::Ping {
            ack: true,
            data: *b"12345678"
        })
    );
    assert_eq!(
        parse(Kind::Ping, 0, 0, b"1234567"),
        Err(Error::BadLength(Kind::Ping, 7))
    );
    assert_eq!(
        parse(Kind::Ping, 0, 3, b"12345678"),
        Err(Error::StreamIdNonZero(Kind::Ping))
    );
    assert_eq!(
        parse(Kind::Goaway, 0, 0, b"\0\0\0\x09\0\0\0\x0bcalm"),
        Ok(Frame::Goaway {
            last_stream_id: 9,
            error_code: 11,
            debug: b"calm"
        })
    );
    assert_eq!(
        parse(Kind::Goaway, 0, 0, b"\0\0\0\x09"),
        Err(Error::BadLength(Kind::Goaway, 4))
    );
    assert_eq!(
        parse(Kind::Continuation, flags::END_HEADERS, 9, b"rest"),
        Ok(Frame::Continuation {
            stream_id: 9,
            end_headers: true,
            fragment: b"rest"
        })
    );
    assert_eq!(
        parse(Kind::Continuation, 0, 0, b""),
        Err(Error::StreamIdZero(Kind::Continuation))
    );
    let Ok(Frame::Unknown { head, payload }) = parse(Kind::Unknown(0x42), 0xff, 3, b"x") else {
        panic!("unknown");
    };
    assert_eq!(
        (head.kind, head.flags, payload),
        (Kind::Unknown(0x42), 0xff, &b"x"[..])
    );
}

#[test]
fn payload_length_must_match_header() {
    let head = Head::parse(&[0, 0, 4, 0, 0, 0, 0, 0, 1]);
    assert_eq!(
        load(&head, b"abc"),
        Err(Error::LengthMismatch {
            expected: 4,
            got: 3
        })
    );
}

#[test]
fn error_code_names() {
    assert_eq!(error_code_name(0), Some("NO_ERROR"));
    assert_eq!(error_code_name(8), Some("CANCEL"));
    assert_eq!(error_code_name(0xd), Some("HTTP_1_1_REQUIRED"));
    assert_eq!(error_code_name(0xe), None);
}
