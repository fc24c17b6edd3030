//! ttrpc as containerd and its shims write it: protobuf envelopes encoded
//! by hand (the field numbers of `decode::ttrpc::message`), frames, and the
//! writes of whole calls, one frame per write as Go's ttrpc flushes them.

use crate::flow::Dir;

/// A base-128 varint.
pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field.
pub fn len_field(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    varint(out, u64::from(number) << 3 | 2);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// A varint field.
pub fn varint_field(out: &mut Vec<u8>, number: u32, value: u64) {
    varint(out, u64::from(number) << 3);
    varint(out, value);
}

/// A `ttrpc.Request` envelope (zero timeout and empty payload omitted, as proto3 does).
pub fn request_env(
    service: &str,
    method: &str,
    payload: &[u8],
    timeout_nano: i64,
    metadata: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = Vec::new();
    len_field(&mut out, 1, service.as_bytes());
    len_field(&mut out, 2, method.as_bytes());
    if !payload.is_empty() {
        len_field(&mut out, 3, payload);
    }
    if timeout_nano != 0 {
        varint_field(&mut out, 4, timeout_nano as u64);
    }
    for (k, v) in metadata {
        let mut kv = Vec::new();
        len_field(&mut kv, 1, k.as_bytes());
        len_field(&mut kv, 2, v.as_bytes());
        len_field(&mut out, 5, &kv);
    }
    out
}

/// A `ttrpc.Response` envelope; OK responses carry no `google.rpc.Status`,
/// as containerd 1.6's shims send them (newer ttrpc sends an empty one).
pub fn response_env(code: u32, message: &str, payload: &[u8]) -> Vec<u8> {
    let mut status = Vec::new();
    if code != 0 {
        varint_field(&mut status, 1, u64::from(code));
    }
    if !message.is_empty() {
        len_field(&mut status, 2, message.as_bytes());
    }
    let mut out = Vec::new();
    if !status.is_empty() {
        len_field(&mut out, 1, &status);
    }
    if !payload.is_empty() {
        len_field(&mut out, 2, payload);
    }
    out
}

/// One frame: header (`kind` 1 request, 2 response, 3 data) and data.
pub fn frame(sid: u32, kind: u8, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + data.len());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&sid.to_be_bytes());
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(data);
    out
}

/// The writes of a conversation, in order.
#[derive(Clone, Debug, Default)]
pub struct Conversation {
    /// (direction, bytes of one write).
    pub writes: Vec<(Dir, Vec<u8>)>,
}

impl Conversation {
    /// A unary call on stream `sid` in namespace `ns`, answered OK.
    pub fn unary(&mut self, sid: u32, service: &str, method: &str, req: &[u8], resp: &[u8]) {
        let md = [("containerd-namespace-ttrpc", "default")];
        let env = request_env(service, method, req, 0, &md);
        self.writes.push((Dir::ToServer, frame(sid, 1, 0, &env)));
        let env = response_env(0, "", resp);
        self.writes.push((Dir::ToClient, frame(sid, 2, 0, &env)));
    }

    /// A unary call on stream `sid` that fails with `code`.
    pub fn failing(&mut self, sid: u32, service: &str, method: &str, code: u32, msg: &str) {
        let env = request_env(service, method, b"\x0a\x03abc", 10_000_000_000, &[]);
        self.writes.push((Dir::ToServer, frame(sid, 1, 0, &env)));
        let env = response_env(code, msg, b"");
        self.writes.push((Dir::ToClient, frame(sid, 2, 0, &env)));
    }

    /// All writes of one direction, concatenated.
    pub fn stream(&self, dir: Dir) -> Vec<u8> {
        self.writes
            .iter()
            .filter(|(d, _)| *d == dir)
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }
}

/// A shim conversation: Task calls (Create, Start, Wait answered late,
/// Kill failing, Delete) and one event forwarded, on odd streams from 1.
pub fn shim_conversation() -> Conversation {
    const TASK: &str = "containerd.task.v2.Task";
    let mut c = Conversation::default();
    c.unary(1, TASK, "Connect", b"\x0a\x02c1", b"\x08\x2a\x10\x2b");
    c.unary(
        3,
        TASK,
        "Create",
        b"\x0a\x02c1\x12\x0b/run/bundle",
        b"\x08\x2c",
    );
    c.unary(5, TASK, "Start", b"\x0a\x02c1", b"\x08\x2c");
    c.failing(7, TASK, "Kill", 5, "process not found");
    c.unary(9, TASK, "Delete", b"\x0a\x02c1", b"\x08\x2c\x10\x01");
    c
}
