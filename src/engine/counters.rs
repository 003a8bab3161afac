//! What the engine counts as it works, and the families it writes to
//! `/metrics`: requests by type, the store, subscriptions, the history,
//! expiry, and (through its journal) the write-ahead log.
//!
//! Counting is an add to a plain field of the engine, which the loop owns:
//! one per request, nothing per subscriber.

use super::Engine;
use crate::metrics::{Exposition, Kind};
use crate::protocol::Request;

/// The label values of `kvws_ws_messages_received_total{type}`: the
/// request types, `custom` (a type the engine does not know, for the
/// embedding program's hooks), `invalid` (not a request: bad JSON, a
/// missing field, a binary frame that is not UTF-8) and `ignored` (sent by
/// a connection being closed after too many failed authentications).
pub const RECEIVED_TYPES: [&str; 11] = [
    "set",
    "get",
    "delete",
    "subscribe",
    "unsubscribe",
    "list",
    "auth",
    "upgrade",
    "custom",
    "invalid",
    "ignored",
];

const CUSTOM: usize = 8;
/// Index of `invalid` in [`RECEIVED_TYPES`].
pub(super) const INVALID: usize = 9;
/// Index of `ignored` in [`RECEIVED_TYPES`].
pub(super) const IGNORED: usize = 10;

/// The engine's counters.
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Messages received, by [`RECEIVED_TYPES`].
    pub received: [u64; RECEIVED_TYPES.len()],
    /// Keys expired (with a shared log: proposed for expiry by this node).
    pub expired: u64,
}

impl Counters {
    /// Counts one request by its type.
    #[inline]
    pub fn request(&mut self, request: &Request) {
        let i = match request {
            Request::Set { .. } => 0,
            Request::Get { .. } => 1,
            Request::Delete { .. } => 2,
            Request::Subscribe { .. } => 3,
            Request::Unsubscribe { .. } => 4,
            Request::List { .. } => 5,
            Request::Auth { .. } => 6,
            Request::Upgrade { .. } => 7,
            Request::Other { .. } => CUSTOM,
        };
        self.received[i] += 1;
    }
}

impl Engine {
    /// Writes the engine's families (and its journal's) to `out`.
    pub fn write_metrics(&self, out: &mut Exposition) {
        let c = &self.counters;
        out.counters(
            "kvws_ws_messages_received_total",
            "WebSocket messages received, by request type (custom: a type for the embedding program; invalid: not a valid request; ignored: after too many failed authentications).",
            "type",
            RECEIVED_TYPES.iter().copied().zip(c.received),
        );
        out.gauge(
            "kvws_websockets",
            "Open WebSocket connections (sessions in the engine).",
            self.sessions.len(),
        );
        out.gauge("kvws_keys", "Keys stored.", self.store.len());
        out.gauge(
            "kvws_store_bytes",
            "Bytes the keys and values take, as counted against --max-memory.",
            self.store.bytes(),
        );
        out.gauge(
            "kvws_memory_bytes",
            "Bytes counted against --max-memory: the store, subscriptions, deadlines and ephemeral keys' owners.",
            self.memory(),
        );
        out.gauge(
            "kvws_memory_limit_bytes",
            "--max-memory: past it writes get store_full.",
            self.limits.max_memory,
        );
        out.family(
            "kvws_subscriptions",
            Kind::Gauge,
            "Subscriptions held by all connections, by kind.",
        );
        let prefixes = self.subs.prefix_count();
        out.sample(
            "kvws_subscriptions",
            &[("kind", "key")],
            self.subs.len() - prefixes,
        );
        out.sample("kvws_subscriptions", &[("kind", "prefix")], prefixes);
        out.gauge(
            "kvws_history_changes",
            "Changes kept for resuming with since (bounded by --history).",
            self.history.len(),
        );
        out.gauge(
            "kvws_history_bytes",
            "Bytes of changes kept for since (bounded by --history-bytes).",
            self.history.bytes(),
        );
        out.gauge(
            "kvws_keys_with_ttl",
            "Keys with a deadline, waiting to expire.",
            self.expiry.len(),
        );
        out.counter(
            "kvws_keys_expired_total",
            "Keys expired by this node (in cluster mode: proposed for expiry).",
            c.expired,
        );
        out.gauge(
            "kvws_revision",
            "The store's current revision (that of the latest change).",
            self.rev,
        );
        out.gauge(
            "kvws_jobs",
            "Requests being answered in slices (large lists, snapshots, replays).",
            self.jobs.len(),
        );
        if let Some(journal) = &self.journal {
            journal.write_metrics(out);
        }
    }
}
