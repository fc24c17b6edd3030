use super::*;

#[test]
fn headers() {
    let h = |b: [u8; 10]| Head::parse_prefix(&b);
    assert_eq!(
        h([0, 0, 0, 5, 0, 0, 0, 3, 1, 0]),
        Some(Ok(Head {
            length: 5,
            stream_id: 3,
            kind: Kind::Request,
            flags: 0
        }))
    );
    assert_eq!(Head::parse_prefix(&[0; 9]), None);
    assert_eq!(
        h([0, 0x40, 0, 1, 0, 0, 0, 1, 2, 0]),
        Some(Err(Error::TooLong { length: 0x40_0001 }))
    );
    assert_eq!(
        h([0, 0, 0, 0, 0, 0, 0, 1, 4, 0]),
        Some(Err(Error::UnknownType { kind: 4 }))
    );
    assert_eq!(
        h([0, 0, 0, 0, 0, 0, 0, 1, 3, 8]),
        Some(Err(Error::UnknownFlags { flags: 8 }))
    );
    assert_eq!(
        h([0, 0, 0, 0, 0, 0, 0, 2, 3, 0]),
        Some(Err(Error::EvenStream { stream_id: 2 }))
    );
    let data = h([0, 0, 0, 0, 0, 0, 0, 1, 3, 5]).unwrap().unwrap();
    assert!(data.strict_flags() && data.has(NO_DATA) && data.frame_len() == 10);
    let resp = h([0, 0, 0, 0, 0, 0, 0, 1, 2, 1]).unwrap().unwrap();
    assert!(!resp.strict_flags());
}
