//! Finding the serialized `FileDescriptorProto`s that a Go program carries.
//!
//! Two forms occur, and [`scan`] looks for both:
//!
//! - **gzip members** ([`Form::Gzip`]): gogo/protobuf and golang/protobuf
//!   before 1.4 compile each `.proto` file into a gzip-compressed descriptor
//!   that `proto.RegisterFile` registers at start-up. Found by the gzip magic
//!   `1f 8b 08`, inflated with a size bound, checked against the member's
//!   CRC-32 and length, then parsed.
//! - **raw descriptors** ([`Form::Raw`]): protobuf-go (`google.golang.org/
//!   protobuf`) keeps each file's `rawDesc` uncompressed. A serialized
//!   descriptor has no length prefix, so candidates are found by their first
//!   field (tag `0x0a`, a length, a name ending in `.proto`) and delimited by
//!   walking the fields that a `FileDescriptorProto` has, in the ascending
//!   order serializers write them, up to the first that cannot belong to it;
//!   that extent, or one without its last few non-definition fields (bytes
//!   after the descriptor that look like its options or syntax), must parse
//!   as a descriptor with a name and some content.
//!
//! The input is untrusted: every loop is bounded by [`ScanLimits`] (bytes
//! inflated, bytes parsed, files kept), nothing here panics, and message
//! nesting is bounded by prost's recursion limit.

use std::collections::HashMap;

use flate2::{Crc, Decompress, FlushDecompress, Status};
use prost::Message;
use prost_reflect::prost_types::FileDescriptorProto;

/// The bounds on one scan. [`ScanLimits::default`] fits any real binary:
/// Debian's dockerd (75 MB, about a hundred descriptors) uses under 1% of
/// each budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanLimits {
    /// Largest inflated gzip member, in bytes; larger ones are skipped.
    pub member_bytes: usize,
    /// Bytes of gzip input read plus bytes inflated, over the whole scan.
    pub gzip_work: usize,
    /// Longest raw descriptor, in bytes.
    pub raw_bytes: usize,
    /// Bytes parsed as raw descriptor candidates, over the whole scan.
    pub raw_work: usize,
    /// Most distinct descriptors kept.
    pub max_files: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            member_bytes: 4 << 20,
            gzip_work: 256 << 20,
            raw_bytes: 4 << 20,
            raw_work: 64 << 20,
            max_files: 10_000,
        }
    }
}

/// How a descriptor was stored in the binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Form {
    /// A gzip member (gogo/protobuf, golang/protobuf before 1.4).
    Gzip,
    /// Uncompressed serialized bytes (protobuf-go's `rawDesc`).
    Raw,
}

impl Form {
    /// A short name for reports: `gzip` or `raw`.
    pub fn name(self) -> &'static str {
        match self {
            Form::Gzip => "gzip",
            Form::Raw => "raw",
        }
    }
}

/// One descriptor found in the binary.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// The descriptor; its name ends in `.proto`.
    pub file: FileDescriptorProto,
    /// How it was stored.
    pub form: Form,
    /// Byte offset of its first copy in the input (the gzip magic, or the
    /// descriptor's first byte).
    pub offset: usize,
    /// Bytes that copy takes in the input (the whole gzip member).
    pub len: usize,
    /// Further byte-identical copies seen, and left out.
    pub copies: usize,
}

/// What a scan saw, for reports and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Places where the gzip magic `1f 8b 08` occurs (looked at until the
    /// gzip budget ran out).
    pub gzip_magics: usize,
    /// Gzip members that held a descriptor, duplicates included.
    pub gzip_descriptors: usize,
    /// Gzip members that began like a descriptor (a name ending in
    /// `.proto`) but were cut short, corrupt, or failed their checksum: a
    /// truncated or damaged binary.
    pub gzip_broken: usize,
    /// Places that start like a raw descriptor (`0a`, length, `*.proto`).
    pub raw_candidates: usize,
    /// Raw descriptors accepted, duplicates included.
    pub raw_descriptors: usize,
    /// Descriptors left out as byte-identical copies of one already found.
    pub duplicates: usize,
    /// The limits that cut the scan short, as sentences; empty normally.
    pub limits_hit: Vec<String>,
}

/// The result of [`scan_detailed`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    /// The distinct descriptors, in the order of their offsets.
    pub found: Vec<Found>,
    /// What the scan saw.
    pub stats: ScanStats,
}

