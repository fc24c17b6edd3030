use super::*;
use crate::flow::{Comm, Process};
use crate::protobuf::Schemas;
use prost::Message;
use prost_reflect::DynamicMessage;

fn frame(kind: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(sid.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A client's writes: one call of `path` (raw HPACK literals) whose
/// request is `msg`, gzip-compressed if `gzip`.
fn call(path: &str, msg: &[u8], gzip: bool) -> Vec<u8> {
    let mut w = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    w.extend(frame(4, 0, 0, &[]));
    let mut block = vec![0x83, 0x86, 0x04, path.len() as u8];
    block.extend(path.as_bytes());
    if gzip {
        block.extend([0x00, 13]);
        block.extend(b"grpc-encoding\x04gzip");
    }
    w.extend(frame(1, 4, 1, &block));
    let body = match gzip {
        true => {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), Default::default());
            std::io::Write::write_all(&mut z, msg).unwrap();
            z.finish().unwrap()
        }
        false => msg.to_vec(),
    };
    let mut data = vec![u8::from(gzip)];
    data.extend((body.len() as u32).to_be_bytes());
    data.extend(body);
    w.extend(frame(0, 1, 1, &data));
    w
}

fn find(writes: &[u8]) -> (Found, Vec<Overwrite>) {
    let schemas = SchemaSet::single(Schemas::embedded());
    let mut f = Finder::new(&schemas);
    let conn = Conn {
        id: 7,
        path: None,
        client: Default::default(),
        server: Default::default(),
        first_ns: 0,
    };
    let writer = Process::thread(1, 1, Comm::from_name("crictl"));
    // Behind the sniffer, as every read of a file is.
    let mut sniffer = crate::decode::sniffer::Sniffer::new();
    let mut s = sniffer.sink(&mut f);
    s.event(&conn, 0, FlowEvent::Open).unwrap();
    let ev = FlowEvent::Data {
        dir: Dir::ToServer,
        writer: &writer,
        offset: 0,
        bytes: writes,
    };
    s.event(&conn, 1, ev).unwrap();
    s.flush().unwrap();
    let (mut secrets, found) = f.finish().unwrap();
    let list = secrets.remove(&(7, Dir::ToServer)).unwrap_or_default();
    (found, list)
}

fn pull_request() -> Vec<u8> {
    let desc = Schemas::embedded()
        .pool()
        .get_message_by_name("runtime.v1.PullImageRequest")
        .unwrap();
    let text = r#"auth { username: "u" password: "hunter2" }"#;
    DynamicMessage::parse_text_format(desc, text)
        .unwrap()
        .encode_to_vec()
}

#[test]
fn plain_compressed_and_unknown_messages() {
    const PULL: &str = "/runtime.v1.ImageService/PullImage";
    let msg = pull_request();
    let plain = call(PULL, &msg, false);
    let (found, list) = find(&plain);
    assert_eq!((found.values, found.messages, found.bytes), (1, 1, 7));
    let r = list[0].range.clone();
    assert_eq!(&plain[r.start as usize..r.end as usize], b"hunter2");

    // Compressed: the whole compressed body goes.
    let zipped = call(PULL, &msg, true);
    let (found, list) = find(&zipped);
    assert_eq!((found.values, found.compressed), (1, 1));
    let r = list[0].range.clone();
    assert_eq!(r.end as usize, zipped.len());
    assert_eq!(&zipped[r.start as usize..][..2], b"\x1f\x8b");

    // A method no schema knows: nothing named, counted as unchecked.
    let (found, list) = find(&call("/x.Y/Z", &msg, false));
    assert_eq!((found.values, found.unchecked), (0, 1));
    assert!(list.is_empty());
}

#[test]
fn message_ranges_map_to_stream_pieces() {
    let pieces = [100..105, 200..203, 300..310];
    assert_eq!(to_stream(&pieces, 0..5), vec![100..105]);
    assert_eq!(to_stream(&pieces, 3..7), vec![103..105, 200..202]);
    assert_eq!(
        to_stream(&pieces, 4..18),
        vec![104..105, 200..203, 300..310]
    );
    assert_eq!(to_stream(&pieces, 8..8), vec![]);
    assert_eq!(to_stream(&pieces, 17..30), vec![309..310]);
}
