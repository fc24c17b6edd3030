//! The Go function table ("pclntab"): every Go function's name and entry
//! address, which the runtime needs for stack traces and so keeps in every
//! Go binary, stripped or not.
//!
//! Layout (64-bit, little-endian; `runtime/symtab.go`, `pcHeader`): a
//! header whose offsets are relative to its own start, then the function
//! name table, compilation units, file table, pc-value tables and, at
//! `pclnOffset`, the function table: `nfunc + 1` pairs (entry, offset of
//! the `_func` record from the function table's start), the last pair
//! holding only the end of the text. A `_func` starts with its entry and
//! `nameOff`, an offset into the name table of a NUL-terminated name.
//!
//! | Go         | magic        | header after `ptrSize`                    | pair          | `_func` name at |
//! |------------|--------------|-------------------------------------------|---------------|-----------------|
//! | 1.16–1.17  | `0xfffffffa` | nfunc, nfiles, 5 offsets                  | u64 pc, u64   | +8              |
//! | 1.18–1.19  | `0xfffffff0` | nfunc, nfiles, textStart, 5 offsets       | u32 (off), u32 | +4             |
//! | 1.20+      | `0xfffffff1` | as 1.18                                   | as 1.18       | +4              |
//!
//! From Go 1.18 an entry is an offset from `textStart`. In a PIE that field
//! is relocated at load time; the file holds the link-time address (the
//! linker writes the relocation's addend in place), which is what file
//! offsets are computed from. Go 1.2–1.15 (`0xfffffffb`) is refused.

use std::fmt;

use crate::elf::{c_string, u32_at, u64_at};

/// Go 1.16 and 1.17.
const MAGIC_GO116: u32 = 0xffff_fffa;
/// Go 1.18 and 1.19.
const MAGIC_GO118: u32 = 0xffff_fff0;
/// Go 1.20 and later.
const MAGIC_GO120: u32 = 0xffff_fff1;
/// Go 1.2 to 1.15: another layout, not read.
const MAGIC_GO12: u32 = 0xffff_fffb;

/// Which layout a table has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Go 1.16 and 1.17: absolute entry addresses.
    Go116,
    /// Go 1.18 and 1.19: entries relative to `textStart`.
    Go118,
    /// Go 1.20 and later: as 1.18, with a new magic.
    Go120,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::Go116 => "Go 1.16-1.17",
            Version::Go118 => "Go 1.18-1.19",
            Version::Go120 => "Go 1.20+",
        })
    }
}

/// Why there is no usable function table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PclntabError {
    /// No table was found (not a Go binary, or the table is where this
    /// reader does not look).
    NotFound,
    /// The bytes do not start with a known magic.
    BadMagic(u32),
    /// A known table from a Go version this reader does not handle.
    Unsupported(u32),
    /// A header field is impossible, or a table lies outside the bytes.
    BadHeader(&'static str),
}

impl fmt::Display for PclntabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PclntabError::NotFound => f.write_str("no Go function table (pclntab) found"),
            PclntabError::BadMagic(m) => write!(f, "not a Go function table (magic {m:#010x})"),
            PclntabError::Unsupported(m) => write!(
                f,
                "unsupported pclntab version (magic {m:#010x}, Go 1.15 or older): only Go 1.16 \
                 and later are read; give a binary with a symbol table"
            ),
            PclntabError::BadHeader(what) => write!(f, "damaged Go function table: {what}"),
        }
    }
}

impl std::error::Error for PclntabError {}

/// A function of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Func<'a> {
    /// The Go symbol name, such as `net/http.(*conn).serve`.
    pub name: &'a [u8],
    /// The entry address (link-time virtual address).
    pub entry: u64,
}

/// A parsed function table over the bytes that hold it.
#[derive(Clone, Debug)]
pub struct Pclntab<'a> {
    version: Version,
    /// Added to every entry offset (0 before Go 1.18, whose entries are
    /// absolute).
    text_start: u64,
    nfunc: usize,
    /// The function name table.
    names: &'a [u8],
    /// From the function table to the end of the bytes: `_func` records
    /// follow the pairs.
    functab: &'a [u8],
}

