//! The HPACK dynamic table as seen by a capture that may have started after
//! the connection did (docs/ARCHITECTURE.md, "HPACK when the capture starts mid-connection").
//!
//! Written by hand because no HPACK crate can hold entries it never saw: the
//! table is `recent` (the insertions we observed, newest first, each exact)
//! followed, while `tail_unknown` is set, by entries from before the capture
//! whose number, names and values are unknown. Indexing is by recency (RFC
//! 7541 section 2.3.3), so index 62+j is `recent[j]` whenever j < recent.len(),
//! whatever happened before the capture.
//!
//! Sizes use the RFC 7541 section 4.1 rule (name + value + 32). An entry whose
//! name is unknown counts with a lower bound (value + 32), so this table never
//! evicts more than the real one; keeping an entry the encoder already dropped
//! is harmless because the encoder never refers to it.

use std::collections::VecDeque;

use super::Octets;

/// Per-entry overhead in the size computation (RFC 7541 section 4.1).
pub const ENTRY_OVERHEAD: usize = 32;

/// A dynamic table entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Header name (unknown when inserted as "indexed name" of an unknown entry).
    pub name: Octets,
    /// Header value.
    pub value: Octets,
}

impl Entry {
    /// RFC 7541 section 4.1 size, or a lower bound of it when a part is unknown.
    pub fn size(&self) -> usize {
        self.name.len_lower_bound() + self.value.len_lower_bound() + ENTRY_OVERHEAD
    }
}

/// What a dynamic index (0-based: index 62 is 0) refers to.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// An entry inserted while we watched.
    Entry(&'a Entry),
    /// An entry from before the capture.
    Unknown,
    /// No such entry can exist: our view and the encoder's disagree.
    Impossible,
}

/// The decoder-side dynamic table of one direction.
#[derive(Clone, Debug)]
pub struct DynamicTable {
    recent: VecDeque<Entry>,
    size: usize,
    max: usize,
    tail_unknown: bool,
}

impl DynamicTable {
    /// A table of maximum size `max`; `tail_unknown` says entries from before
    /// the capture may be present.
    pub fn new(max: usize, tail_unknown: bool) -> Self {
        DynamicTable {
            recent: VecDeque::new(),
            size: 0,
            max,
            tail_unknown,
        }
    }

    /// Entries we know, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.recent.iter()
    }

    /// Number of entries we know.
    pub fn len(&self) -> usize {
        self.recent.len()
    }

    /// Whether we know no entry.
    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }

    /// Size of the known entries (a lower bound where a name is unknown).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Current maximum size.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Whether entries from before the capture may still be in the table.
    pub fn tail_unknown(&self) -> bool {
        self.tail_unknown
    }

    /// Whether every entry of the table is known: from here on, any index
    /// past `len()` is an error.
    pub fn is_synced(&self) -> bool {
        !self.tail_unknown
    }

    /// Looks up a 0-based dynamic index.
    pub fn get(&self, index: usize) -> Lookup<'_> {
        if let Some(e) = self.recent.get(index) {
            return Lookup::Entry(e);
        }
        // Every unknown older entry takes at least 32 octets of what is left.
        let room = self.max.saturating_sub(self.size) / ENTRY_OVERHEAD;
        if self.tail_unknown && index - self.recent.len() < room {
            Lookup::Unknown
        } else {
            Lookup::Impossible
        }
    }

    /// Most entries the table could hold at all, known or not.
    pub fn capacity_entries(&self) -> usize {
        match self.tail_unknown {
            true => self.recent.len() + self.max.saturating_sub(self.size) / ENTRY_OVERHEAD,
            false => self.recent.len(),
        }
    }

    /// Adds an entry (RFC 7541 section 4.4): evict from the end until it
    /// fits; an entry larger than the maximum empties the table.
    pub fn insert(&mut self, entry: Entry) {
        let s = entry.size();
        if s > self.max {
            // "an attempt to add an entry larger than the maximum size causes
            // the table to be emptied of all existing entries" (section 4.4).
            self.clear_all();
            return;
        }
        if self.size + s > self.max {
            // Even our known entries do not fit with it, so every older
            // (unknown) entry has been evicted before any of ours.
            self.tail_unknown = false;
            self.evict_to(self.max - s);
        }
        self.size += s;
        self.recent.push_front(entry);
        self.settle();
    }

    /// Applies a dynamic table size update (RFC 7541 sections 4.3 and 6.3):
    /// entries are evicted until the table fits the new maximum.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
        // A limit of 0 evicts everything; known entries above the limit
        // evict every older (unknown) one first.
        if max == 0 || self.size > max {
            self.tail_unknown = false;
            self.evict_to(max);
        }
        self.settle();
    }

    /// Forgets everything: entries from before now are unknown (a gap or a
    /// decoding error lost insertions).
    pub fn lose_sync(&mut self) {
        self.recent.clear();
        self.size = 0;
        self.tail_unknown = true;
    }

    /// Declares the table complete: used when the connection is known to
    /// start here and nothing was decoded yet.
    pub fn mark_synced(&mut self) {
        self.tail_unknown = false;
    }

    fn clear_all(&mut self) {
        self.recent.clear();
        self.size = 0;
        self.tail_unknown = false;
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.recent.pop_back() {
                Some(e) => self.size -= e.size(),
                None => break,
            }
        }
    }

    /// No unknown entry (at least 32 octets) can fit next to the known ones.
    fn settle(&mut self) {
        if self.size + ENTRY_OVERHEAD > self.max {
            self.tail_unknown = false;
        }
    }
}
