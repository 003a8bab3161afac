//! The key-value store: application id → key → entry, in plain `HashMap`s
//! (large ones spread over several, [`keymap`], so that none stalls the loop
//! when it grows).
//!
//! No networking, no JSON framing, no notion of subscribers: the store keeps
//! each value as the exact JSON text a client sent, with the revision of the
//! change that wrote it. Reads and writes by key are one hash lookup.
//!
//! Ordered queries (`list`, prefix snapshots) need keys in byte order, which a
//! `HashMap` cannot give: a namespace builds an ordered index the first time
//! it is asked, a slice at a time (`ordered.rs`), and keeps it from then on.
//!
//! [`Store::bytes`] is what the store really occupies, as closely as it can
//! be known without asking the allocator: every key and value allocation as
//! glibc's `malloc` sizes it, the hash tables at their capacity (empty slots
//! included), and the ordered indexes. `--max-memory` limits it.

use std::collections::BTreeSet;

pub mod keymap;
mod ordered;

use keymap::{KeyMap, SHARDS};
use ordered::Ordered;

use crate::conn_id::ConnId;

/// Bytes `malloc` takes for an allocation of `len` bytes: glibc's chunk,
/// the request plus an 8-byte header rounded up to 16, at least 32. (An
/// empty string allocates nothing.)
pub fn heap(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        ((len + 8 + 15) & !15).max(32)
    }
}

/// One stored value and what the protocol knows about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The value as JSON text, exactly as the client sent it.
    pub value: Box<str>,
    /// Revision of the change that wrote this value.
    pub rev: u64,
    /// When the key expires, in milliseconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// The connection whose closing deletes this key (ephemeral keys).
    pub owner: Option<ConnId>,
}

impl Entry {
    /// A plain entry: no expiry, no owner.
    pub fn new(value: impl Into<Box<str>>, rev: u64) -> Self {
        Entry {
            value: value.into(),
            rev,
            expires_at: None,
            owner: None,
        }
    }
}

#[derive(Default)]
struct Namespace {
    map: KeyMap<Entry>,
    ordered: Ordered,
}

/// The headers of a split map's shards, charged when it splits.
const SHARD_HEADERS: usize =
    SHARDS * std::mem::size_of::<std::collections::HashMap<Box<str>, Entry>>();

