//! HPACK header block decoding (RFC 7541) that stays exact when the capture
//! starts in the middle of a connection: names and values the decoder cannot
//! know come out as `Octets::Unknown`, never as a guess (docs/ARCHITECTURE.md, "HPACK when the capture starts mid-connection").

use std::fmt;
use std::ops::Range;

pub mod primitive;
pub mod static_table;
pub mod table;

pub use crate::decode::header::{HeaderField, Octets};
pub use table::{DynamicTable, Entry, Lookup};

/// Initial dynamic table size, the SETTINGS_HEADER_TABLE_SIZE default (RFC 9113 section 6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;
/// Largest header block accepted (after CONTINUATION assembly).
pub const MAX_BLOCK: usize = 1 << 20;
/// Largest decoded header list returned (RFC 7541 section 4.1 sizes); fields
/// past it are still decoded for the table but not returned.
pub const MAX_LIST: usize = 1 << 20;
/// Largest dynamic table kept; a size update above it is clamped, which can
/// only make us forget entries early (reported as a desync if used).
pub const MAX_TABLE: usize = 1 << 20;

/// Why a header block could not be decoded. After any of these the
/// direction's table is reset to "everything unknown".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The block is larger than `MAX_BLOCK`.
    BlockTooLarge {
        /// Block length.
        len: usize,
    },
    /// The block ends inside a representation (RFC 7541 sections 5.1, 5.2).
    Truncated,
    /// An integer exceeds 2^32-1 or uses more than 5 continuation octets
    /// (implementation limit allowed by RFC 7541 section 5.1).
    IntegerOverflow,
    /// Index 0 (RFC 7541 section 6.1: "MUST be treated as a decoding error").
    ZeroIndex,
    /// Invalid Huffman code, padding over 7 bits, or EOS in a string (RFC 7541 section 5.2).
    Huffman,
    /// A dynamic table size update after a field representation (RFC 7541
    /// section 4.2: it "MUST occur at the beginning" of a header block).
    SizeUpdateNotAtStart,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BlockTooLarge { len } => {
                write!(f, "header block of {len} bytes exceeds {MAX_BLOCK}")
            }
            Error::Truncated => f.write_str("header block ends inside a field"),
            Error::IntegerOverflow => f.write_str("HPACK integer too large"),
            Error::ZeroIndex => f.write_str("HPACK index 0"),
            Error::Huffman => f.write_str("invalid Huffman-coded string"),
            Error::SizeUpdateNotAtStart => {
                f.write_str("dynamic table size update after a header field")
            }
        }
    }
}

impl std::error::Error for Error {}

/// A sign that our view of the encoder's table was wrong. The table is then
/// reset to "everything unknown" and decoding goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Desync {
    /// A fully known table was indexed past its end.
    IndexNotInTable {
        /// HPACK index (62 and up are dynamic).
        index: u64,
        /// Dynamic entries we had.
        entries: usize,
    },
    /// An index past what a table of the current maximum size can hold.
    IndexImpossible {
        /// HPACK index.
        index: u64,
        /// Most dynamic entries possible.
        max_entries: usize,
    },
    /// A size update above the decoder's SETTINGS_HEADER_TABLE_SIZE (RFC 7541 section 6.3).
    SizeUpdateAboveLimit {
        /// Size asked for.
        size: u64,
        /// Limit in force.
        limit: usize,
    },
}

impl fmt::Display for Desync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Desync::IndexNotInTable { index, entries } => write!(
                f,
                "HPACK index {index} beyond the {entries} known dynamic entries"
            ),
            Desync::IndexImpossible { index, max_entries } => write!(
                f,
                "HPACK index {index} impossible (at most {max_entries} dynamic entries)"
            ),
            Desync::SizeUpdateAboveLimit { size, limit } => write!(
                f,
                "table size update to {size} above SETTINGS_HEADER_TABLE_SIZE {limit}"
            ),
        }
    }
}

/// A decoded header block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// Fields in order.
    pub fields: Vec<HeaderField>,
    /// Set when the block showed our table view was wrong (the first sign).
    pub desync: Option<Desync>,
    /// Set when fields past `MAX_LIST` were dropped from `fields`.
    pub truncated: bool,
    /// The fields whose value was a string literal, when the decoder
    /// [tracks literals](Decoder::track_literals).
    pub literals: Vec<Literal>,
}

/// A field of a block whose value was sent as a string literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Literal {
    /// Index of the field in [`Block::fields`].
    pub field: usize,
    /// Where the value's octets lie in the block (after its length prefix).
    pub octets: Range<usize>,
    /// The octets are Huffman-coded.
    pub huffman: bool,
}

/// The decoding side of one direction's HPACK context.
#[derive(Clone, Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// The decoder's SETTINGS_HEADER_TABLE_SIZE, if known.
    limit: Option<usize>,
    /// Fill [`Block::literals`].
    track: bool,
}

impl Decoder {
    /// A decoder; `at_start` says the connection is seen from its first
    /// byte, so the table starts empty and complete.
    pub fn new(at_start: bool) -> Self {
        Self::with_max_size(at_start, DEFAULT_TABLE_SIZE)
    }

    /// A decoder whose table maximum starts at `max` rather than 4096.
    pub fn with_max_size(at_start: bool, max: usize) -> Self {
        Decoder {
            table: DynamicTable::new(max.min(MAX_TABLE), !at_start),
            limit: at_start.then_some(max),
            track: false,
        }
    }

