//! Keys with a time to live, ordered by deadline.
//!
//! A `BTreeMap` keyed by (deadline, revision) gives the next deadline in
//! O(log n) and lets an overwritten key's old deadline be removed exactly,
//! so expiry never scans the store: the server sleeps until the first
//! deadline and pops only what is due.

use std::collections::BTreeMap;

/// Deadlines of the keys that have one.
#[derive(Default)]
pub struct Expiry {
    queue: BTreeMap<(u64, u64), (Box<str>, Box<str>)>,
}

impl Expiry {
    /// An empty queue.
    pub fn new() -> Self {
        Expiry::default()
    }

    /// Schedules `id`/`key`, written at `rev`, to expire at `at` (ms since the epoch).
    pub fn insert(&mut self, at: u64, rev: u64, id: &str, key: &str) {
        self.queue.insert((at, rev), (id.into(), key.into()));
    }

    /// Cancels the deadline recorded for the entry written at `rev`.
    pub fn remove(&mut self, at: u64, rev: u64) {
        self.queue.remove(&(at, rev));
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
        Some(entry.remove())
    }

    /// Number of keys with a deadline.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no key has a deadline.
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