/// The distinct descriptors in `bytes`, in the order of their offsets.
/// Never panics; work and memory are bounded by `limits`.
pub fn scan(bytes: &[u8], limits: &ScanLimits) -> Vec<Found> {
    scan_detailed(bytes, limits).found
}

/// [`scan`], with what the scan saw on the way.
pub fn scan_detailed(bytes: &[u8], limits: &ScanLimits) -> Scan {
    let mut out = Collector {
        found: Vec::new(),
        seen: HashMap::new(),
        stats: ScanStats::default(),
        max_files: limits.max_files,
        full: false,
    };
    scan_gzip(bytes, limits, &mut out);
    scan_raw(bytes, limits, &mut out);
    let mut found = out.found;
    found.sort_by_key(|f| f.offset);
    Scan {
        found,
        stats: out.stats,
    }
}

/// Keeps distinct descriptors.
struct Collector {
    found: Vec<Found>,
    /// Serialized descriptor -> its index in `found`.
    seen: HashMap<Vec<u8>, usize>,
    stats: ScanStats,
    max_files: usize,
    /// `max_files` was reached.
    full: bool,
}

impl Collector {
    /// Adds a descriptor; false when no more may be kept.
    fn add(&mut self, file: FileDescriptorProto, form: Form, offset: usize, len: usize) -> bool {
        let key = file.encode_to_vec();
        if let Some(&i) = self.seen.get(&key) {
            self.found[i].copies += 1;
            self.stats.duplicates += 1;
            return true;
        }
        if self.found.len() >= self.max_files {
            if !self.full {
                self.full = true;
                self.stats.limits_hit.push(format!(
                    "more than {} distinct descriptors: the rest, from offset {offset:#x} on, were not read",
                    self.max_files
                ));
            }
            return false;
        }
        self.seen.insert(key, self.found.len());
        self.found.push(Found {
            file,
            form,
            offset,
            len,
            copies: 0,
        });
        true
    }
}

/// A descriptor worth keeping: a `.proto` name, a known syntax, and
/// something besides the name.
fn acceptable(file: &FileDescriptorProto) -> bool {
    let known_syntax = matches!(
        file.syntax.as_deref(),
        None | Some("proto2" | "proto3" | "editions")
    );
    known_syntax
        && file.name.as_deref().is_some_and(|n| n.ends_with(".proto"))
        && (file.package.is_some()
            || file.syntax.is_some()
            || !file.dependency.is_empty()
            || !file.message_type.is_empty()
            || !file.enum_type.is_empty()
            || !file.service.is_empty()
            || !file.extension.is_empty())
}

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;
/// Longest file name or comment accepted in a gzip header (Go writes none).
const GZIP_STRING_MAX: usize = 1024;

fn scan_gzip(bytes: &[u8], limits: &ScanLimits, out: &mut Collector) {
    let mut work = limits.gzip_work;
    let mut buf = Vec::new();
    // One inflater, reset for each member: its state is tens of kilobytes.
    let mut inflater = Decompress::new(false);
    let mut at = 0;
    while let Some(p) = find(bytes, at, &GZIP_MAGIC) {
        out.stats.gzip_magics += 1;
        at = p + 1;
        let member = &bytes[p..];
        let Some(header) = gzip_header_len(member) else {
            continue;
        };
        // Deflate can use a little more input than it makes output (stored
        // blocks); far more means a degenerate stream.
        let input_max = limits
            .member_bytes
            .saturating_add(limits.member_bytes / 8)
            .saturating_add(1024);
        let deflate = &member[header..member.len().min(header.saturating_add(input_max))];
        let used = match inflate(
            &mut inflater,
            deflate,
            limits.member_bytes,
            &mut work,
            &mut buf,
        ) {
            Inflate::Done(used) => used,
            Inflate::No => {
                out.stats.gzip_broken += usize::from(names_a_proto(&buf));
                continue;
            }
            Inflate::OutOfBudget => {
                out.stats.limits_hit.push(format!(
                    "gzip members past offset {p:#x} were not read: more than {} MiB to inflate",
                    limits.gzip_work >> 20
                ));
                return;
            }
        };
        let trailer_at = header + used;
        let Some(trailer) = member.get(trailer_at..trailer_at + 8) else {
            out.stats.gzip_broken += usize::from(names_a_proto(&buf));
            continue;
        };
        let mut crc = Crc::new();
        crc.update(&buf);
        let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let want_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc.sum() != want_crc || crc.amount() != want_len {
            out.stats.gzip_broken += usize::from(names_a_proto(&buf));
            continue;
        }
        let Ok(file) = FileDescriptorProto::decode(buf.as_slice()) else {
            out.stats.gzip_broken += usize::from(names_a_proto(&buf));
            continue;
        };
        if !acceptable(&file) {
            continue;
        }
        out.stats.gzip_descriptors += 1;
        let len = trailer_at + 8;
        if !out.add(file, Form::Gzip, p, len) {
            return;
        }
        at = p + len;
    }
}

