//! The recent changes, kept so that a client that reconnects with `since`
//! can be sent exactly what it missed.
//!
//! Each change keeps its notification already framed (the very bytes its
//! subscribers were sent), so a replay re-encodes nothing. The history is
//! bounded both by count and by bytes; `floor` is the revision it reaches
//! back to: every change after `floor` is still here.
//!
//! Changes are stored back to back in 64 KiB blocks (an arena) rather than
//! one allocation each: recording a change is a copy into the current
//! block, and forgetting old changes drops whole blocks. Only frames too
//! large to copy around ([`SHARE_ABOVE`]) keep their own shared allocation.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::protocol::frame::{FrameRef, SHARE_ABOVE};

/// Bytes charged per change on top of its names and frame.
const CHANGE_OVERHEAD: usize = 48;
/// Size of an arena block.
const BLOCK: usize = 64 * 1024;

/// Where one change lives.
struct Meta {
    rev: u64,
    /// Absolute number of the block holding its names (and small frame).
    block: u64,
    start: u32,
    id_len: u32,
    key_len: u32,
    frame_len: u32,
    shared: Option<Arc<[u8]>>,
}

impl Meta {
    fn cost(&self) -> usize {
        (self.id_len + self.key_len + self.frame_len) as usize + CHANGE_OVERHEAD
    }
}

/// One recorded change, borrowed from the history.
pub struct Change<'a> {
    /// The revision the change produced.
    pub rev: u64,
    /// Namespace of the changed key.
    pub id: &'a str,
    /// The changed key.
    pub key: &'a str,
    /// The notification, framed, as subscribers received it.
    pub frame: FrameRef<'a>,
}

/// A bounded, revision-ordered log of recent changes.
pub struct History {
    entries: VecDeque<Meta>,
    blocks: VecDeque<Vec<u8>>,
    /// Absolute number of `blocks[0]`.
    first_block: u64,
    bytes: usize,
    max_len: usize,
    max_bytes: usize,
    floor: u64,
}

impl History {
    /// An empty history whose changes start after revision `floor`.
    pub fn new(floor: u64, max_len: usize, max_bytes: usize) -> Self {
        History {
            entries: VecDeque::new(),
            blocks: VecDeque::new(),
            first_block: 0,
            bytes: 0,
            max_len,
            max_bytes,
            floor,
        }
    }

    /// Records a change (revisions must increase), dropping the oldest ones
    /// past either bound.
    pub fn push(&mut self, rev: u64, id: &str, key: &str, frame: FrameRef) {
        debug_assert!(self.entries.back().is_none_or(|c| c.rev < rev));
        let shared = frame.shared.filter(|f| f.len() > SHARE_ABOVE).cloned();
        let inline = if shared.is_some() {
            0
        } else {
            frame.bytes.len()
        };
        let need = id.len() + key.len() + inline;
        if self
            .blocks
            .back()
            .is_none_or(|b| b.capacity() - b.len() < need)
        {
            self.blocks.push_back(Vec::with_capacity(need.max(BLOCK)));
        }
        let block_no = self.first_block + self.blocks.len() as u64 - 1;
        let block = self.blocks.back_mut().expect("pushed above");
        let start = block.len();
        block.extend_from_slice(id.as_bytes());
        block.extend_from_slice(key.as_bytes());
        if shared.is_none() {
            block.extend_from_slice(frame.bytes);
        }
        let meta = Meta {
            rev,
            block: block_no,
            start: start as u32,
            id_len: id.len() as u32,
            key_len: key.len() as u32,
            frame_len: frame.bytes.len() as u32,
            shared,
        };
        self.bytes += meta.cost();
        self.entries.push_back(meta);
        while self.entries.len() > self.max_len || self.bytes > self.max_bytes {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= old.cost();
            self.floor = old.rev;
        }
        // Blocks before the oldest remaining change hold nothing live.
        let keep_from = self.entries.front().map_or(block_no, |m| m.block);
        while self.first_block < keep_from {
            self.blocks.pop_front();
            self.first_block += 1;
        }
        if self.entries.is_empty() {
            // Nothing kept: start the next change on a fresh block.
            self.blocks.clear();
            self.first_block = block_no + 1;
        }
    }

