//! Keys with a time to live, ordered by deadline.
//!
//! A `BTreeMap` keyed by (deadline, revision) gives the next deadline in
//! O(log n) and lets an overwritten key's old deadline be removed exactly,
//! so expiry never scans the store: the server sleeps until the first
//! deadline and pops only what is due.

use std::collections::BTreeMap;

use crate::store::heap;

/// Bytes a deadline costs besides its names: its share of the B-tree's
/// nodes (a 48-byte element in nodes about two-thirds full).
const DEADLINE_OVERHEAD: usize = 72;

fn cost(id: &str, key: &str) -> usize {
    heap(id.len()) + heap(key.len()) + DEADLINE_OVERHEAD
}

/// Deadlines of the keys that have one.
#[derive(Default)]
pub struct Expiry {
    queue: BTreeMap<(u64, u64), (Box<str>, Box<str>)>,
    bytes: usize,
}

impl Expiry {
    /// An empty queue.
    pub fn new() -> Self {
        Expiry::default()
    }

    /// Schedules `id`/`key`, written at `rev`, to expire at `at` (ms since the epoch).
    pub fn insert(&mut self, at: u64, rev: u64, id: &str, key: &str) {
        if let Some((i, k)) = self.queue.insert((at, rev), (id.into(), key.into())) {
            self.bytes -= cost(&i, &k);
        }
        self.bytes += cost(id, key);
    }

    /// Cancels the deadline recorded for the entry written at `rev`.
    pub fn remove(&mut self, at: u64, rev: u64) {
        if let Some((id, key)) = self.queue.remove(&(at, rev)) {
            self.bytes -= cost(&id, &key);
        }
    }

    /// Bytes the deadlines cost.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The earliest deadline, if any key has one.
    pub fn next_deadline(&self) -> Option<u64> {
        self.queue.first_key_value().map(|((at, _), _)| *at)
    }

    /// Takes the earliest key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<(Box<str>, Box<str>)> {
        let entry = self.queue.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let (id, key) = entry.remove();
        self.bytes -= cost(&id, &key);
        Some((id, key))
    }

    /// Number of keys with a deadline.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no key has a deadline.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let mut e = Expiry::new();
        e.insert(300, 1, "a", "late");
        e.insert(100, 2, "a", "early");
        e.insert(200, 3, "a", "middle");
        assert_eq!(e.next_deadline(), Some(100));
        assert!(e.pop_due(99).is_none());
        assert_eq!(&*e.pop_due(250).unwrap().1, "early");
        assert_eq!(&*e.pop_due(250).unwrap().1, "middle");
        assert!(e.pop_due(250).is_none());
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn removed_deadlines_never_fire() {
        let mut e = Expiry::new();
        e.insert(100, 1, "a", "k");
        e.remove(100, 1);
        assert!(e.pop_due(u64::MAX).is_none());
        assert!(e.is_empty());
    }
}