/// The first index at or after `from` where `needle` occurs.
pub(super) fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    loop {
        let rest = hay.get(at..)?;
        let p = at + rest.iter().position(|&b| b == first)?;
        if hay.get(p..p + needle.len()) == Some(needle) {
            return Some(p);
        }
        at = p + 1;
    }
}

/// Length of the gzip header (RFC 1952) at the start of `m`, which starts
/// with the magic, if it is a plausible one.
fn gzip_header_len(m: &[u8]) -> Option<usize> {
    let flags = *m.get(3)?;
    if flags & FRESERVED != 0 || m.len() < 10 {
        return None;
    }
    let mut pos = 10usize;
    if flags & FEXTRA != 0 {
        let xlen = u16::from_le_bytes([*m.get(pos)?, *m.get(pos + 1)?]);
        pos += 2 + usize::from(xlen);
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let text = m.get(pos..)?;
            pos += 1 + text.iter().take(GZIP_STRING_MAX).position(|&b| b == 0)?;
        }
    }
    if flags & FHCRC != 0 {
        pos += 2;
    }
    (pos <= m.len()).then_some(pos)
}

enum Inflate {
    /// A whole deflate stream that used this many input bytes.
    Done(usize),
    /// Not a deflate stream holding a descriptor within the bounds.
    No,
    /// The scan's gzip budget is spent.
    OutOfBudget,
}

/// Whether `inflated` (what a member gave, maybe in part) starts with a
/// descriptor's name field naming a `.proto` file.
fn names_a_proto(inflated: &[u8]) -> bool {
    let [0x0a, len, rest @ ..] = inflated else {
        return false;
    };
    let len = usize::from(*len);
    len < 0x80 && rest.get(..len).is_some_and(|n| n.ends_with(b".proto"))
}

/// Inflates the raw deflate stream at the start of `input` into `out`, at
/// most `max_out` bytes, giving up as soon as the output cannot start a
/// descriptor (its first byte must be the `name` tag `0a`).
fn inflate(
    d: &mut Decompress,
    input: &[u8],
    max_out: usize,
    work: &mut usize,
    out: &mut Vec<u8>,
) -> Inflate {
    d.reset(false);
    out.clear();
    let mut filled = 0usize;
    let mut chunk = 256usize;
    loop {
        if filled == out.len() {
            if filled >= max_out {
                return Inflate::No;
            }
            out.resize(filled + chunk.min(max_out - filled), 0);
            chunk = chunk.saturating_mul(2).min(1 << 20);
        }
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let Some(rest) = usize::try_from(in_before).ok().and_then(|i| input.get(i..)) else {
            return Inflate::No;
        };
        let status = match d.decompress(rest, &mut out[filled..], FlushDecompress::None) {
            Ok(status) => status,
            Err(_) => return Inflate::No,
        };
        let took = d.total_in().saturating_sub(in_before);
        let made = d.total_out().saturating_sub(out_before);
        let step = usize::try_from(took.saturating_add(made)).unwrap_or(usize::MAX);
        let Some(left) = work.checked_sub(step) else {
            *work = 0;
            return Inflate::OutOfBudget;
        };
        *work = left;
        filled += usize::try_from(made).unwrap_or(0);
        if filled > 0 && out[0] != 0x0a {
            return Inflate::No;
        }
        match status {
            Status::StreamEnd => {
                out.truncate(filled);
                return match usize::try_from(d.total_in()) {
                    Ok(used) => Inflate::Done(used),
                    Err(_) => Inflate::No,
                };
            }
            // No progress with room to write: the input ran out (a
            // truncated member) or the stream is stuck.
            _ if step == 0 && filled < out.len() => return Inflate::No,
            _ => {}
        }
    }
}

/// Longest file name accepted for a raw descriptor.
const RAW_NAME_MAX: u64 = 4096;
/// Prefixes of a delimited candidate tried, longest first.
const RAW_TRIES: usize = 4;

