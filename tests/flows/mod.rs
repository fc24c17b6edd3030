//! The fixtures' connections as the flow layer delivers them: each
//! direction's bytes in capture order, for tests that re-cut or re-send them.

// Each integration test compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use containerdsnoop::flow::{ConnId, Dir, OwnedEvent, Recorder};
use containerdsnoop::input::{self, ReadOptions};
pub use containerdsnoop::testsupport::Rng;

/// A fixture file.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One flow event with its bytes owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes of one direction.
    Data(Dir, Vec<u8>),
    /// Bytes lost in one direction.
    Gap(Dir, u64),
}

/// Every connection of a capture, in order of first appearance, with its
/// chunks in capture order.
#[derive(Default)]
pub struct Flows {
    pub conns: Vec<(ConnId, Vec<Chunk>)>,
}

impl Flows {
    /// The connections of what the flow layer delivered.
    pub fn of(rec: &Recorder) -> Flows {
        let mut flows = Flows::default();
        for (conn, _, ev) in &rec.events {
            let i = match flows.conns.iter().position(|(id, _)| *id == conn.id) {
                Some(i) => i,
                None => {
                    flows.conns.push((conn.id, Vec::new()));
                    flows.conns.len() - 1
                }
            };
            let chunks = &mut flows.conns[i].1;
            match ev {
                OwnedEvent::Data { dir, bytes, .. } => {
                    chunks.push(Chunk::Data(*dir, bytes.clone()))
                }
                OwnedEvent::Gap { dir, len, .. } => chunks.push(Chunk::Gap(*dir, *len)),
                // Fixtures hold no recovered tables; other events carry no bytes.
                _ => {}
            }
        }
        flows
    }
}

/// The connections of fixture `name` (a `.pcapng` in tests/fixtures).
pub fn of_fixture(name: &str) -> Flows {
    let bytes = std::fs::read(fixture(name)).expect("fixture exists");
    let mut rec = Recorder::default();
    input::read(&bytes[..], &ReadOptions::default(), &mut rec).expect("fixture reads");
    Flows::of(&rec)
}
