//! Function tables built in tests.

use super::{Version, MAGIC_GO116, MAGIC_GO118, MAGIC_GO120};

/// A function table of this layout listing `funcs` (name, entry address,
/// in address order), with empty file and pc-value tables.
pub(crate) fn build(version: Version, text_start: u64, funcs: &[(&str, u64)]) -> Vec<u8> {
    let (magic, words) = match version {
        Version::Go116 => (MAGIC_GO116, 7),
        Version::Go118 => (MAGIC_GO118, 8),
        Version::Go120 => (MAGIC_GO120, 8),
    };
    let old = version == Version::Go116;
    let header_len = 8 + 8 * words;
    let mut names = Vec::new();
    let mut name_offsets = Vec::new();
    for (name, _) in funcs {
        name_offsets.push(names.len() as u32);
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    let names_at = header_len as u64;
    let pcln_at = (names_at + names.len() as u64).next_multiple_of(8);

    // The pairs, then one 16-byte `_func` record a function.
    let pair = if old { 16 } else { 8 };
    let records_at = (funcs.len() + 1) * pair;
    let mut functab = Vec::new();
    let mut records = Vec::new();
    let end = funcs.last().map_or(text_start, |f| f.1 + 0x10);
    let entries = funcs.iter().map(|f| f.1).chain([end]);
    for (i, entry) in entries.enumerate() {
        let record = (records_at + records.len()) as u64;
        if old {
            functab.extend(entry.to_le_bytes());
            functab.extend(record.to_le_bytes());
        } else {
            functab.extend(((entry - text_start) as u32).to_le_bytes());
            functab.extend((record as u32).to_le_bytes());
        }
        let Some(&name) = name_offsets.get(i) else {
            break;
        };
        if old {
            records.extend(entry.to_le_bytes());
        } else {
            records.extend(((entry - text_start) as u32).to_le_bytes());
        }
        records.extend(name.to_le_bytes());
        records.resize(records.len().next_multiple_of(16), 0);
    }

    let mut b = Vec::new();
    b.extend(magic.to_le_bytes());
    b.extend([0, 0, 1, 8]);
    b.extend((funcs.len() as u64).to_le_bytes());
    b.extend(0u64.to_le_bytes());
    if !old {
        b.extend(text_start.to_le_bytes());
    }
    let names_end = names_at + names.len() as u64;
    for offset in [names_at, names_end, names_end, names_end, pcln_at] {
        b.extend(offset.to_le_bytes());
    }
    b.extend(names);
    b.resize(pcln_at as usize, 0);
    b.extend(functab);
    b.extend(records);
    b
}
