//! Requests that change nothing in the store: `get`, `list`, `subscribe`
//! (with its snapshot or replay) and `unsubscribe`.

use super::{DEFAULT_LIST_LIMIT, Engine, MAX_LIST_LIMIT, Outbound};
use crate::conn_id::ConnId;
use crate::protocol::Json;
use crate::protocol::{ErrorCode, Topic, encode};

impl Engine {
    pub(super) fn get(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        id: &str,
        key: &str,
        out: &mut impl Outbound,
    ) {
        let entry = self.store.get(id, key);
        self.buf.clear();
        encode::value(
            &mut self.buf,
            id,
            key,
            entry.map(|e| &*e.value),
            entry.map_or(0, |e| e.rev),
            req,
        );
        out.send(conn, &self.buf);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn list(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: Option<u64>,
        out: &mut impl Outbound,
    ) {
        let limit = limit.map_or(DEFAULT_LIST_LIMIT, |l| {
            l.min(MAX_LIST_LIMIT as u64) as usize
        });
        let (keys, more) = self.store.list(id, prefix, after, limit);
        self.buf.clear();
        encode::Obj::new(&mut self.buf, "keys")
            .str("id", id)
            .str("prefix", prefix)
            .strs("keys", keys)
            .bool("more", more)
            .req(req)
            .end();
        out.send(conn, &self.buf);
    }

    pub(super) fn subscribe(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        id: &str,
        topic: &Topic,
        since: Option<u64>,
        out: &mut impl Outbound,
    ) {
        let resume = since.filter(|&s| self.history.covers(s) && s <= self.rev);
        let resync = since.is_some() && resume.is_none();
        // Check everything that can fail before subscribing: an error leaves
        // the connection exactly as it was.
        let max_subs = self.limits.max_subscriptions;
        if self.subs.count(conn) >= max_subs && !self.subs.contains(conn, id, topic) {
            let message =
                format!("this connection already holds {max_subs} subscriptions, the most allowed");
            return self.error(conn, req, ErrorCode::TooManySubscriptions, &message, out);
        }
        let max_keys = self.limits.max_prefix_snapshot;
        if let (Topic::Prefix(prefix), None) = (topic, resume)
            && self.store.prefix_snapshot(id, prefix, max_keys).is_none()
        {
            let message = format!(
                "more than {max_keys} keys match prefix '{prefix}'; page through them with list"
            );
            return self.error(conn, req, ErrorCode::TooManyKeys, &message, out);
        }
        self.subs.add(conn, id, topic);

        if let Some(since) = resume {
            // Replay exactly what the client missed, then mark the end of it.
            for change in self.history.after(since) {
                let matches = match topic {
                    Topic::Key(k) => *change.key == **k,
                    Topic::Prefix(p) => change.key.starts_with(&**p),
                };
                if matches && *change.id == *id {
                    out.send_frame(conn, change.frame);
                }
            }
            return self.subscribed(conn, req, id, topic, false, out);
        }
        match topic {
            Topic::Prefix(prefix) => {
                // One `value` per key (counted above), then the direct reply.
                let entries = self
                    .store
                    .prefix_snapshot(id, prefix, max_keys)
                    .unwrap_or_default();
                for (key, entry) in entries {
                    self.buf.clear();
                    encode::value(&mut self.buf, id, key, Some(&entry.value), entry.rev, None);
                    out.send(conn, &self.buf);
                }
                self.subscribed(conn, req, id, topic, resync, out);
            }
            Topic::Key(key) => {
                // The R protocol's reply: the current value (`null` if none).
                let entry = self.store.get(id, key);
                self.buf.clear();
                encode::Obj::new(&mut self.buf, "value")
                    .str("id", id)
                    .str("key", key)
                    .value("value", entry.map(|e| &*e.value))
                    .u64("rev", entry.map_or(0, |e| e.rev))
                    .flag("resync", resync)
                    .req(req)
                    .end();
                out.send(conn, &self.buf);
            }
        }
    }

    fn subscribed(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        id: &str,
        topic: &Topic,
        resync: bool,
        out: &mut impl Outbound,
    ) {
        self.buf.clear();
        encode::Obj::new(&mut self.buf, "subscribed")
            .str("id", id)
            .topic(topic)
            .u64("rev", self.rev)
            .flag("resync", resync)
            .req(req)
            .end();
        out.send(conn, &self.buf);
    }

    pub(super) fn unsubscribe(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        id: &str,
        topic: &Topic,
        out: &mut impl Outbound,
    ) {
        self.subs.remove(conn, id, topic);
        // As in the R protocol there is no reply, unless the client asked for
        // one by giving `req`.
        if req.is_some() {
            self.buf.clear();
            encode::Obj::new(&mut self.buf, "unsubscribed")
                .str("id", id)
                .topic(topic)
                .req(req)
                .end();
            out.send(conn, &self.buf);
        }
    }
}
