//! The prefix subscriptions of one namespace, found for a key in time linear
//! in the key's length.
//!
//! A key can only match prefixes no longer than itself, and only at the
//! lengths some prefix has. Prefixes are stored by a hash of their bytes,
//! and a write hashes its key *once*, byte by byte: the hash is a
//! polynomial in a random point modulo the prime 2^61 − 1, computed by
//! Horner's rule, so the hash of every `key[..n]` is an intermediate value
//! of one pass over the key, by construction (a general-purpose `Hasher`
//! does not promise that hashing in pieces equals hashing at once). Each
//! length in use costs one table lookup. The cost is O(key length +
//! distinct prefix lengths + matching subscribers), whatever the number of
//! subscriptions. The point is random per index, so clients cannot choose
//! prefixes that collide (two different strings of n bytes collide with
//! probability at most n / 2^61), and a match is always confirmed by
//! comparing the bytes.

use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::conn_id::ConnId;

/// The prime modulus, 2^61 − 1.
const P: u64 = (1 << 61) - 1;

/// `a * b mod P`.
fn mul_mod(a: u64, b: u64) -> u64 {
    let x = u128::from(a) * u128::from(b);
    let r = (x as u64 & P) + (x >> 61) as u64;
    let r = (r & P) + (r >> 61);
    if r >= P { r - P } else { r }
}

/// A polynomial hash that extends one byte at a time.
#[derive(Clone, Copy)]
struct Poly {
    point: u64,
}

impl Poly {
    fn random() -> Poly {
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x6b76_7773_u64);
        Poly {
            point: 2 + seed % (P - 3),
        }
    }

    /// The hash of `bytes` appended to what hashed to `h`.
    fn extend(self, mut h: u64, bytes: &[u8]) -> u64 {
        for &b in bytes {
            h = mul_mod(h, self.point) + u64::from(b) + 1;
            if h >= P {
                h -= P;
            }
        }
        h
    }

    fn of(self, bytes: &[u8]) -> u64 {
        self.extend(0, bytes)
    }
}

impl Default for Poly {
    fn default() -> Self {
        Poly::random()
    }
}

struct Entry {
    prefix: Box<str>,
    conns: Vec<ConnId>,
}

/// Prefix → subscribed connections, for one namespace.
#[derive(Default)]
pub(super) struct PrefixIndex {
    hash: Poly,
    by_hash: HashMap<u64, Vec<Entry>>,
    /// (length, number of distinct prefixes of that length), by length.
    lengths: Vec<(usize, usize)>,
}

impl PrefixIndex {
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn add(&mut self, prefix: &str, conn: ConnId) {
        let hash = self.hash.of(prefix.as_bytes());
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
        let hash = self.hash.of(prefix.as_bytes());
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

    /// Calls `found` with the connections of every prefix `key` starts
    /// with, until it returns false.
    fn each_match(&self, key: &str, mut found: impl FnMut(&[ConnId]) -> bool) {
        let bytes = key.as_bytes();
        let mut h = 0;
        let mut hashed = 0;
        for &(len, _) in &self.lengths {
            if len > bytes.len() {
                break;
            }
            h = self.hash.extend(h, &bytes[hashed..len]);
            hashed = len;
            let Some(bucket) = self.by_hash.get(&h) else {
                continue;
            };
            for entry in bucket {
                if entry.prefix.len() == len
                    && bytes.starts_with(entry.prefix.as_bytes())
                    && !found(&entry.conns)
                {
                    return;
                }
            }
        }
    }

    /// Appends the connections whose prefix `key` starts with; returns
    /// whether there were any.
    pub fn matching(&self, key: &str, out: &mut Vec<ConnId>) -> bool {
        let mut any = false;
        self.each_match(key, |conns| {
            out.extend_from_slice(conns);
            any = true;
            true
        });
        any
    }

    /// Whether `conn` holds a prefix that `key` starts with.
    pub fn matches_for(&self, key: &str, conn: ConnId) -> bool {
        let mut hit = false;
        self.each_match(key, |conns| {
            hit = conns.contains(&conn);
            !hit
        });
        hit
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
        let h = Poly::random();
        let whole = h.of(b"room/17/topic");
        let mut acc = 0;
        for part in [&b"ro"[..], b"", b"om/1", b"7/topi", b"c"] {
            acc = h.extend(acc, part);
        }
        assert_eq!(acc, whole);
        assert_ne!(h.of(b"room"), h.of(b"roon"));
        assert_ne!(h.of(b"\0"), h.of(b""));
    }

    #[test]
    fn multiplication_modulo_the_prime_is_exact() {
        for (a, b) in [
            (P - 1, P - 1),
            (P - 1, 2),
            (1 << 60, 1 << 60),
            (12345, 67890),
        ] {
            let want = (u128::from(a) * u128::from(b) % u128::from(P)) as u64;
            assert_eq!(mul_mod(a, b), want, "{a} * {b}");
        }
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
