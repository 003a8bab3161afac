//! A string-keyed `HashMap` that never stops the loop to grow all at once.
//!
//! A `HashMap` grows by doubling: the insert that finds it full moves every
//! entry into a table twice the size, in one call. For a namespace of
//! 1,835,008 keys that single `set` took 1.1–1.3 s on the machine in the
//! README, and the single-threaded loop serves no one meanwhile. (Redis
//! avoids the same stall by rehashing incrementally.)
//!
//! `KeyMap` keeps a small map as one plain `HashMap` and, past
//! [`SPLIT_AT`] keys, spreads it over [`SHARDS`] of them chosen by a hash
//! of the key. Each shard then grows on its own, so a growth moves about
//! 1/1024 of the keys: with two million keys, about 2,000, and the worst
//! single `set` of two million into one namespace took 2–7 ms instead of
//! 1.1–1.3 s. The split itself happens once, at 8,192 keys, and took
//! 3.4 ms. What it costs in steady state: one more hash per operation on a
//! split map, and 1,024 table headers (48 KB) once there are 8,192 keys to
//! spread over them. Shards do not merge again when keys are removed.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// Keys at which a map is spread over shards.
pub const SPLIT_AT: usize = 8192;
/// Number of shards of a split map (a power of two).
pub const SHARDS: usize = 1024;

/// A map from names to `V`; see the module documentation.
pub struct KeyMap<V> {
    repr: Repr<V>,
    /// Slots the tables have room for, all shards together: what they
    /// occupy in memory, full or not (see [`KeyMap::table_bytes`]).
    capacity: usize,
}

enum Repr<V> {
    One(HashMap<Box<str>, V>),
    Split {
        /// Chooses the shard; random per map, so that clients cannot pick
        /// keys that all land in one shard.
        hasher: RandomState,
        shards: Box<[HashMap<Box<str>, V>]>,
        len: usize,
    },
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            repr: Repr::One(HashMap::new()),
            capacity: 0,
        }
    }
}

fn shard(hasher: &RandomState, key: &str) -> usize {
    // The top bits: the shard maps below use other hashers, so the choice
    // of shard does not bias their buckets.
    (hasher.hash_one(key) >> (64 - SHARDS.trailing_zeros())) as usize
}

impl<V> KeyMap<V> {
    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        match &self.repr {
            Repr::One(map) => map.get(key),
            Repr::Split { hasher, shards, .. } => shards[shard(hasher, key)].get(key),
        }
    }

    /// The value under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        match &mut self.repr {
            Repr::One(map) => map.get_mut(key),
            Repr::Split { hasher, shards, .. } => shards[shard(hasher, key)].get_mut(key),
        }
    }

    /// Inserts a key the caller knows to be absent (checked in debug
    /// builds): the caller has just looked for it, so it is not looked up
    /// again, and a value that replaces another never allocates its key.
    /// Returns whether the map was spread over its shards by this insert.
    pub fn insert_new(&mut self, key: Box<str>, value: V) -> bool {
        debug_assert!(self.get(&key).is_none(), "insert_new of a present key");
        let mut split = false;
        if let Repr::One(map) = &mut self.repr
            && map.len() >= SPLIT_AT
        {
            self.split();
            split = true;
        }
        let (map, len) = match &mut self.repr {
            Repr::One(map) => (map, None),
            Repr::Split {
                hasher,
                shards,
                len,
            } => (&mut shards[shard(hasher, &key)], Some(len)),
        };
        let before = map.capacity();
        map.insert(key, value);
        self.capacity = self.capacity + map.capacity() - before;
        if let Some(len) = len {
            *len += 1;
        }
        split
    }

    /// The shard `key` lives in (0 for a map that is not split).
    pub fn shard_of(&self, key: &str) -> usize {
        match &self.repr {
            Repr::One(_) => 0,
            Repr::Split { hasher, .. } => shard(hasher, key),
        }
    }

    /// How many shards there are (1 for a map that is not split).
    pub fn shard_count(&self) -> usize {
        match &self.repr {
            Repr::One(_) => 1,
            Repr::Split { shards, .. } => shards.len(),
        }
    }

    /// The keys of shard `i`, in no particular order.
    pub fn shard_keys(&self, i: usize) -> impl Iterator<Item = &str> {
        let map = match &self.repr {
            Repr::One(map) => Some(map),
            Repr::Split { shards, .. } => shards.get(i),
        };
        map.into_iter().flat_map(|m| m.keys().map(|k| &**k))
    }

    /// Bytes the tables themselves occupy (slots and control bytes, empty
    /// slots included; the keys' and values' own allocations are not).
    pub fn table_bytes(&self) -> usize {
        // A table of capacity c has about c * 8/7 slots, each a key, a
        // value and one control byte.
        let slot = std::mem::size_of::<(Box<str>, V)>() + 1;
        self.capacity * slot * 8 / 7
    }

    fn split(&mut self) {
        let Repr::One(map) = &mut self.repr else {
            return;
        };
        let hasher = RandomState::new();
        let mut shards: Box<[HashMap<Box<str>, V>]> = (0..SHARDS).map(|_| HashMap::new()).collect();
        let len = map.len();
        for (key, value) in map.drain() {
            shards[shard(&hasher, &key)].insert(key, value);
        }
        self.capacity = shards.iter().map(HashMap::capacity).sum();
        self.repr = Repr::Split {
            hasher,
            shards,
            len,
        };
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        match &mut self.repr {
            Repr::One(map) => map.remove(key),
            Repr::Split {
                hasher,
                shards,
                len,
            } => {
                let old = shards[shard(hasher, key)].remove(key)?;
                *len -= 1;
                Some(old)
            }
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::One(map) => map.len(),
            Repr::Split { len, .. } => *len,
        }
    }

    /// Whether the map holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key and value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        let maps: &[HashMap<Box<str>, V>] = match &self.repr {
            Repr::One(map) => std::slice::from_ref(map),
            Repr::Split { shards, .. } => shards,
        };
        maps.iter().flat_map(|m| m.iter().map(|(k, v)| (&**k, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_map_keeps_every_key() {
        let mut m = KeyMap::default();
        let n = SPLIT_AT * 3;
        for i in 0..n {
            m.insert_new(format!("k{i}").into(), i);
        }
        assert!(matches!(m.repr, Repr::Split { .. }));
        assert_eq!(m.len(), n);
        assert_eq!(m.iter().count(), n);
        for i in 0..n {
            assert_eq!(m.get(&format!("k{i}")), Some(&i));
        }
        *m.get_mut("k7").unwrap() = 70;
        assert_eq!(m.get("k7"), Some(&70));
        for i in 0..n {
            assert!(m.remove(&format!("k{i}")).is_some());
        }
        assert!(m.is_empty());
        assert!(m.remove("k1").is_none());
    }

    #[test]
    fn keys_spread_over_the_shards() {
        let mut m = KeyMap::default();
        for i in 0..SPLIT_AT * 4 {
            m.insert_new(format!("user:{i}").into(), ());
        }
        let Repr::Split { shards, .. } = &m.repr else {
            panic!("not split");
        };
        let biggest = shards.iter().map(HashMap::len).max().unwrap();
        // 32 a shard on average; none near a whole map's worth.
        assert!(biggest < 4 * SPLIT_AT * 4 / SHARDS, "{biggest}");
    }
}
