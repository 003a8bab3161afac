//! The subscriptions a [`Subscriber`](super::Subscriber) keeps alive, and
//! the revision each one would resume from.
//!
//! The protocol's promise after a reconnect is: resubscribe with `since` =
//! the last revision received *for that subscription*, and get every change
//! missed or an explicit `resync`. So each subscription remembers the
//! largest revision among the messages it covers (values, deletions) and
//! its `subscribed` replies (for a prefix or a replay, the store's revision
//! then, which is at least that of anything it covers). The maximum, not
//! the latest: replayed changes are delivered after the reply that ends the
//! replay has been recorded. A `resync` reply is the exception: it *sets*
//! the revision, since what was held before no longer counts (the server
//! may even be a new one whose revisions are lower).

use super::reply::{Event, Subscribed};
use super::request::Topic;

/// One subscription and where it would resume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The namespace.
    pub id: String,
    /// The key or prefix.
    pub topic: Topic,
    /// The revision to resume after (`since` on the next subscribe).
    pub last_rev: u64,
}

/// Subscriptions in the order they were made.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tracker {
    subs: Vec<Subscription>,
}

impl Tracker {
    /// Every subscription, in the order made.
    pub fn list(&self) -> &[Subscription] {
        &self.subs
    }

    /// Records the reply to a subscribe (a new subscription, a repeated
    /// one, or a resumed one).
    pub fn subscribed(&mut self, id: &str, reply: &Subscribed) {
        match self
            .subs
            .iter_mut()
            .find(|s| s.id == id && s.topic == reply.topic)
        {
            Some(s) if reply.resync => s.last_rev = reply.rev,
            Some(s) => s.last_rev = s.last_rev.max(reply.rev),
            None => self.subs.push(Subscription {
                id: id.to_string(),
                topic: reply.topic.clone(),
                last_rev: reply.rev,
            }),
        }
    }

    /// Forgets a subscription.
    pub fn remove(&mut self, id: &str, topic: &Topic) {
        self.subs.retain(|s| !(s.id == id && &s.topic == topic));
    }

    /// Takes note of a message delivered to the caller.
    pub fn observe(&mut self, event: &Event) {
        let (Some(id), Some(key), Some(rev)) = (&event.id, &event.key, event.rev) else {
            return;
        };
        if !matches!(event.kind.as_str(), "value" | "deleted") {
            return;
        }
        for s in self
            .subs
            .iter_mut()
            .filter(|s| &s.id == id && s.topic.matches(key))
        {
            s.last_rev = s.last_rev.max(rev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(topic: Topic, rev: u64, resync: bool) -> Subscribed {
        Subscribed {
            topic,
            rev,
            value: None,
            resync,
            text: String::new(),
        }
    }

    fn event(kind: &str, id: &str, key: &str, rev: u64) -> Event {
        Event {
            kind: kind.into(),
            id: Some(id.into()),
            key: Some(key.into()),
            prefix: None,
            value: None,
            rev: Some(rev),
            reason: None,
            resync: false,
            req: None,
            text: String::new(),
        }
    }

    fn revs(t: &Tracker) -> Vec<u64> {
        t.list().iter().map(|s| s.last_rev).collect()
    }

    #[test]
    fn each_subscription_keeps_the_largest_revision_it_covers() {
        let mut t = Tracker::default();
        t.subscribed("a", &reply(Topic::key("k"), 0, false));
        t.subscribed("a", &reply(Topic::prefix("room/"), 10, false));
        t.subscribed("b", &reply(Topic::prefix(""), 10, false));
        assert_eq!(revs(&t), [0, 10, 10]);
        t.observe(&event("value", "a", "k", 11));
        assert_eq!(revs(&t), [11, 10, 10]);
        t.observe(&event("deleted", "a", "room/1", 12));
        t.observe(&event("value", "b", "room/1", 13));
        assert_eq!(revs(&t), [11, 12, 13]);
        // A replayed change delivered after the reply that ended the replay.
        t.subscribed("a", &reply(Topic::prefix("room/"), 20, false));
        t.observe(&event("value", "a", "room/2", 15));
        assert_eq!(revs(&t), [11, 20, 13]);
        // Not a change: ignored.
        t.observe(&event("subscribed", "a", "k", 99));
        let mut no_rev = event("value", "a", "k", 0);
        no_rev.rev = None;
        t.observe(&no_rev);
        assert_eq!(revs(&t), [11, 20, 13]);
    }

    #[test]
    fn a_resync_sets_the_revision_and_unsubscribing_forgets() {
        let mut t = Tracker::default();
        t.subscribed("a", &reply(Topic::key("k"), 50, false));
        t.subscribed("a", &reply(Topic::key("k"), 3, true));
        assert_eq!(revs(&t), [3]);
        assert_eq!(t.list().len(), 1);
        t.subscribed("a", &reply(Topic::prefix("p"), 4, false));
        t.remove("a", &Topic::key("k"));
        assert_eq!(t.list()[0].topic, Topic::prefix("p"));
        t.remove("a", &Topic::key("nothing"));
        assert_eq!(t.list().len(), 1);
    }
}
