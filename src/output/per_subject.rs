//! What an output works out once per subject (a label, a JSON fragment):
//! a pod's rows name the same subject again and again, and the subjects
//! the pipeline hands out share their parts ([`Subject`]'s `Arc`s) while
//! the map does not change.

use std::collections::HashMap;
use std::sync::Arc;

use crate::subjects::Subject;

/// Subjects kept at most; then they are all forgotten.
pub const MAX_SUBJECTS: usize = 256;

/// A value per subject, keyed by the addresses of the subject's shared
/// parts. Each entry keeps its subject, so an address is not reused by
/// another part while it is a key.
pub struct PerSubject<T> {
    by_parts: HashMap<(usize, usize, usize), (Subject, T)>,
}

impl<T> Default for PerSubject<T> {
    fn default() -> Self {
        PerSubject {
            by_parts: HashMap::new(),
        }
    }
}

impl<T> PerSubject<T> {
    /// The value of `subject`, made by `make` the first time.
    pub fn of(&mut self, subject: &Subject, make: impl FnOnce(&Subject) -> T) -> &T {
        fn addr<P: ?Sized>(p: &Option<Arc<P>>) -> usize {
            p.as_ref()
                .map_or(0, |p| Arc::as_ptr(p) as *const u8 as usize)
        }
        let key = (
            addr(&subject.pod),
            addr(&subject.container),
            addr(&subject.sandbox_id),
        );
        if self.by_parts.len() >= MAX_SUBJECTS && !self.by_parts.contains_key(&key) {
            self.by_parts.clear();
        }
        &self
            .by_parts
            .entry(key)
            .or_insert_with(|| (subject.clone(), make(subject)))
            .1
    }
}

#[cfg(test)]
mod tests;
