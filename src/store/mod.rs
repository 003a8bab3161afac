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
mod tests {
    use super::*;

    #[test]
    fn set_get_remove_round_trip() {
        let mut s = Store::new();
        assert!(s.set("app", "k", Entry::new("1", 1)).is_none());
        assert_eq!(s.get("app", "k").unwrap().value.as_ref(), "1");
        assert_eq!(s.set("app", "k", Entry::new("[2]", 2)).unwrap().rev, 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.remove("app", "k").unwrap().value.as_ref(), "[2]");
        assert!(s.get("app", "k").is_none());
        assert!(s.remove("app", "k").is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn ids_are_separate_namespaces() {
        let mut s = Store::new();
        s.set("a", "k", Entry::new("1", 1));
        s.set("b", "k", Entry::new("2", 2));
        assert_eq!(s.get("a", "k").unwrap().value.as_ref(), "1");
        assert_eq!(s.get("b", "k").unwrap().value.as_ref(), "2");
        s.remove("a", "k");
        assert!(s.get("a", "k").is_none());
        assert_eq!(s.get("b", "k").unwrap().value.as_ref(), "2");
    }

    #[test]
    fn byte_accounting_returns_to_where_it_was() {
        let mut s = Store::new();
        s.set("app", "first", Entry::new("1", 1));
        s.remove("app", "first");
        // The map of namespaces keeps its (small) table.
        let empty = s.bytes();
        s.set("app", "k", Entry::new("\"x\"", 1));
        s.set("app", "k", Entry::new("\"longer value\"", 2));
        s.set("app", "j", Entry::new("1", 3));
        let mut budget = 100;
        assert!(s.build_index("app", &mut budget));
        assert!(s.bytes() > empty);
        s.remove("app", "k");
        s.remove("app", "j");
        assert_eq!(s.bytes(), empty);
    }

    #[test]
    fn bytes_follow_the_allocations() {
        let mut s = Store::new();
        s.set("a", "k", Entry::new("1", 1));
        let one = s.bytes();
        // A value of 40 bytes takes a 48-byte chunk instead of a 32-byte one.
        s.set("a", "k", Entry::new("x".repeat(40), 2));
        assert_eq!(s.bytes(), one + 16);
    }

    fn built(s: &mut Store, id: &str) {
        let mut budget = usize::MAX;
        assert!(s.build_index(id, &mut budget));
    }

    #[test]
    fn list_pages_in_byte_order() {
        let mut s = Store::new();
        for k in ["b", "a", "room/2", "room/10", "room/1", "z"] {
            s.set("app", k, Entry::new("0", 1));
        }
        assert_eq!(s.list("app", "", None, 10), None, "no index yet");
        built(&mut s, "app");
        assert_eq!(
            s.list("app", "room/", None, 2),
            Some((vec!["room/1", "room/10"], true))
        );
        assert_eq!(
            s.list("app", "room/", Some("room/10"), 2),
            Some((vec!["room/2"], false))
        );
        assert_eq!(
            s.list("app", "", Some("room/2"), 10),
            Some((vec!["z"], false))
        );
        assert_eq!(s.list("none", "", None, 10), Some((vec![], false)));
        // The ordered index follows writes made after it was built.
        s.set("app", "room/15", Entry::new("0", 2));
        s.remove("app", "room/1");
        assert_eq!(
            s.list("app", "room/", None, 10),
            Some((vec!["room/10", "room/15", "room/2"], false))
        );
    }

    #[test]
    fn an_index_built_in_slices_while_keys_change_is_exact() {
        let mut s = Store::new();
        let n = keymap::SPLIT_AT * 3;
        for i in 0..n {
            s.set("big", &format!("k{i:06}"), Entry::new("0", 1));
        }
        let mut steps = 0;
        loop {
            let mut budget = 500;
            if s.build_index("big", &mut budget) {
                break;
            }
            // Writes between slices land in copied and uncopied shards alike.
            s.set("big", &format!("new{steps:04}"), Entry::new("1", 2));
            s.remove("big", &format!("k{:06}", steps * 7));
            steps += 1;
        }
        assert!(steps > 10, "built in {steps} slices");
        let mut want: Vec<String> = (0..n)
            .filter(|i| i % 7 != 0 || i / 7 >= steps)
            .map(|i| format!("k{i:06}"))
            .chain((0..steps).map(|j| format!("new{j:04}")))
            .collect();
        want.sort();
        let (got, more) = s.list("big", "", None, usize::MAX).unwrap();
        assert!(!more);
        assert_eq!(got, want);
    }

    #[test]
    fn counting_and_reading_under_a_prefix() {
        let mut s = Store::new();
        for k in ["p/1", "p/2", "p/3", "q"] {
            s.set("app", k, Entry::new("0", 1));
        }
        built(&mut s, "app");
        assert_eq!(s.count_under("app", "p/", 3), Some(Some(3)));
        assert_eq!(s.count_under("app", "p/", 2), Some(None));
        assert_eq!(s.count_under("none", "p/", 2), Some(Some(0)));
        let keys: Vec<&str> = s
            .entries_under("app", "p/", Some("p/1"), 10)
            .unwrap()
            .iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(keys, ["p/2", "p/3"]);
    }
}
