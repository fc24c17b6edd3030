//! Per method: calls, errors by status, latency p50/p95/max and bytes.
//!
//! Latencies are kept exactly, every one, while all methods together hold
//! at most [`EXACT_SAMPLES`]; past that a method that gets more moves to a
//! histogram whose buckets are 1/64 of their value wide, and its
//! percentiles are shown as `≈` (within 1.6%, below the true value). The
//! maximum is always exact. Methods past [`MAX_METHODS`] share one row.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::calls::{Call, Outcome};

/// Latencies kept exactly, over all methods.
pub const EXACT_SAMPLES: usize = 4_000_000;
/// Distinct methods with a row of their own.
pub const MAX_METHODS: usize = 2_000;
/// The name of the row of the methods past [`MAX_METHODS`].
pub const OTHER_METHODS: &str = "(other methods)";

/// Sub-buckets per power of two in the histogram.
const SUB: u64 = 64;

/// One method's latencies.
#[derive(Clone, Debug)]
enum Latencies {
    Exact(Vec<u64>),
    /// Counts by bucket ([`bucket`]).
    Histogram(BTreeMap<u32, u64>),
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::Exact(Vec::new())
    }
}

/// The histogram bucket of `v`: values below 2 * [`SUB`] are their own
/// bucket; above, each power of two is cut into [`SUB`] buckets.
fn bucket(v: u64) -> u32 {
    if v < 2 * SUB {
        return v as u32;
    }
    let shift = 63 - v.leading_zeros() - SUB.trailing_zeros();
    let mantissa = v >> shift; // SUB..2*SUB
    (2 * SUB as u32) + (shift - 1) * SUB as u32 + (mantissa - SUB) as u32
}

/// The smallest value in bucket `b`.
fn bucket_floor(b: u32) -> u64 {
    let b = u64::from(b);
    if b < 2 * SUB {
        return b;
    }
    let shift = (b - 2 * SUB) / SUB + 1;
    let mantissa = (b - 2 * SUB) % SUB + SUB;
    mantissa << shift
}

/// A percentile as shown: the value, and whether it is a histogram's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantile {
    /// Nanoseconds.
    pub ns: u64,
    /// From the histogram: the bucket's lower bound, within 1.6%.
    pub approximate: bool,
}

/// What is known of one method.
#[derive(Clone, Debug, Default)]
pub struct MethodStats {
    /// Calls that ended.
    pub calls: u64,
    /// Calls by outcome.
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Request message bytes (decompressed).
    pub request_bytes: u64,
    /// Response message bytes (decompressed).
    pub response_bytes: u64,
    /// Calls with a latency (request seen, not open at the end).
    pub timed: u64,
    /// The longest latency.
    pub max_ns: u64,
    latencies: Latencies,
}

impl MethodStats {
    /// Errors (failure statuses and resets).
    pub fn errors(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(o, _)| o.is_error())
            .map(|(_, n)| n)
            .sum()
    }

    /// The `p`th percentile (nearest rank) of the latencies, if any.
    pub fn percentile(&mut self, p: u64) -> Option<Quantile> {
        if self.timed == 0 {
            return None;
        }
        let rank = (self.timed * p).div_ceil(100).max(1);
        match &mut self.latencies {
            Latencies::Exact(v) => {
                v.sort_unstable();
                let ns = *v.get(rank as usize - 1)?;
                Some(Quantile {
                    ns,
                    approximate: false,
                })
            }
            Latencies::Histogram(h) => {
                let mut seen = 0;
                for (b, n) in h.iter() {
                    seen += n;
                    if seen >= rank {
                        return Some(Quantile {
                            ns: bucket_floor(*b),
                            approximate: true,
                        });
                    }
                }
                None
            }
        }
    }
}

/// Every method's statistics.
#[derive(Default)]
pub struct Methods {
    rows: BTreeMap<Arc<str>, MethodStats>,
    other: MethodStats,
    /// Latencies held exactly, over all methods.
    exact: usize,
    /// Methods that moved to a histogram.
    pub histograms: usize,
}

impl Methods {
    /// The shared name of `method` (one allocation per method with a row).
    pub fn intern(&self, method: &str) -> Arc<str> {
        match self.rows.get_key_value(method) {
            Some((k, _)) => k.clone(),
            None => Arc::from(method),
        }
    }

    fn row(&mut self, method: &Arc<str>) -> &mut MethodStats {
        if !self.rows.contains_key(method) && self.rows.len() < MAX_METHODS {
            self.rows.insert(method.clone(), MethodStats::default());
        }
        match self.rows.get_mut(method) {
            Some(row) => row,
            None => &mut self.other,
        }
    }

    /// A message of `method`, of `bytes` bytes.
    pub fn message(&mut self, method: &Arc<str>, request: bool, bytes: usize) {
        let row = self.row(method);
        let bytes = bytes as u64;
        match request {
            true => row.request_bytes += bytes,
            false => row.response_bytes += bytes,
        }
    }

    /// A call ended.
    pub fn call(&mut self, call: &Call) {
        let exact_room = self.exact < EXACT_SAMPLES;
        let row = self.row(&call.method);
        row.calls += 1;
        *row.outcomes.entry(call.outcome).or_default() += 1;
        let Some(ns) = call.duration_ns().filter(|_| call.outcome != Outcome::Open) else {
            return;
        };
        row.timed += 1;
        row.max_ns = row.max_ns.max(ns);
        let mut moved = false;
        match &mut row.latencies {
            Latencies::Exact(v) if exact_room => {
                v.push(ns);
                self.exact += 1;
            }
            Latencies::Exact(v) => {
                let mut h = BTreeMap::new();
                for x in v.drain(..).chain([ns]) {
                    *h.entry(bucket(x)).or_default() += 1;
                }
                row.latencies = Latencies::Histogram(h);
                moved = true;
            }
            Latencies::Histogram(h) => *h.entry(bucket(ns)).or_default() += 1,
        }
        self.histograms += usize::from(moved);
    }

    /// The rows, by method, the shared row of the methods past
    /// [`MAX_METHODS`] last when it has any call.
    pub fn rows(&mut self) -> impl Iterator<Item = (&str, &mut MethodStats)> {
        let other = (self.other.calls > 0 || self.other.request_bytes > 0)
            .then_some((OTHER_METHODS, &mut self.other));
        self.rows.iter_mut().map(|(k, v)| (&**k, v)).chain(other)
    }

    /// Methods with a row of their own.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no method was seen.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether some methods share the last row.
    pub fn overflowed(&self) -> bool {
        self.other.calls > 0 || self.other.request_bytes > 0 || self.other.response_bytes > 0
    }
}