impl<'a> Pclntab<'a> {
    /// Reads the header at the start of `data` (which may run past the
    /// table's end) and checks that its tables lie inside `data`.
    pub fn parse(data: &'a [u8]) -> Result<Pclntab<'a>, PclntabError> {
        let short = PclntabError::BadHeader("truncated header");
        let magic = u32_at(data, 0).ok_or(short.clone())?;
        let version = match magic {
            MAGIC_GO116 => Version::Go116,
            MAGIC_GO118 => Version::Go118,
            MAGIC_GO120 => Version::Go120,
            MAGIC_GO12 => return Err(PclntabError::Unsupported(magic)),
            _ => return Err(PclntabError::BadMagic(magic)),
        };
        let head = data.get(..8).ok_or(short.clone())?;
        if head[4..6] != [0, 0] || !matches!(head[6], 1 | 2 | 4) {
            return Err(PclntabError::BadHeader("padding or instruction size"));
        }
        if head[7] != 8 {
            return Err(PclntabError::BadHeader("not a 64-bit table"));
        }
        let word = |i: usize| u64_at(data, 8 + 8 * i).ok_or(short.clone());
        let (text_start, first_offset) = match version {
            Version::Go116 => (0, 2),
            Version::Go118 | Version::Go120 => (word(2)?, 3),
        };
        let header_len = 8 * (first_offset + 6) as u64;
        let nfunc = word(0)?;
        // funcname, cu, filetab, pctab, pcln: in this order in the file.
        let mut offsets = [0u64; 5];
        for (i, o) in offsets.iter_mut().enumerate() {
            *o = word(first_offset + i)?;
        }
        if offsets[0] < header_len
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets[4] > data.len() as u64
        {
            return Err(PclntabError::BadHeader(
                "table offsets out of order or range",
            ));
        }
        let names = &data[offsets[0] as usize..offsets[1] as usize];
        let functab = &data[offsets[4] as usize..];
        let pairs = nfunc
            .checked_add(1)
            .and_then(|n| n.checked_mul(pair_size(version) as u64));
        if pairs.is_none_or(|len| len > functab.len() as u64) {
            return Err(PclntabError::BadHeader("function table outside the data"));
        }
        Ok(Pclntab {
            version,
            text_start,
            nfunc: nfunc as usize,
            names,
            functab,
        })
    }

    /// The table's layout.
    pub fn version(&self) -> Version {
        self.version
    }

    /// How many functions the table lists.
    pub fn len(&self) -> usize {
        self.nfunc
    }

    /// Whether the table lists no function.
    pub fn is_empty(&self) -> bool {
        self.nfunc == 0
    }

    /// The functions, in address order. A record that points outside the
    /// table is left out.
    pub fn functions(&self) -> impl Iterator<Item = Func<'a>> + '_ {
        (0..self.nfunc).filter_map(|i| {
            let (entry, name) = self.record(i)?;
            Some(Func {
                name: c_string(self.names, name)?,
                entry,
            })
        })
    }

    /// The entry address of the function with exactly this name, if the
    /// table lists exactly one. Some names are listed twice or more: an
    /// assembly function and its ABIInternal wrapper (or a Go function and
    /// its ABI0 wrapper), which ELF symbol tables tell apart with a `.abi0`
    /// suffix, and generic instantiations named by shape (`F[...]`);
    /// choosing one of them could attach to the wrong code, so such names
    /// are not found.
    pub fn entry(&self, name: &[u8]) -> Option<u64> {
        let mut found = None;
        for i in 0..self.nfunc {
            let Some((entry, at)) = self.record(i) else {
                continue;
            };
            let Some(end) = at.checked_add(name.len()) else {
                continue;
            };
            if self.names.get(at..end) == Some(name) && self.names.get(end) == Some(&0) {
                if found.is_some() {
                    return None;
                }
                found = Some(entry);
            }
        }
        found
    }

    /// Whether the first `_func` record's entry equals the first pair's:
    /// random bytes that happen to parse as a header almost never do.
    fn first_record_agrees(&self) -> bool {
        if self.nfunc == 0 {
            return false;
        }
        let size = match self.version {
            Version::Go116 => 8,
            Version::Go118 | Version::Go120 => 4,
        };
        let entry = |at: usize| self.functab.get(at..at.checked_add(size)?);
        let func = match self.version {
            Version::Go116 => u64_at(self.functab, 8).and_then(|f| usize::try_from(f).ok()),
            Version::Go118 | Version::Go120 => u32_at(self.functab, 4).map(|f| f as usize),
        };
        func.and_then(entry).is_some_and(|e| Some(e) == entry(0))
    }

    /// Function `i`'s entry address and the offset of its name in the
    /// name table.
    fn record(&self, i: usize) -> Option<(u64, usize)> {
        let pair = i.checked_mul(pair_size(self.version))?;
        let (entry, func, name_at) = match self.version {
            Version::Go116 => (
                u64_at(self.functab, pair)?,
                u64_at(self.functab, pair + 8)?,
                8,
            ),
            Version::Go118 | Version::Go120 => (
                self.text_start
                    .checked_add(u64::from(u32_at(self.functab, pair)?))?,
                u64::from(u32_at(self.functab, pair + 4)?),
                4,
            ),
        };
        let func = usize::try_from(func).ok()?;
        let name = u32_at(self.functab, func.checked_add(name_at)?)?;
        // nameOff is an int32: a negative one is damage.
        let name = usize::try_from(i32::from_le_bytes(name.to_le_bytes())).ok()?;
        Some((entry, name))
    }
}

/// Bytes of one (entry, `_func` offset) pair.
fn pair_size(version: Version) -> usize {
    match version {
        Version::Go116 => 16,
        Version::Go118 | Version::Go120 => 8,
    }
}

/// Finds a function table inside `data` (such as `.data.rel.ro`, where an
/// externally linked PIE keeps it, with no section of its own): the first
/// 8-aligned header that parses and whose first function record agrees
/// with the function table. Returns its offset in `data`, or why none was
/// found ([`PclntabError::Unsupported`] if only an old table was seen).
pub fn find(data: &[u8]) -> Result<usize, PclntabError> {
    let mut seen_old = None;
    for (i, word) in data.chunks_exact(8).enumerate() {
        let magic = u32_at(word, 0).unwrap_or_default();
        if !matches!(magic, MAGIC_GO116 | MAGIC_GO118 | MAGIC_GO120 | MAGIC_GO12) {
            continue;
        }
        let at = i * 8;
        match Pclntab::parse(&data[at..]) {
            Ok(table) if table.first_record_agrees() => return Ok(at),
            Err(PclntabError::Unsupported(m)) if word[4..6] == [0, 0] && word[7] == 8 => {
                seen_old = Some(m)
            }
            _ => {}
        }
    }
    Err(seen_old.map_or(PclntabError::NotFound, PclntabError::Unsupported))
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests;
