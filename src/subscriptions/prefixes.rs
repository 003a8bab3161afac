//! The prefix subscriptions of one namespace, found for a key in time linear
//! in the key's length.
//!
//! A key can only match prefixes no longer than itself, and only at the
//! lengths some prefix has. Prefixes are stored by the hash of their bytes,
//! and a write hashes its key *once*, incrementally: SipHash is a streaming
//! hash whose `finish` does not consume the state, so the hash of every
//! `key[..n]` falls out of one pass over the key, and each length in use
//! costs one table lookup. The cost is O(key length + distinct prefix
//! lengths + matching subscribers), whatever the number of subscriptions.
//! The hash keys are random per index, so clients cannot pick colliding
//! prefixes to slow lookups down.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::conn_id::ConnId;

struct Entry {
    prefix: Box<str>,
    conns: Vec<ConnId>,
}

/// Prefix → subscribed connections, for one namespace.
#[derive(Default)]
pub(super) struct PrefixIndex {
    keys: RandomState,
    by_hash: HashMap<u64, Vec<Entry>>,
    /// (length, number of distinct prefixes of that length), by length.
    lengths: Vec<(usize, usize)>,
}

impl PrefixIndex {
    fn hash(&self, bytes: &[u8]) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write(bytes);
        h.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn add(&mut self, prefix: &str, conn: ConnId) {
        let hash = self.hash(prefix.as_bytes());
        let bucket = self.by_hash.entry(hash).or_default();
        match bucket.iter_mut().find(|e| *e.prefix == *prefix) {
            Some(entry) => entry.conns.push(conn),
            None => {
                bucket.push(Entry {
                    prefix: prefix.into(),
                    conns: vec![conn],
                });
                match self.lengths.binary_search_by_key(&prefix.len(), |l| l.0) {
                    Ok(i) => self.lengths[i].1 += 1,
                    Err(i) => self.lengths.insert(i, (prefix.len(), 1)),
                }
            }
        }
    }

    pub fn remove(&mut self, prefix: &str, conn: ConnId) {
        let hash = self.hash(prefix.as_bytes());
        let Some(bucket) = self.by_hash.get_mut(&hash) else {
            return;
        };
        let Some(at) = bucket.iter().position(|e| *e.prefix == *prefix) else {
            return;
        };
        let conns = &mut bucket[at].conns;
        if let Some(i) = conns.iter().position(|c| *c == conn) {
            conns.swap_remove(i);
        }
        if !conns.is_empty() {
            return;
        }
        bucket.swap_remove(at);
        if bucket.is_empty() {
            self.by_hash.remove(&hash);
        }
        if let Ok(i) = self.lengths.binary_search_by_key(&prefix.len(), |l| l.0) {
            self.lengths[i].1 -= 1;
            if self.lengths[i].1 == 0 {
                self.lengths.remove(i);
            }
        }
    }

    /// Appends the connections whose prefix `key` starts with; returns
    /// whether there were any.
    pub fn matching(&self, key: &str, out: &mut Vec<ConnId>) -> bool {
        let bytes = key.as_bytes();
        let mut hasher = self.keys.build_hasher();
        let mut hashed = 0;
        let mut found = false;
        for &(len, _) in &self.lengths {
            if len > bytes.len() {
                break;
            }
            hasher.write(&bytes[hashed..len]);
            hashed = len;
            let Some(bucket) = self.by_hash.get(&hasher.finish()) else {
                continue;
            };
            for entry in bucket {
                if entry.prefix.len() == len && bytes.starts_with(entry.prefix.as_bytes()) {
                    out.extend_from_slice(&entry.conns);
                    found = true;
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[u64]) -> Vec<ConnId> {
        raw.iter().map(|&r| ConnId::from(r)).collect()
    }

    #[test]
    fn the_hash_does_not_depend_on_how_the_bytes_are_split() {
        let keys = RandomState::new();
        let whole = {
            let mut h = keys.build_hasher();
            h.write(b"room/17/topic");
            h.finish()
        };
        let mut h = keys.build_hasher();
        for part in [&b"ro"[..], b"", b"om/1", b"7/topi", b"c"] {
            h.write(part);
        }
        assert_eq!(h.finish(), whole);
    }

    #[test]
    fn finds_every_matching_prefix_and_no_other() {
        let mut p = PrefixIndex::default();
        for (prefix, conn) in [
            ("", 1),
            ("r", 2),
            ("room/", 3),
            ("room/1", 4),
            ("roof", 5),
            ("room/", 6),
        ] {
            p.add(prefix, ConnId::from(conn));
        }
        let mut out = Vec::new();
        assert!(p.matching("room/17", &mut out));
        out.sort();
        assert_eq!(out, ids(&[1, 2, 3, 4, 6]));
        p.remove("room/", ConnId::from(3));
        p.remove("", ConnId::from(1));
        out.clear();
        p.matching("room/17", &mut out);
        out.sort();
        assert_eq!(out, ids(&[2, 4, 6]));
        for (prefix, conn) in [("r", 2), ("room/1", 4), ("roof", 5), ("room/", 6)] {
            p.remove(prefix, ConnId::from(conn));
        }
        assert!(p.is_empty() && p.lengths.is_empty());
    }
}
