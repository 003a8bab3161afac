//! The keys of one namespace in byte order, built when first needed and a
//! slice at a time.
//!
//! A `HashMap` cannot answer ordered questions (`list`, prefix snapshots).
//! Rather than paying for an ordered index on every write in every
//! namespace, a namespace gets one the first time it is asked such a
//! question, and keeps it up to date from then on: applications that never
//! list pay nothing. Building it for a million keys takes most of a second,
//! so it is built shard by shard (see [`super::keymap`]), a bounded number
//! of keys per call, while writes go on: a key written in a shard already
//! copied goes into the index at once, a key in a shard not copied yet is
//! picked up when its shard is.

use std::collections::BTreeSet;
use std::ops::Bound;

use super::heap;

/// Bytes an index entry costs besides its key's own allocation: its share
/// of the B-tree's nodes (16-byte elements in nodes about two-thirds full,
/// plus node headers).
pub const INDEX_OVERHEAD: usize = 32;

/// What a namespace's index is doing.
#[derive(Default)]
pub(super) enum Ordered {
    /// Never asked for.
    #[default]
    Absent,
    /// Being built: shards `0..done` are copied.
    Building {
        keys: BTreeSet<Box<str>>,
        done: usize,
    },
    /// Complete, and kept up to date.
    Ready(BTreeSet<Box<str>>),
}

fn cost(key: &str) -> usize {
    heap(key.len()) + INDEX_OVERHEAD
}

impl Ordered {
    /// A key was added to shard `shard`; returns the bytes the index grew by.
    pub fn insert(&mut self, key: &str, shard: usize) -> usize {
        match self {
            Ordered::Building { keys, done } if shard < *done => {
                keys.insert(key.into());
                cost(key)
            }
            Ordered::Ready(keys) => {
                keys.insert(key.into());
                cost(key)
            }
            _ => 0,
        }
    }

    /// A key was removed from shard `shard`; returns the bytes freed.
    pub fn remove(&mut self, key: &str, shard: usize) -> usize {
        let keys = match self {
            Ordered::Building { keys, done } if shard < *done => keys,
            Ordered::Ready(keys) => keys,
            _ => return 0,
        };
        if keys.remove(key) { cost(key) } else { 0 }
    }

    /// The map was spread over shards: copied shards mean nothing any
    /// more, so a build in progress starts again. Returns the bytes freed.
    pub fn reshard(&mut self) -> usize {
        let Ordered::Building { keys, done } = self else {
            return 0;
        };
        let freed = keys.iter().map(|k| cost(k)).sum();
        keys.clear();
        *done = 0;
        freed
    }

    /// Copies shards (each whole) until `budget` keys have been copied or
    /// the index is complete; `shard(i)` lists shard `i`'s keys. Returns
    /// the bytes the index grew by.
    pub fn build<'a, I: Iterator<Item = &'a str>>(
        &mut self,
        shards: usize,
        budget: &mut usize,
        shard: impl Fn(usize) -> I,
    ) -> usize {
        if matches!(self, Ordered::Absent) {
            *self = Ordered::Building {
                keys: BTreeSet::new(),
                done: 0,
            };
        }
        let Ordered::Building { keys, done } = self else {
            return 0;
        };
        let mut grew = 0;
        while *done < shards && *budget > 0 {
            for key in shard(*done) {
                keys.insert(key.into());
                grew += cost(key);
                *budget = budget.saturating_sub(1);
            }
            *done += 1;
        }
        if *done == shards {
            *self = Ordered::Ready(std::mem::take(keys));
        }
        grew
    }

    /// The index, once complete.
    pub fn ready(&self) -> Option<&BTreeSet<Box<str>>> {
        match self {
            Ordered::Ready(keys) => Some(keys),
            _ => None,
        }
    }

    /// Bytes the index holds.
    pub fn bytes(&self) -> usize {
        match self {
            Ordered::Absent => 0,
            Ordered::Building { keys, .. } | Ordered::Ready(keys) => {
                keys.iter().map(|k| cost(k)).sum()
            }
        }
    }
}

/// Keys of `keys` under `prefix` in byte order, strictly after `after`.
pub(super) fn under<'k, 'p>(
    keys: &'k BTreeSet<Box<str>>,
    prefix: &'p str,
    after: Option<&str>,
) -> impl Iterator<Item = &'k str> + use<'k, 'p> {
    let start = match after {
        Some(a) if a >= prefix => Bound::Excluded(a),
        _ => Bound::Included(prefix),
    };
    keys.range::<str, _>((start, Bound::Unbounded))
        .take_while(move |k| k.starts_with(prefix))
        .map(|k| &**k)
}