    /// Whether every change after `since` is still here.
    pub fn covers(&self, since: u64) -> bool {
        since >= self.floor
    }

    /// The changes after `since`, oldest first.
    pub fn after(&self, since: u64) -> impl Iterator<Item = Change<'_>> {
        let start = self.entries.partition_point(|c| c.rev <= since);
        self.entries.range(start..).map(|m| {
            let block = &self.blocks[(m.block - self.first_block) as usize];
            let at = m.start as usize;
            let (id_end, key_end) = (at + m.id_len as usize, at + (m.id_len + m.key_len) as usize);
            // The names were copied from `&str`s, so these slices are UTF-8.
            let id = std::str::from_utf8(&block[at..id_end]).unwrap_or_default();
            let key = std::str::from_utf8(&block[id_end..key_end]).unwrap_or_default();
            let frame = match &m.shared {
                Some(f) => FrameRef::shared(f),
                None => FrameRef::copied(&block[key_end..key_end + m.frame_len as usize]),
            };
            Change {
                rev: m.rev,
                id,
                key,
                frame,
            }
        })
    }

    /// The revision the history reaches back to.
    #[cfg(test)]
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Number of changes held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of the changes held (what `--history-bytes` bounds).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether no change is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(h: &mut History, rev: u64) {
        h.push(rev, "a", &format!("k{rev}"), FrameRef::copied(b"\x81\x01x"));
    }

    #[test]
    fn keeps_the_newest_changes_within_count() {
        let mut h = History::new(10, 3, usize::MAX);
        for rev in 11..=15 {
            push(&mut h, rev);
        }
        assert_eq!(h.len(), 3);
        assert_eq!(h.floor(), 12);
        assert!(h.covers(12) && !h.covers(11));
        let got: Vec<(u64, String)> = h.after(13).map(|c| (c.rev, c.key.to_string())).collect();
        assert_eq!(got, [(14, "k14".to_string()), (15, "k15".to_string())]);
        assert!(
            h.after(13)
                .all(|c| c.id == "a" && c.frame.bytes == b"\x81\x01x")
        );
    }

    #[test]
    fn bytes_bound_drops_old_changes() {
        let one = 1 + 2 + 3 + CHANGE_OVERHEAD;
        let mut h = History::new(0, 100, one * 2);
        for rev in 1..=5 {
            push(&mut h, rev);
        }
        assert_eq!(h.len(), 2);
        assert_eq!(h.floor(), 3);
    }

    #[test]
    fn disabled_history_covers_only_the_present() {
        let mut h = History::new(0, 0, usize::MAX);
        push(&mut h, 1);
        push(&mut h, 2);
        assert!(h.is_empty());
        assert!(h.covers(2) && !h.covers(1));
    }

    #[test]
    fn blocks_are_released_as_changes_age() {
        let mut h = History::new(0, 100, usize::MAX);
        let frame = vec![b'f'; 1000];
        for rev in 1..=1000 {
            h.push(rev, "id", "key", FrameRef::copied(&frame));
        }
        // 100 changes of ~1 KB live in two or three 64 KiB blocks, not sixteen.
        assert!(h.blocks.len() <= 3, "{} blocks", h.blocks.len());
        assert_eq!(h.after(0).count(), 100);
        assert!(
            h.after(0)
                .all(|c| c.frame.bytes == &frame[..] && c.key == "key")
        );
    }

    #[test]
    fn large_frames_are_shared_not_copied() {
        let mut h = History::new(0, 10, usize::MAX);
        let big: Arc<[u8]> = vec![b'x'; SHARE_ABOVE + 1].into();
        h.push(1, "a", "k", FrameRef::shared(&big));
        let c = h.after(0).next().unwrap();
        assert!(Arc::ptr_eq(c.frame.shared.unwrap(), &big));
        assert!(h.blocks.back().unwrap().len() < 10);
    }
}
