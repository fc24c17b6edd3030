//! Flow events for tests of the stages and sinks: a connection with made-up
//! sides, played from its writes as a flow source would deliver them.

use crate::flow::{Comm, Conn, ConnId, Dir, FlowEvent, Process, Side, Sink};

/// Connection `id` on `/run/x.sock`, its sides unknown.
pub fn conn(id: ConnId) -> Conn {
    Conn {
        id,
        path: Some("/run/x.sock".into()),
        client: Side::default(),
        server: Side::default(),
        first_ns: 1,
    }
}

/// `Open`, then each write of `writes` at its direction's next offset (at
/// times 10, 11, ...), by a writer named `w`; no `Close`.
///
/// # Panics
///
/// When the sink refuses an event (test input only).
pub fn play(sink: &mut dyn Sink, conn: &Conn, writes: &[(Dir, Vec<u8>)]) {
    let writer = Process::thread(1, 1, Comm::from_name("w"));
    sink.event(conn, 1, FlowEvent::Open)
        .expect("sink takes Open");
    let mut offset = [0u64; 2];
    for (i, (dir, bytes)) in writes.iter().enumerate() {
        let ev = FlowEvent::Data {
            dir: *dir,
            writer: &writer,
            offset: offset[dir.index()],
            bytes,
        };
        offset[dir.index()] += bytes.len() as u64;
        sink.event(conn, 10 + i as u64, ev)
            .expect("sink takes Data");
    }
}