/// The store itself.
#[derive(Default)]
pub struct Store {
    spaces: KeyMap<Namespace>,
    keys: usize,
    /// Keys, values, names and indexes (the tables are in `tables`).
    bytes: usize,
    /// The hash tables of every namespace (and of the map of namespaces).
    tables: usize,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Store::default()
    }

    /// The entry under `id`/`key`.
    pub fn get(&self, id: &str, key: &str) -> Option<&Entry> {
        self.spaces.get(id)?.map.get(key)
    }

    /// Stores `entry`, returning the entry it replaced.
    pub fn set(&mut self, id: &str, key: &str, entry: Entry) -> Option<Entry> {
        let space = match self.spaces.get_mut(id) {
            Some(space) => space,
            None => {
                let before = self.spaces.table_bytes();
                self.spaces.insert_new(id.into(), Namespace::default());
                self.tables = self.tables + self.spaces.table_bytes() - before;
                self.bytes += heap(id.len());
                self.spaces.get_mut(id).expect("just inserted")
            }
        };
        let tables_before = space.map.table_bytes();
        let new_value = heap(entry.value.len());
        let old = match space.map.get_mut(key) {
            Some(slot) => Some(std::mem::replace(slot, entry)),
            None => {
                if space.map.insert_new(key.into(), entry) {
                    self.bytes += SHARD_HEADERS;
                    self.bytes -= space.ordered.reshard();
                }
                let shard = space.map.shard_of(key);
                self.bytes += heap(key.len()) + space.ordered.insert(key, shard);
                self.keys += 1;
                None
            }
        };
        self.tables = self.tables + space.map.table_bytes() - tables_before;
        self.bytes += new_value;
        if let Some(old) = &old {
            self.bytes -= heap(old.value.len());
        }
        old
    }

    /// Removes `id`/`key`, returning its entry. An emptied namespace is dropped.
    pub fn remove(&mut self, id: &str, key: &str) -> Option<Entry> {
        let space = self.spaces.get_mut(id)?;
        let shard = space.map.shard_of(key);
        let old = space.map.remove(key)?;
        self.bytes -= space.ordered.remove(key, shard);
        self.keys -= 1;
        self.bytes -= heap(key.len()) + heap(old.value.len());
        if space.map.is_empty() {
            self.tables -= space.map.table_bytes();
            if space.map.shard_count() > 1 {
                self.bytes -= SHARD_HEADERS;
            }
            self.bytes -= space.ordered.bytes() + heap(id.len());
            self.spaces.remove(id);
        }
        Some(old)
    }

    /// What [`Store::bytes`] would be after storing a value of `value_len`
    /// bytes under `id`/`key` (not counting a table that may have to grow):
    /// lets a write be refused before it is applied.
    pub fn bytes_after_set(&self, id: &str, key: &str, value_len: usize) -> usize {
        let value = heap(value_len);
        let key_cost = heap(key.len()) + ordered::INDEX_OVERHEAD;
        match self.spaces.get(id) {
            None => self.bytes() + value + key_cost + heap(id.len()),
            Some(space) => match space.map.get(key) {
                Some(old) => self.bytes() + value - heap(old.value.len()),
                None => self.bytes() + value + key_cost,
            },
        }
    }

    /// Mutable access to an entry's bookkeeping (expiry, owner) without
    /// changing its value.
    pub fn get_mut(&mut self, id: &str, key: &str) -> Option<&mut Entry> {
        self.spaces.get_mut(id)?.map.get_mut(key)
    }

    /// Works on `id`'s ordered index, copying at most about `budget` keys
    /// (less what it copied); returns whether the index is complete. A
    /// namespace that does not exist needs none.
    pub fn build_index(&mut self, id: &str, budget: &mut usize) -> bool {
        let Some(space) = self.spaces.get_mut(id) else {
            return true;
        };
        if space.ordered.ready().is_some() {
            return true;
        }
        let Namespace { map, ordered } = space;
        self.bytes += ordered.build(map.shard_count(), budget, |i| map.shard_keys(i));
        ordered.ready().is_some()
    }

    fn index(&self, id: &str) -> Option<&BTreeSet<Box<str>>> {
        self.spaces.get(id)?.ordered.ready()
    }

    /// Keys under `prefix` in byte order, after `after` (exclusive), at most
    /// `limit` of them, and whether more follow; `None` until the
    /// namespace's index is built ([`Store::build_index`]).
    pub fn list(
        &self,
        id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Option<(Vec<&str>, bool)> {
        if self.spaces.get(id).is_none() {
            return Some((Vec::new(), false));
        }
        let mut iter = ordered::under(self.index(id)?, prefix, after);
        let keys: Vec<&str> = iter.by_ref().take(limit).collect();
        let more = iter.next().is_some();
        Some((keys, more))
    }

    /// The number of keys under `prefix`, or `Some(None)` when there are
    /// more than `max` (counted no further); `None` until the namespace's
    /// index is built.
    pub fn count_under(&self, id: &str, prefix: &str, max: usize) -> Option<Option<usize>> {
        if self.spaces.get(id).is_none() {
            return Some(Some(0));
        }
        let n = ordered::under(self.index(id)?, prefix, None)
            .take(max + 1)
            .count();
        Some((n <= max).then_some(n))
    }

    /// Up to `limit` keys under `prefix` after `after`, with their entries,
    /// in byte order; `None` until the namespace's index is built.
    pub fn entries_under(
        &self,
        id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Option<Vec<(&str, &Entry)>> {
        let Some(space) = self.spaces.get(id) else {
            return Some(Vec::new());
        };
        let keys = space.ordered.ready()?;
        Some(
            ordered::under(keys, prefix, after)
                .take(limit)
                .map(|k| (k, space.map.get(k).expect("indexed keys are stored")))
                .collect(),
        )
    }

    /// Number of keys in all namespaces.
    pub fn len(&self) -> usize {
        self.keys
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    /// Bytes held: names, values, hash tables and ordered indexes.
    pub fn bytes(&self) -> usize {
        self.bytes + self.tables
    }

    /// Every namespace, key and entry, in no particular order (snapshots).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &Entry)> {
        self.spaces
            .iter()
            .flat_map(|(id, s)| s.map.iter().map(move |(k, e)| (id, k, e)))
    }
}

#[cfg(test)]
mod tests;
