//! Requests that change nothing in the store: `get`, `list`, `subscribe`
//! (with its snapshot or replay) and `unsubscribe`.

use super::{Engine, Outbound};
use crate::conn_id::ConnId;
use crate::protocol::Json;
use crate::protocol::{ErrorCode, Topic, encode};
use crate::subscriptions::Subscriptions;

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
        // Answered at once unless the namespace's index must be built first.
        let job = Engine::list_job(id, prefix, after, limit, req);
        self.start_job(conn, job, out);
    }

    /// Answers a `list` (the namespace's index is built).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn answer_list(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        out: &mut impl Outbound,
    ) {
        let (keys, more) = self
            .store
            .list(id, prefix, after, limit)
            .unwrap_or_default();
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
        let already = self.subs.contains(conn, id, topic);
        if self.subs.count(conn) >= max_subs && !already {
            let message =
                format!("this connection already holds {max_subs} subscriptions, the most allowed");
            return self.error(conn, req, ErrorCode::TooManySubscriptions, &message, out);
        }
        if !already && self.memory() + Subscriptions::cost(id, topic) > self.limits.max_memory {
            let message = format!(
                "the server's memory limit is reached ({} of {} bytes used); nothing was subscribed",
                self.memory(),
                self.limits.max_memory
            );
            return self.error(conn, req, ErrorCode::StoreFull, &message, out);
        }
        match (topic, resume) {
            // A replay of what the client missed, or a prefix snapshot: in
            // slices, under flow control (see `jobs`).
            (_, Some(_)) | (Topic::Prefix(_), None) => {
                let job = Engine::subscribe_job(id, topic, resume, resync, req);
                self.start_job(conn, job, out);
            }
            (Topic::Key(key), None) => {
                self.add_subscription(conn, id, topic);
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

    /// Adds a subscription and counts its memory.
    pub(super) fn add_subscription(&mut self, conn: ConnId, id: &str, topic: &Topic) {
        self.subs.add(conn, id, topic);
    }

    pub(super) fn subscribed(
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
