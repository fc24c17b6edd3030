//! How many entries each structure kept per connection, socket, process or
//! stream holds, reported to one place: the live commands write them to a
//! file on every tick (`--state-sizes`, hidden), so that a test can check
//! that churn leaves nothing behind once its connections closed.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Entry counts by structure name (`layer.structure`, for example
/// `tracker.conns`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sizes(BTreeMap<&'static str, u64>);

impl Sizes {
    /// Record that `name` holds `n` entries (added to what is there, so
    /// that several instances of one structure sum up).
    pub fn add(&mut self, name: &'static str, n: usize) {
        *self.0.entry(name).or_default() += n as u64;
    }

    /// The count of `name`, if reported.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.0.get(name).copied()
    }

    /// Every count, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().map(|(k, v)| (*k, *v))
    }

    /// One JSON object, keys in order.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).into()))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// Write the JSON object to `path`, replacing the file at once (a
    /// reader never sees half of it).
    pub fn write_to(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.to_json() + "\n")?;
        std::fs::rename(&tmp, path)
    }
}