fn scan_raw(bytes: &[u8], limits: &ScanLimits, out: &mut Collector) {
    let mut work = limits.raw_work;
    let mut at = 0;
    while let Some(p) = bytes
        .get(at..)
        .and_then(|r| r.iter().position(|&b| b == 0x0a))
    {
        let start = at + p;
        at = start + 1;
        if !starts_like_descriptor(&bytes[start..]) {
            continue;
        }
        out.stats.raw_candidates += 1;
        let candidate = &bytes[start..bytes.len().min(start.saturating_add(limits.raw_bytes))];
        match delimit(candidate, &mut work) {
            Delimit::Found(file, len) => {
                out.stats.raw_descriptors += 1;
                if !out.add(*file, Form::Raw, start, len) {
                    return;
                }
                at = start + len;
            }
            Delimit::No => {}
            Delimit::OutOfBudget => {
                out.stats.limits_hit.push(format!(
                    "raw descriptors past offset {start:#x} were not read: more than {} MiB to parse",
                    limits.raw_work >> 20
                ));
                return;
            }
        }
    }
}

/// Whether `b` (which starts with `0a`) continues with a length and a file
/// name of printable ASCII ending in `.proto`.
fn starts_like_descriptor(b: &[u8]) -> bool {
    let Some((len, n)) = varint(b.get(1..).unwrap_or_default()) else {
        return false;
    };
    if len == 0 || len > RAW_NAME_MAX {
        return false;
    }
    let start = 1 + n;
    let Some(name) = b.get(start..start + len as usize) else {
        return false;
    };
    name.ends_with(b".proto") && name.iter().all(|c| c.is_ascii_graphic())
}

enum Delimit {
    Found(Box<FileDescriptorProto>, usize),
    No,
    OutOfBudget,
}

/// The descriptor at the start of `b`, and its length: the fields that
/// [`field_ends`] walks, or fewer when the last ones were bytes after the
/// descriptor that happened to look like its trailing fields. Only fields
/// from `options` (8) on are given up that way, never definitions: a
/// descriptor whose messages do not parse is no descriptor.
fn delimit(b: &[u8], work: &mut usize) -> Delimit {
    const OPTIONS: u64 = 8;
    let ends = field_ends(b);
    let mut count = ends.len();
    for _ in 0..RAW_TRIES {
        let Some(&(end, field)) = count.checked_sub(1).and_then(|i| ends.get(i)) else {
            break;
        };
        let Some(left) = work.checked_sub(end) else {
            *work = 0;
            return Delimit::OutOfBudget;
        };
        *work = left;
        if let Ok(file) = FileDescriptorProto::decode(&b[..end]) {
            if acceptable(&file) {
                return Delimit::Found(Box::new(file), end);
            }
        }
        if field < OPTIONS {
            break;
        }
        count -= 1;
    }
    Delimit::No
}

/// Where each top-level field of a descriptor at the start of `b` ends, up
/// to the first field that cannot continue it: an unknown field number, a
/// wire type the field does not use, a number lower than the one before, a
/// second occurrence of a field that does not repeat, or a length past the
/// end. Each end comes with the
/// number of the field that ends there.
fn field_ends(b: &[u8]) -> Vec<(usize, u64)> {
    const VARINT: u64 = 0;
    const LEN: u64 = 2;
    let mut ends = Vec::new();
    let mut pos = 0usize;
    let mut last = 0u64;
    while let Some((tag, n)) = b.get(pos..).and_then(varint) {
        let (field, wire) = (tag >> 3, tag & 7);
        let fits = match field {
            1..=9 | 12 => wire == LEN,
            // public_dependency, weak_dependency: int32, packed or not.
            10 | 11 => wire == VARINT || wire == LEN,
            // edition (an enum).
            14 => wire == VARINT,
            _ => false,
        };
        // Serializers write fields in ascending order; only repeated ones
        // (dependency, the definitions, public and weak dependency) repeat.
        let repeats = matches!(field, 3..=7 | 10 | 11);
        if !fits || field < last || (field == last && !repeats) {
            break;
        }
        let body = pos + n;
        let next = if wire == VARINT {
            b.get(body..).and_then(varint).map(|(_, m)| body + m)
        } else {
            b.get(body..)
                .and_then(varint)
                .and_then(|(len, m)| (body + m).checked_add(usize::try_from(len).ok()?))
        };
        match next {
            Some(end) if end <= b.len() => {
                ends.push((end, field));
                pos = end;
                last = field;
            }
            _ => break,
        }
    }
    ends
}

/// A base-128 varint at the start of `b`, and its length in bytes.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in b.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}
