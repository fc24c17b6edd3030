//! Header fields as every protocol reports them (HTTP/2's HPACK fields,
//! ttrpc's metadata): a name and a value whose octets may be unknown.

use std::fmt;

/// A header name or value: its octets, or unknown because it came from a
/// table entry inserted before the capture started.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Octets {
    /// The exact octets.
    Known(Vec<u8>),
    /// Not knowable from what was captured.
    Unknown,
}

impl Octets {
    /// The octets, if known.
    pub fn known(&self) -> Option<&[u8]> {
        match self {
            Octets::Known(v) => Some(v),
            Octets::Unknown => None,
        }
    }

    /// Whether these are known and equal to `s`.
    pub fn is(&self, s: &[u8]) -> bool {
        self.known() == Some(s)
    }

    /// Length, or 0 when unknown (a lower bound).
    pub fn len_lower_bound(&self) -> usize {
        self.known().map_or(0, <[u8]>::len)
    }
}

impl fmt::Display for Octets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Octets::Known(v) => f.write_str(&String::from_utf8_lossy(v)),
            Octets::Unknown => f.write_str("<unknown>"),
        }
    }
}

/// One decoded header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField {
    /// Field name.
    pub name: Octets,
    /// Field value.
    pub value: Octets,
}
