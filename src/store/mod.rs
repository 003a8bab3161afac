//! The key-value store: application id → key → entry, in plain `HashMap`s
//! (large ones spread over several, [`keymap`], so that none stalls the loop
//! when it grows).
//!
//! No networking, no JSON framing, no notion of subscribers: the store keeps
//! each value as the exact JSON text a client sent, with the revision of the
//! change that wrote it. Reads and writes by key are one hash lookup.
//!
//! Ordered queries (`list`, prefix snapshots) need keys in byte order, which a
//! `HashMap` cannot give. Rather than paying for an ordered index on every
//! write in every namespace, a namespace builds a `BTreeSet` of its keys the
//! first time it is asked an ordered question and keeps it up to date from
//! then on: applications that never list pay nothing.

use std::collections::BTreeSet;
use std::ops::Bound;

pub mod keymap;

use keymap::KeyMap;

use crate::conn_id::ConnId;

/// Bytes charged per key on top of its name and value: the hash-table slot,
/// the two allocations' headers and the entry's fixed fields. An estimate,
/// used so that `--max-memory` tracks real usage closely enough.
pub const ENTRY_OVERHEAD: usize = 96;

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
    /// Keys in byte order; `None` until an ordered query needs it.
    ordered: Option<BTreeSet<Box<str>>>,
}

impl Namespace {
    fn ordered(&mut self) -> &BTreeSet<Box<str>> {
        let map = &self.map;
        self.ordered
            .get_or_insert_with(|| map.iter().map(|(k, _)| k.into()).collect())
    }
}

/// The store itself.
#[derive(Default)]
pub struct Store {
    spaces: KeyMap<Namespace>,
    keys: usize,
    bytes: usize,
}

fn cost(key: &str, value: &str) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
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
                self.bytes += id.len() + ENTRY_OVERHEAD;
                self.spaces.insert_new(id.into(), Namespace::default());
                self.spaces.get_mut(id).expect("just inserted")
            }
        };
        self.bytes += cost(key, &entry.value);
        let old = match space.map.get_mut(key) {
            Some(slot) => Some(std::mem::replace(slot, entry)),
            None => {
                space.map.insert_new(key.into(), entry);
                if let Some(ordered) = &mut space.ordered {
                    ordered.insert(key.into());
                }
                self.keys += 1;
                None
            }
        };
        if let Some(old) = &old {
            self.bytes -= cost(key, &old.value);
        }
        old
    }

    /// Removes `id`/`key`, returning its entry. An emptied namespace is dropped.
    pub fn remove(&mut self, id: &str, key: &str) -> Option<Entry> {
        let space = self.spaces.get_mut(id)?;
        let old = space.map.remove(key)?;
        if let Some(ordered) = &mut space.ordered {
            ordered.remove(key);
        }
        self.keys -= 1;
        self.bytes -= cost(key, &old.value);
        if space.map.is_empty() {
            self.spaces.remove(id);
            self.bytes -= id.len() + ENTRY_OVERHEAD;
        }
        Some(old)
    }

    /// What [`Store::bytes`] would be after storing a value of `value_len`
    /// bytes under `id`/`key`: lets a write be refused before it is applied.
    pub fn bytes_after_set(&self, id: &str, key: &str, value_len: usize) -> usize {
        let added = key.len() + value_len + ENTRY_OVERHEAD;
        match self.spaces.get(id) {
            None => self.bytes + added + id.len() + ENTRY_OVERHEAD,
            Some(space) => match space.map.get(key) {
                Some(old) => self.bytes + added - cost(key, &old.value),
                None => self.bytes + added,
            },
        }
    }

    /// Mutable access to an entry's bookkeeping (expiry, owner) without
    /// changing its value.
    pub fn get_mut(&mut self, id: &str, key: &str) -> Option<&mut Entry> {
        self.spaces.get_mut(id)?.map.get_mut(key)
    }

    /// Keys under `prefix` in byte order, after `after` (exclusive), at most
    /// `limit` of them; the flag says whether more follow.
    pub fn list(
        &mut self,
        id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<&str>, bool) {
        let Some(space) = self.spaces.get_mut(id) else {
            return (Vec::new(), false);
        };
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a),
            _ => Bound::Included(prefix),
        };
        let mut iter = space
            .ordered()
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|k| k.starts_with(prefix))
            .map(|k| &**k);
        let keys: Vec<&str> = iter.by_ref().take(limit).collect();
        let more = iter.next().is_some();
        (keys, more)
    }

    /// Keys and entries under `prefix` in byte order, or `None` when there are
    /// more than `max` of them (counted without collecting them all).
    pub fn prefix_snapshot(
        &mut self,
        id: &str,
        prefix: &str,
        max: usize,
    ) -> Option<Vec<(&str, &Entry)>> {
        let Some(space) = self.spaces.get_mut(id) else {
            return Some(Vec::new());
        };
        space.ordered();
        let Namespace { map, ordered } = space;
        let keys = ordered.as_ref().expect("built above");
        let mut out = Vec::new();
        for k in keys.range::<str, _>((Bound::Included(prefix), Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                break;
            }
            if out.len() == max {
                return None;
            }
            out.push((&**k, map.get(k).expect("indexed keys are stored")));
        }
        Some(out)
    }

    /// Number of keys in all namespaces.
    pub fn len(&self) -> usize {
        self.keys
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    /// Estimated bytes held: names, values and per-entry overhead.
    pub fn bytes(&self) -> usize {
        self.bytes
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
    fn byte_accounting_returns_to_zero() {
        let mut s = Store::new();
        s.set("app", "k", Entry::new("\"x\"", 1));
        s.set("app", "k", Entry::new("\"longer value\"", 2));
        s.set("app", "j", Entry::new("1", 3));
        assert!(s.bytes() > 0);
        s.remove("app", "k");
        s.remove("app", "j");
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn list_pages_in_byte_order() {
        let mut s = Store::new();
        for k in ["b", "a", "room/2", "room/10", "room/1", "z"] {
            s.set("app", k, Entry::new("0", 1));
        }
        assert_eq!(
            s.list("app", "room/", None, 2),
            (vec!["room/1", "room/10"], true)
        );
        assert_eq!(
            s.list("app", "room/", Some("room/10"), 2),
            (vec!["room/2"], false)
        );
        assert_eq!(s.list("app", "", Some("room/2"), 10), (vec!["z"], false));
        assert_eq!(s.list("none", "", None, 10), (vec![], false));
        // The ordered index follows writes made after it was built.
        s.set("app", "room/15", Entry::new("0", 2));
        s.remove("app", "room/1");
        assert_eq!(
            s.list("app", "room/", None, 10),
            (vec!["room/10", "room/15", "room/2"], false)
        );
    }

    #[test]
    fn prefix_snapshot_respects_its_cap() {
        let mut s = Store::new();
        for k in ["p/1", "p/2", "p/3", "q"] {
            s.set("app", k, Entry::new("0", 1));
        }
        let keys: Vec<&str> = s
            .prefix_snapshot("app", "p/", 3)
            .unwrap()
            .iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(keys, ["p/1", "p/2", "p/3"]);
        assert!(s.prefix_snapshot("app", "p/", 2).is_none());
        assert_eq!(s.prefix_snapshot("app", "", 4).unwrap().len(), 4);
    }
}
