//! The recent changes, kept so that a client that reconnects with `since`
//! can be sent exactly what it missed.
//!
//! Each change keeps its notification already framed (the very bytes its
//! subscribers were sent), so a replay costs a lookup and a queue push per
//! change, with nothing re-encoded. The history is bounded both by count
//! and by bytes; `floor` is the revision it reaches back to: every change
//! after `floor` is still here.

use std::collections::VecDeque;

use bytes::Bytes;

/// Bytes charged per change on top of its names and frame.
const CHANGE_OVERHEAD: usize = 64;

/// One change as it was published.
#[derive(Clone, Debug)]
pub struct Change {
    /// The revision the change produced.
    pub rev: u64,
    /// Namespace of the changed key.
    pub id: Box<str>,
    /// The changed key.
    pub key: Box<str>,
    /// The notification, framed, as subscribers received it.
    pub frame: Bytes,
}

impl Change {
    fn cost(&self) -> usize {
        self.id.len() + self.key.len() + self.frame.len() + CHANGE_OVERHEAD
    }
}

/// A bounded, revision-ordered log of recent changes.
pub struct History {
    changes: VecDeque<Change>,
    bytes: usize,
    max_len: usize,
    max_bytes: usize,
    floor: u64,
}

impl History {
    /// An empty history whose changes start after revision `floor`.
    pub fn new(floor: u64, max_len: usize, max_bytes: usize) -> Self {
        History {
            changes: VecDeque::new(),
            bytes: 0,
            max_len,
            max_bytes,
            floor,
        }
    }

    /// Records a change (revisions must increase), dropping the oldest ones
    /// past either bound.
    pub fn push(&mut self, change: Change) {
        debug_assert!(self.changes.back().is_none_or(|c| c.rev < change.rev));
        self.bytes += change.cost();
        self.changes.push_back(change);
        while self.changes.len() > self.max_len || self.bytes > self.max_bytes {
            let Some(old) = self.changes.pop_front() else {
                break;
            };
            self.bytes -= old.cost();
            self.floor = old.rev;
        }
    }

    /// Whether every change after `since` is still here.
    pub fn covers(&self, since: u64) -> bool {
        since >= self.floor
    }

    /// The changes after `since`, oldest first.
    pub fn after(&self, since: u64) -> impl Iterator<Item = &Change> {
        let start = self.changes.partition_point(|c| c.rev <= since);
        self.changes.range(start..)
    }

    /// The revision the history reaches back to.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Number of changes held.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether no change is held.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(rev: u64) -> Change {
        Change {
            rev,
            id: "a".into(),
            key: "k".into(),
            frame: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn keeps_the_newest_changes_within_count() {
        let mut h = History::new(10, 3, usize::MAX);
        for rev in 11..=15 {
            h.push(change(rev));
        }
        assert_eq!(h.len(), 3);
        assert_eq!(h.floor(), 12);
        assert!(h.covers(12) && !h.covers(11));
        let revs: Vec<u64> = h.after(13).map(|c| c.rev).collect();
        assert_eq!(revs, [14, 15]);
    }

    #[test]
    fn bytes_bound_drops_old_changes() {
        let one = change(1).cost();
        let mut h = History::new(0, 100, one * 2);
        for rev in 1..=5 {
            h.push(change(rev));
        }
        assert_eq!(h.len(), 2);
        assert_eq!(h.floor(), 3);
    }

    #[test]
    fn disabled_history_covers_only_the_present() {
        let mut h = History::new(0, 0, usize::MAX);
        h.push(change(1));
        h.push(change(2));
        assert!(h.is_empty());
        assert!(h.covers(2) && !h.covers(1));
    }
}