    /// From now on, say where literal values lie in each block.
    pub fn track_literals(&mut self) {
        self.track = true;
    }

    /// The dynamic table as we know it.
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Records the SETTINGS_HEADER_TABLE_SIZE of this decoder's side: size
    /// updates above it are reported (RFC 7541 section 6.3).
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = usize::try_from(limit).ok();
    }

    /// Insertions were lost: everything in the table becomes unknown.
    pub fn lose_sync(&mut self) {
        self.table.lose_sync();
    }

    /// The connection is now known to start here (client preface seen) and
    /// nothing was decoded yet: the table is empty and complete.
    pub fn mark_at_start(&mut self) {
        self.table.mark_synced();
        self.limit.get_or_insert(DEFAULT_TABLE_SIZE);
    }

    /// Decodes one complete header block (RFC 7541 section 3), updating the
    /// table. On error the table is reset to unknown, since insertions after
    /// the error point were not applied.
    pub fn decode(&mut self, block: &[u8]) -> Result<Block, Error> {
        let r = self.decode_block(block);
        if r.is_err() {
            self.table.lose_sync();
        }
        r
    }

    fn decode_block(&mut self, block: &[u8]) -> Result<Block, Error> {
        if block.len() > MAX_BLOCK {
            return Err(Error::BlockTooLarge { len: block.len() });
        }
        let mut out = Block::default();
        let mut budget = MAX_LIST;
        let mut pos = 0;
        let mut seen_field = false;
        while let Some(&b) = block.get(pos) {
            let (field, literal) = if b & 0x80 != 0 {
                // Indexed Header Field (section 6.1).
                let index = primitive::integer(block, &mut pos, 7)?;
                (self.indexed(index, &mut out.desync)?, None)
            } else if b & 0x40 != 0 {
                // Literal with Incremental Indexing (section 6.2.1).
                let (field, literal) = self.literal(block, &mut pos, 6, &mut out.desync)?;
                self.table.insert(Entry {
                    name: field.name.clone(),
                    value: field.value.clone(),
                });
                (field, Some(literal))
            } else if b & 0x20 != 0 {
                // Dynamic Table Size Update (section 6.3).
                if seen_field {
                    return Err(Error::SizeUpdateNotAtStart);
                }
                let size = primitive::integer(block, &mut pos, 5)?;
                if let Some(limit) = self.limit.filter(|&l| size > l as u64) {
                    out.desync
                        .get_or_insert(Desync::SizeUpdateAboveLimit { size, limit });
                }
                self.table
                    .set_max(usize::try_from(size).unwrap_or(MAX_TABLE).min(MAX_TABLE));
                continue;
            } else {
                // Literal without Indexing / Never Indexed (sections 6.2.2, 6.2.3).
                let (field, literal) = self.literal(block, &mut pos, 4, &mut out.desync)?;
                (field, Some(literal))
            };
            seen_field = true;
            let size = field.name.len_lower_bound() + field.value.len_lower_bound() + 32;
            match budget.checked_sub(size) {
                Some(rest) if !out.truncated => {
                    budget = rest;
                    if let Some((octets, huffman)) = literal.filter(|_| self.track) {
                        out.literals.push(Literal {
                            field: out.fields.len(),
                            octets,
                            huffman,
                        });
                    }
                    out.fields.push(field);
                }
                _ => out.truncated = true,
            }
        }
        Ok(out)
    }

    /// A field with a literal value; its name is a literal (index 0) or
    /// indexed. Also where the value's octets are, and if Huffman-coded.
    fn literal(
        &mut self,
        block: &[u8],
        pos: &mut usize,
        prefix: u8,
        desync: &mut Option<Desync>,
    ) -> Result<(HeaderField, (Range<usize>, bool)), Error> {
        let index = primitive::integer(block, pos, prefix)?;
        let name = match index {
            0 => Octets::Known(primitive::string(block, pos)?),
            i => self.indexed(i, desync)?.name,
        };
        let (value, octets, huffman) = primitive::string_at(block, pos)?;
        let field = HeaderField {
            name,
            value: Octets::Known(value),
        };
        Ok((field, (octets, huffman)))
    }

    /// Resolves an index in the combined index space (RFC 7541 section 2.3.3).
    fn indexed(&mut self, index: u64, desync: &mut Option<Desync>) -> Result<HeaderField, Error> {
        let unknown = HeaderField {
            name: Octets::Unknown,
            value: Octets::Unknown,
        };
        if index == 0 {
            return Err(Error::ZeroIndex);
        }
        if let Some((n, v)) = usize::try_from(index).ok().and_then(static_table::get) {
            return Ok(HeaderField {
                name: Octets::Known(n.as_bytes().to_vec()),
                value: Octets::Known(v.as_bytes().to_vec()),
            });
        }
        let dynamic = usize::try_from(index - 1).unwrap_or(usize::MAX) - static_table::LEN;
        match self.table.get(dynamic) {
            Lookup::Entry(e) => Ok(HeaderField {
                name: e.name.clone(),
                value: e.value.clone(),
            }),
            Lookup::Unknown => Ok(unknown),
            Lookup::Impossible => {
                let d = match self.table.tail_unknown() {
                    false => Desync::IndexNotInTable {
                        index,
                        entries: self.table.len(),
                    },
                    true => Desync::IndexImpossible {
                        index,
                        max_entries: self.table.capacity_entries(),
                    },
                };
                desync.get_or_insert(d);
                self.table.lose_sync();
                Ok(unknown)
            }
        }
    }
}

#[cfg(test)]
mod tests;
