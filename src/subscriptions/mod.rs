//! Who watches what: (id, key) and (id, prefix) → connections, and each
//! connection → its subscriptions, so that a closing connection leaves
//! nothing behind.
//!
//! Finding the subscribers of a change must not cost a scan of every
//! subscription: exact keys are one hash lookup, and prefixes are found in
//! time linear in the key's length (see [`prefixes`]).

use std::collections::{HashMap, HashSet};

use crate::conn_id::ConnId;
use crate::protocol::Topic;
use crate::store::heap;

mod prefixes;

use prefixes::PrefixIndex;

/// A subscription target owned by the index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnedTopic {
    /// One key.
    Key(Box<str>),
    /// Every key under a prefix.
    Prefix(Box<str>),
}

impl OwnedTopic {
    /// The borrowed form used by the protocol encoders.
    pub fn as_topic(&self) -> Topic<'_> {
        match self {
            OwnedTopic::Key(k) => Topic::Key((&**k).into()),
            OwnedTopic::Prefix(p) => Topic::Prefix((&**p).into()),
        }
    }
}

impl From<&Topic<'_>> for OwnedTopic {
    fn from(t: &Topic<'_>) -> Self {
        match t {
            Topic::Key(k) => OwnedTopic::Key((**k).into()),
            Topic::Prefix(p) => OwnedTopic::Prefix((**p).into()),
        }
    }
}

#[derive(Default)]
struct Namespace {
    keys: HashMap<Box<str>, Vec<ConnId>>,
    prefixes: PrefixIndex,
}

impl Namespace {
    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.prefixes.is_empty()
    }
}

/// Bytes a subscription costs besides its names: its entries in both
/// indexes (hash-table slots, a connection list) at their usual fill.
const SUBSCRIPTION_OVERHEAD: usize = 128;

/// The subscription index.
#[derive(Default)]
pub struct Subscriptions {
    spaces: HashMap<Box<str>, Namespace>,
    by_conn: HashMap<ConnId, HashSet<(Box<str>, OwnedTopic)>>,
    total: usize,
    /// How many of `total` are prefix subscriptions.
    prefixes: usize,
    bytes: usize,
}

impl Subscriptions {
    /// An empty index.
    pub fn new() -> Self {
        Subscriptions::default()
    }

    /// Bytes one subscription to `topic` in `id` costs (its names are kept
    /// twice: by topic and by connection), counted in `--max-memory`.
    pub fn cost(id: &str, topic: &Topic) -> usize {
        let name = match topic {
            Topic::Key(k) | Topic::Prefix(k) => k.len(),
        };
        2 * (heap(id.len()) + heap(name)) + SUBSCRIPTION_OVERHEAD
    }

    /// Bytes all subscriptions cost.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Subscribes `conn`; returns `false` if it already was (one subscription).
    pub fn add(&mut self, conn: ConnId, id: &str, topic: &Topic) -> bool {
        let owned = OwnedTopic::from(topic);
        let mine = self.by_conn.entry(conn).or_default();
        if !mine.insert((id.into(), owned)) {
            return false;
        }
        let space = self.spaces.entry(id.into()).or_default();
        match topic {
            Topic::Key(k) => space.keys.entry((**k).into()).or_default().push(conn),
            Topic::Prefix(p) => {
                space.prefixes.add(p, conn);
                self.prefixes += 1;
            }
        }
        self.total += 1;
        self.bytes += Subscriptions::cost(id, topic);
        true
    }

    /// Unsubscribes `conn`; returns `false` if it was not subscribed.
    pub fn remove(&mut self, conn: ConnId, id: &str, topic: &Topic) -> bool {
        let Some(mine) = self.by_conn.get_mut(&conn) else {
            return false;
        };
        if !mine.remove(&(id.into(), OwnedTopic::from(topic))) {
            return false;
        }
        if mine.is_empty() {
            self.by_conn.remove(&conn);
        }
        self.unlink(conn, id, &OwnedTopic::from(topic));
        true
    }

    /// Removes every subscription of `conn` (it closed or lost its rights),
    /// returning how many there were.
    pub fn remove_all(&mut self, conn: ConnId) -> usize {
        let Some(mine) = self.by_conn.remove(&conn) else {
            return 0;
        };
        let n = mine.len();
        for (id, topic) in mine {
            self.unlink(conn, &id, &topic);
        }
        n
    }

    fn unlink(&mut self, conn: ConnId, id: &str, topic: &OwnedTopic) {
        self.total -= 1;
        if matches!(topic, OwnedTopic::Prefix(_)) {
            self.prefixes -= 1;
        }
        self.bytes -= Subscriptions::cost(id, &topic.as_topic());
        let Some(space) = self.spaces.get_mut(id) else {
            return;
        };
        match topic {
            OwnedTopic::Key(k) => {
                if let Some(subs) = space.keys.get_mut(&**k) {
                    if let Some(i) = subs.iter().position(|c| *c == conn) {
                        subs.swap_remove(i);
                    }
                    if subs.is_empty() {
                        space.keys.remove(&**k);
                    }
                }
            }
            OwnedTopic::Prefix(p) => space.prefixes.remove(p, conn),
        }
        if space.is_empty() {
            self.spaces.remove(id);
        }
    }

