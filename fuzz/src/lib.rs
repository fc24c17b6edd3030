//! Input formats shared by the fuzz targets and the seed maker: how a
//! target cuts its fuzzer bytes into calls, and the inverse, so seeds made
//! from the fixtures start the fuzzer on real traffic.
//!
//! Every format is a sequence of records `ctrl:u8 len:u16le bytes[len]`
//! (the length is cut to what is left), read by [`Records`].

use std::sync::Arc;

use containerdsnoop::pipeline::method_filter::MethodFilter;
use containerdsnoop::pipeline::{Item, Output, Pipeline, View};
use containerdsnoop::protobuf::{Forms, Schemas};

/// An [`Output`] that drops every item: the decoding runs, nothing is printed.
pub struct NullOutput;

impl Output for NullOutput {
    fn item(&mut self, item: &Item) -> anyhow::Result<()> {
        std::hint::black_box(item);
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The whole decoding pipeline, every method shown and decoded in both
/// forms, output dropped.
pub fn pipeline() -> Pipeline<NullOutput> {
    let view = View {
        schemas: Arc::new(Schemas::embedded()),
        methods: MethodFilter::default(),
        forms: Forms::BOTH,
        binaries: None,
        from_container: false,
        subjects: Default::default(),
    };
    Pipeline::new(view, NullOutput)
}

/// One record of a fuzz input.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// What to do with the bytes (meaning per target).
    pub ctrl: u8,
    /// The record's 16-bit length field, as given (before cutting).
    pub len: u16,
    /// The bytes.
    pub bytes: &'a [u8],
}

/// Reads `ctrl:u8 len:u16le bytes[len]` records until the input runs out.
pub struct Records<'a>(pub &'a [u8]);

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let (&ctrl, rest) = self.0.split_first()?;
        let (len, rest) = match rest {
            [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
            _ => (0, &[][..]),
        };
        let n = usize::from(len).min(rest.len());
        let (bytes, rest) = rest.split_at(n);
        self.0 = rest;
        Some(Record { ctrl, len, bytes })
    }
}

/// Appends one record to `out` (the seed side of [`Records`]). `bytes` longer
/// than 65535 are cut.
pub fn push_record(out: &mut Vec<u8>, ctrl: u8, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(usize::from(u16::MAX))];
    out.push(ctrl);
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Every method path the embedded schemas define, sorted: the protobuf
/// target picks one by index.
pub fn method_paths() -> Vec<String> {
    let schemas = Schemas::embedded();
    let mut paths: Vec<String> = schemas
        .pool()
        .services()
        .flat_map(|s| {
            let service = s.full_name().to_owned();
            s.methods()
                .map(move |m| format!("/{service}/{}", m.name()))
                .collect::<Vec<_>>()
        })
        .collect();
    paths.sort();
    paths
}

pub mod segments;
