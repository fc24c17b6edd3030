//! The per-connection ttrpc decoder: both directions' framers and the calls,
//! with the interface of the HTTP/2 [`crate::decode::ConnDecoder`], so the
//! pipeline, the outputs and `redact` take its events unchanged.

use super::call::{Calls, Data};
use super::frame::{Kind, REMOTE_CLOSED};
use super::framer::{Body, Framer, GapOutcome, Step};
use crate::decode::{Dir, Event, Stamp};

/// Decodes one ttrpc connection from the ordered bytes of its two
/// directions, with gaps of known size.
#[derive(Debug, Default)]
pub struct TtrpcDecoder {
    framers: [Framer; 2],
    calls: Calls,
    /// The last write seen per direction, for events with no write of their own.
    last_stamp: [Stamp; 2],
}

impl TtrpcDecoder {
    /// A decoder for a connection seen from its start or from its middle:
    /// either way the first frame boundary is searched for.
    pub fn new() -> Self {
        TtrpcDecoder::default()
    }

    /// The next bytes of direction `dir`, written as described by `stamp`.
    pub fn feed(&mut self, dir: Dir, bytes: &[u8], stamp: &Stamp, out: &mut Vec<Event>) {
        self.last_stamp[dir.index()] = *stamp;
        self.framers[dir.index()].push(bytes);
        self.drain(dir, stamp, out);
    }

    /// `n` bytes of direction `dir` were lost right after what was fed.
    pub fn gap(&mut self, dir: Dir, n: u64, out: &mut Vec<Event>) {
        out.push(Event::Gap { dir, bytes: n });
        if dir == Dir::ToServer {
            self.calls.client_lost(out);
        }
        let GapOutcome { damaged, .. } = self.framers[dir.index()].gap(n);
        let stamp = self.last_stamp[dir.index()];
        match damaged {
            // The response ended its call; what it said is lost.
            Some(h) if h.kind == Kind::Response => {
                self.calls.lost_response(h.stream_id, &stamp, out)
            }
            Some(h) if h.kind == Kind::Data && dir == Dir::ToClient && h.has(REMOTE_CLOSED) => {
                self.calls.lost_response(h.stream_id, &stamp, out)
            }
            _ => {}
        }
    }

    /// The connection closed at `ts_ns`: frames still recognisable in bytes
    /// held while searching are decoded, then open calls end unfinished.
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<Event>) {
        for dir in Dir::BOTH {
            if let Some(step) = self.framers[dir.index()].finish() {
                let stamp = self.last_stamp[dir.index()];
                self.handle(dir, step, &stamp, out);
                self.drain(dir, &stamp, out);
            }
        }
        self.calls.close_all(ts_ns, out);
    }

    fn drain(&mut self, dir: Dir, stamp: &Stamp, out: &mut Vec<Event>) {
        while let Some(step) = self.framers[dir.index()].advance() {
            self.handle(dir, step, stamp, out);
        }
    }

    fn handle(&mut self, dir: Dir, step: Step, stamp: &Stamp, out: &mut Vec<Event>) {
        let (head, range, body) = match step {
            Step::Resynced { skipped } => return out.push(Event::Resync { dir, skipped }),
            Step::Invalid(e) => {
                return out.push(Event::Error {
                    dir,
                    error: e.into(),
                })
            }
            Step::Frame(head, range, body) => (head, range, body),
        };
        let framer = &self.framers[dir.index()];
        let data = Data {
            at: framer.stream_offset(range.start),
            bytes: framer.bytes(range),
        };
        // Requests go to the server, responses to the client (PROTOCOL.md:
        // "clients sending requests and servers sending responses").
        match (body, dir) {
            (Body::Request(env), Dir::ToServer) => {
                self.calls.on_request(&head, env, &data, stamp, out)
            }
            (Body::Response(env), Dir::ToClient) => {
                self.calls.on_response(&head, env, &data, stamp, out)
            }
            (Body::Data, _) => self.calls.on_data(dir, &head, &data, stamp, out),
            _ => out.push(Event::Error {
                dir,
                error: super::Error::WrongDirection {
                    stream_id: head.stream_id,
                }
                .into(),
            }),
        }
    }
}