    /// Appends to `out` every connection watching `id`/`key`, each once.
    pub fn subscribers(&self, id: &str, key: &str, out: &mut Vec<ConnId>) {
        let Some(space) = self.spaces.get(id) else {
            return;
        };
        let start = out.len();
        if let Some(subs) = space.keys.get(key) {
            out.extend_from_slice(subs);
        }
        if space.prefixes.matching(key, out) {
            // A connection may match through several subscriptions; it gets
            // the change once.
            let mine = &mut out[start..];
            mine.sort_unstable();
            let mut unique = start;
            for i in start..out.len() {
                if i == start || out[i] != out[unique - 1] {
                    out[unique] = out[i];
                    unique += 1;
                }
            }
            out.truncate(unique);
        }
    }

    /// Whether one of `conn`'s subscriptions covers `id`/`key` (it gets
    /// that key's changes).
    pub fn watches(&self, conn: ConnId, id: &str, key: &str) -> bool {
        let Some(space) = self.spaces.get(id) else {
            return false;
        };
        space.keys.get(key).is_some_and(|c| c.contains(&conn))
            || space.prefixes.matches_for(key, conn)
    }

    /// Whether `conn` holds this subscription.
    pub fn contains(&self, conn: ConnId, id: &str, topic: &Topic) -> bool {
        self.by_conn
            .get(&conn)
            .is_some_and(|mine| mine.contains(&(id.into(), OwnedTopic::from(topic))))
    }

    /// Every subscription of `conn`, copied (for re-checking rights).
    pub fn topics(&self, conn: ConnId) -> Vec<(Box<str>, OwnedTopic)> {
        self.by_conn
            .get(&conn)
            .map(|mine| mine.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of subscriptions `conn` holds.
    pub fn count(&self, conn: ConnId) -> usize {
        self.by_conn.get(&conn).map_or(0, HashSet::len)
    }

    /// Number of subscriptions held by all connections.
    pub fn len(&self) -> usize {
        self.total
    }

    /// How many of the subscriptions are to a prefix.
    pub fn prefix_count(&self) -> usize {
        self.prefixes
    }

    /// Whether nobody subscribes to anything.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[u64]) -> Vec<ConnId> {
        raw.iter().map(|&r| ConnId::from(r)).collect()
    }

    fn key(k: &str) -> Topic<'_> {
        Topic::Key(k.into())
    }
    fn prefix(p: &str) -> Topic<'_> {
        Topic::Prefix(p.into())
    }
    fn subs(s: &Subscriptions, id: &str, k: &str) -> Vec<ConnId> {
        let mut out = Vec::new();
        s.subscribers(id, k, &mut out);
        out.sort();
        out
    }

    #[test]
    fn subscribing_twice_is_one_subscription() {
        let mut s = Subscriptions::new();
        assert!(s.add(ConnId::from(1), "app", &key("k")));
        assert!(!s.add(ConnId::from(1), "app", &key("k")));
        assert_eq!(subs(&s, "app", "k"), ids(&[1]));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn ids_scope_subscriptions() {
        let mut s = Subscriptions::new();
        s.add(ConnId::from(1), "a", &key("k"));
        s.add(ConnId::from(2), "b", &key("k"));
        assert_eq!(subs(&s, "a", "k"), ids(&[1]));
        assert_eq!(subs(&s, "b", "k"), ids(&[2]));
        assert!(subs(&s, "c", "k").is_empty());
    }

    #[test]
    fn closing_a_connection_leaves_nothing_behind() {
        let mut s = Subscriptions::new();
        s.add(ConnId::from(1), "app", &key("k"));
        s.add(ConnId::from(1), "app", &prefix("room/"));
        s.add(ConnId::from(2), "app", &key("k"));
        assert_eq!(s.remove_all(ConnId::from(1)), 2);
        assert_eq!(subs(&s, "app", "k"), ids(&[2]));
        assert!(subs(&s, "app", "room/1").is_empty());
        assert_eq!(s.remove_all(ConnId::from(2)), 1);
        assert!(s.is_empty());
        assert!(s.spaces.is_empty() && s.by_conn.is_empty());
    }

    #[test]
    fn prefixes_match_and_each_connection_gets_a_change_once() {
        let mut s = Subscriptions::new();
        s.add(ConnId::from(1), "app", &prefix("room/"));
        s.add(ConnId::from(1), "app", &prefix("room/1"));
        s.add(ConnId::from(1), "app", &key("room/17"));
        s.add(ConnId::from(2), "app", &prefix(""));
        s.add(ConnId::from(3), "app", &prefix("roof"));
        assert_eq!(subs(&s, "app", "room/17"), ids(&[1, 2]));
        assert_eq!(subs(&s, "app", "roof/x"), ids(&[2, 3]));
        assert_eq!(subs(&s, "app", "r"), ids(&[2]));
    }

    #[test]
    fn unsubscribe_removes_only_that_subscription() {
        let mut s = Subscriptions::new();
        s.add(ConnId::from(1), "app", &prefix("p"));
        s.add(ConnId::from(2), "app", &prefix("p"));
        assert!(s.remove(ConnId::from(1), "app", &prefix("p")));
        assert!(!s.remove(ConnId::from(1), "app", &prefix("p")));
        assert_eq!(subs(&s, "app", "px"), ids(&[2]));
        assert!(s.remove(ConnId::from(2), "app", &prefix("p")));
        assert!(s.is_empty() && s.spaces.is_empty());
    }

    #[test]
    fn prefix_lengths_do_not_split_characters() {
        let mut s = Subscriptions::new();
        s.add(ConnId::from(1), "app", &prefix("é"));
        s.add(ConnId::from(2), "app", &prefix("a"));
        // "aé": length 2 falls inside "é"; it must be skipped, not panic.
        assert_eq!(subs(&s, "app", "aé"), ids(&[2]));
        assert_eq!(subs(&s, "app", "éa"), ids(&[1]));
    }
}
