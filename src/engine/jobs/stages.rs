//! The stages of a job: indexing a namespace a chunk at a time, the
//! values of a prefix snapshot, the changes since it began (or since
//! `since`), and going live.

use std::collections::HashMap;

use super::super::{Engine, Outbound};
use super::{BATCH, INDEX_CHUNK, POLICY_VIOLATION, Replay, Slice, Stage, req_of};
use crate::conn_id::ConnId;
use crate::protocol::{ErrorCode, encode};
use crate::subscriptions::OwnedTopic;

impl Engine {
    /// Works on `id`'s ordered index within the slice; whether it is built.
    pub(super) fn build_index(&mut self, id: &str, slice: &mut Slice) -> bool {
        while !slice.spent() {
            let mut chunk = INDEX_CHUNK.min(slice.work);
            let given = chunk;
            let done = self.store.build_index(id, &mut chunk);
            slice.work -= given - chunk;
            if done {
                return true;
            }
        }
        false
    }

    /// Waits for the index, then checks the snapshot's size. `None`: the
    /// job ended (with an error).
    pub(super) fn index_stage(
        &mut self,
        conn: ConnId,
        id: &str,
        topic: &OwnedTopic,
        req: &Option<Box<str>>,
        slice: &mut Slice,
        out: &mut impl Outbound,
    ) -> Option<Stage> {
        let OwnedTopic::Prefix(prefix) = topic else {
            unreachable!("key subscriptions need no snapshot job");
        };
        if !self.build_index(id, slice) {
            return Some(Stage::Index);
        }
        let max = self.limits.max_prefix_snapshot;
        if self.store.count_under(id, prefix, max) == Some(None) {
            let message = format!(
                "more than {max} keys match prefix '{prefix}'; page through them with list"
            );
            self.error(conn, req_of(req), ErrorCode::TooManyKeys, &message, out);
            return None;
        }
        Some(Stage::Values {
            from: self.rev,
            cursor: None,
            newer: HashMap::new(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn values_stage(
        &mut self,
        conn: ConnId,
        id: &str,
        topic: &OwnedTopic,
        from: u64,
        mut cursor: Option<Box<str>>,
        mut newer: HashMap<Box<str>, u64>,
        slice: &mut Slice,
        out: &mut impl Outbound,
    ) -> Stage {
        let OwnedTopic::Prefix(prefix) = topic else {
            unreachable!("only prefixes have snapshots");
        };
        while !slice.spent() {
            let Some(batch) =
                self.store
                    .entries_under(id, prefix, cursor.as_deref(), BATCH.min(slice.work))
            else {
                // The index is gone only with the namespace: nothing left.
                break;
            };
            if batch.is_empty() {
                return Stage::Changes { after: from, newer };
            }
            for (key, entry) in batch {
                self.buf.clear();
                encode::value(&mut self.buf, id, key, Some(&entry.value), entry.rev, None);
                out.send(conn, &self.buf);
                slice.sent(self.buf.len());
                if entry.rev > from {
                    newer.insert(key.into(), entry.rev);
                }
                cursor = Some(key.into());
                if slice.room == 0 {
                    break;
                }
            }
        }
        Stage::Values {
            from,
            cursor,
            newer,
        }
    }

    /// Sends the changes after `after`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn changes_stage(
        &mut self,
        conn: ConnId,
        id: &str,
        topic: &OwnedTopic,
        mut after: u64,
        newer: HashMap<Box<str>, u64>,
        slice: &mut Slice,
        out: &mut impl Outbound,
    ) -> Replay {
        if !self.history.covers(after) {
            log::warn!(
                "{conn}: the history moved past a subscription being set up; closing it as a slow consumer"
            );
            out.close(conn, POLICY_VIOLATION, "too slow to catch up");
            return Replay::TooSlow;
        }
        for (i, change) in self.history.after(after).enumerate() {
            if (i % 64 == 0 && slice.spent()) || slice.room == 0 || slice.work == 0 {
                return Replay::More(Stage::Changes { after, newer });
            }
            after = change.rev;
            slice.work = slice.work.saturating_sub(1);
            let matches = *change.id == *id
                && match topic {
                    OwnedTopic::Key(k) => *change.key == **k,
                    OwnedTopic::Prefix(p) => change.key.starts_with(&**p),
                };
            if !matches
                || newer
                    .get(change.key)
                    .is_some_and(|&sent| sent >= change.rev)
                || self.subs.watches(conn, id, change.key)
            {
                continue;
            }
            out.send_frame(conn, change.frame);
            slice.room = slice.room.saturating_sub(change.frame.bytes.len());
        }
        Replay::CaughtUp
    }

    /// The job has caught up: the subscription becomes live now, in the
    /// same step as its last slice.
    pub(super) fn go_live(
        &mut self,
        conn: ConnId,
        id: &str,
        topic: &OwnedTopic,
        resync: bool,
        req: &Option<Box<str>>,
        out: &mut impl Outbound,
    ) {
        if !self.allows(conn, id, false, self.now_ms) {
            let message =
                format!("the token granting '{id}' has expired; send a fresh one with auth");
            return self.error(conn, req_of(req), ErrorCode::TokenExpired, &message, out);
        }
        let topic = topic.as_topic();
        self.add_subscription(conn, id, &topic);
        self.subscribed(conn, req_of(req), id, &topic, resync, out);
    }
}
