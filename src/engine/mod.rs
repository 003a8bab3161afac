//! The engine: applies one request to the store and says who gets what.
//!
//! It owns every piece of protocol state (store, subscriptions, history,
//! expiry queue, per-connection sessions, the revision counter) and knows
//! nothing of sockets: output goes through the [`Outbound`] trait, which the
//! server implements over its connections and tests implement over a `Vec`.
//! Time comes in as an argument, so expiry is testable without sleeping.
//!
//! A change is encoded and framed once; the same bytes go to the history and
//! to every subscriber's queue.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;

use crate::auth::{Grants, Secret};
use crate::change::Journal;
use crate::config::Config;
use crate::conn_id::ConnId;
use crate::expiry::Expiry;
use crate::history::History;
use crate::protocol::Json;
use crate::protocol::{self, ErrorCode, ParseLimits, Request, encode};
use crate::store::Store;
use crate::subscriptions::Subscriptions;

mod access;
mod background;
mod changes;
mod counters;
mod durable;
mod in_flight;
mod jobs;
mod outbound;
mod reads;
mod replica;
mod shared;
mod writes;

pub use background::Background;
pub use outbound::{Outbound, StoreError, Unknown};
pub use shared::{Op, Outcome, Proposal};

/// Largest page a `list` returns, whatever `limit` asks for.
pub const MAX_LIST_LIMIT: usize = 1000;
/// Page size of a `list` without `limit`.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// Keys expired per loop iteration at most, so a mass expiry cannot stall
/// the clients waiting behind it; the rest go in the next iterations.
pub const EXPIRE_BATCH: usize = 1000;
/// Ephemeral keys of closed connections deleted per loop iteration at
/// most: a client that held 600,000 of them and left would otherwise stop
/// the loop for over a second.
pub const REAP_BATCH: usize = 1000;

/// The limits the engine enforces, taken from [`Config`].
#[derive(Clone, Debug)]
struct Limits {
    parse: ParseLimits,
    max_value_size: usize,
    max_memory: usize,
    max_subscriptions: usize,
    max_prefix_snapshot: usize,
    /// The signing secret and clock leeway (seconds); `None`: open mode.
    auth: Option<(Secret, u64)>,
}

/// What the engine knows about one connection.
#[derive(Default)]
struct Session {
    /// Ephemeral keys this connection owns: deleted when it closes.
    owned: HashSet<(Box<str>, Box<str>)>,
    /// What `owned` costs (counted in the engine's `owned_bytes`).
    owned_bytes: usize,
    /// What its tokens allow (unused in open mode).
    grants: Grants,
    /// Failed `auth`/`upgrade` attempts.
    failures: u32,
    /// Its entries in the engine's `token_deadlines`, removed when it closes.
    deadlines: BTreeSet<u64>,
    /// The client's address, for the log.
    peer: Option<SocketAddr>,
    /// Its write waiting for the shared log (cluster mode).
    /// In cluster mode: its writes in flight and the replies held behind
    /// them, in request order.
    owed: std::collections::VecDeque<in_flight::Owed>,
}

/// The ephemeral keys of a closed connection, being deleted.
type OwnedKeys = std::collections::hash_set::IntoIter<(Box<str>, Box<str>)>;

/// The protocol state machine.
pub struct Engine {
    store: Store,
    subs: Subscriptions,
    history: History,
    expiry: Expiry,
    sessions: HashMap<ConnId, Session>,
    /// (Unix second, connection): when a token grant of a connection ends.
    token_deadlines: BTreeSet<(u64, ConnId)>,
    rev: u64,
    limits: Limits,
    /// Scratch buffer for encoding replies, reused across requests.
    buf: Vec<u8>,
    /// The current change's notification, framed (reused across changes)...
    frame_buf: Vec<u8>,
    /// ... and in a shared allocation when it is large.
    frame_arc: Option<std::sync::Arc<[u8]>>,
    /// Scratch list of a change's recipients, reused across changes.
    recipients: Vec<ConnId>,
    /// Where changes become durable (`None`: in memory only).
    journal: Option<Box<dyn Journal>>,
    history_len: usize,
    history_bytes: usize,
    /// Requests being answered in slices, by connection (see [`jobs`]).
    jobs: HashMap<ConnId, jobs::Job>,
    /// Which job goes first in the next step.
    job_turn: usize,
    /// The time of the message or step being handled (ms since the epoch).
    now_ms: u64,
    /// Ephemeral keys of closed connections, still to delete: each closed
    /// connection's set, taken over whole (no pass over it when it closes)
    /// and emptied a batch a step.
    reaping: VecDeque<(ConnId, OwnedKeys)>,
    /// Expiry waits until then after the log refused a deletion.
    expiry_paused_until: Option<u64>,
    /// Bytes of the connections' lists of ephemeral keys.
    owned_bytes: usize,
    /// The shared log's side, in cluster mode (see [`shared`]).
    shared: Option<shared::Shared>,
    /// Connections whose request in progress ended, to read again.
    finished: Vec<ConnId>,
    /// Bytes of writes in flight and replies held behind them (cluster
    /// mode), see [`in_flight`].
    in_flight_bytes: usize,
    /// What `/metrics` shows of the engine's work (see [`counters`]).
    counters: counters::Counters,
}

impl Engine {
    /// An empty engine whose first change gets revision `start_rev + 1`.
    pub fn new(config: &Config, start_rev: u64) -> Self {
        Engine {
            store: Store::new(),
            subs: Subscriptions::new(),
            history: History::new(start_rev, config.history_len, config.history_bytes),
            expiry: Expiry::new(),
            sessions: HashMap::new(),
            token_deadlines: BTreeSet::new(),
            rev: start_rev,
            limits: Limits {
                parse: ParseLimits {
                    max_name_length: config.max_name_length,
                },
                max_value_size: config.max_value_size,
                max_memory: config.max_memory,
                max_subscriptions: config.max_subscriptions,
                max_prefix_snapshot: config.max_prefix_snapshot,
                auth: config
                    .secret
                    .clone()
                    .map(|s| (s, config.token_leeway.as_secs())),
            },
            buf: Vec::with_capacity(256),
            frame_buf: Vec::with_capacity(256),
            frame_arc: None,
            recipients: Vec::new(),
            journal: None,
            history_len: config.history_len,
            history_bytes: config.history_bytes,
            jobs: HashMap::new(),
            job_turn: 0,
            now_ms: 0,
            reaping: VecDeque::new(),
            expiry_paused_until: None,
            owned_bytes: 0,
            shared: None,
            finished: Vec::new(),
            in_flight_bytes: 0,
            counters: counters::Counters::default(),
        }
    }

    /// Registers a new connection (`peer` is only used in log lines).
    pub fn open(&mut self, conn: ConnId, peer: Option<SocketAddr>) {
        self.sessions.insert(
            conn,
            Session {
                peer,
                ..Session::default()
            },
        );
    }

    /// Forgets a connection: drops its subscriptions and any request in
    /// progress, and deletes the ephemeral keys it owns (their subscribers
    /// are told why): the first [`REAP_BATCH`] now, the rest in the next
    /// loop steps ([`Engine::background`]).
    pub fn close(&mut self, conn: ConnId, out: &mut impl Outbound) {
        self.subs.remove_all(conn);
        self.jobs.remove(&conn);
        let Some(session) = self.sessions.remove(&conn) else {
            return;
        };
        for at in &session.deadlines {
            self.token_deadlines.remove(&(*at, conn));
        }
        self.owned_bytes -= session.owned_bytes;
        self.forget_owed(&session.owed);
        if !session.owned.is_empty() {
            self.reaping.push_back((conn, session.owned.into_iter()));
            self.reap(out);
        }
    }

    /// Handles one text message from `conn` at time `now` (ms since the
    /// epoch). A message of a type the engine does not know is returned
    /// unanswered; pass it to [`Engine::reject_unknown`] if nothing else
    /// handles it.
    pub fn handle<'t>(
        &mut self,
        conn: ConnId,
        text: &'t str,
        now: u64,
        out: &mut impl Outbound,
    ) -> Option<Unknown<'t>> {
        if self.writing(conn) {
            self.handle_behind_writes(conn, text, now, out);
            return None;
        }
        self.handle_now(conn, text, now, out)
    }

    fn handle_now<'t>(
        &mut self,
        conn: ConnId,
        text: &'t str,
        now: u64,
        out: &mut impl Outbound,
    ) -> Option<Unknown<'t>> {
        self.now_ms = now;
        // Failures only happen with authentication on: no lookup without.
        if self.limits.auth.is_some()
            && self
                .sessions
                .get(&conn)
                .is_some_and(|s| s.failures >= access::MAX_AUTH_FAILURES)
        {
            // It is being closed for guessing tokens: nothing more it sent
            // is looked at, however much of it was pipelined.
            self.counters.received[counters::IGNORED] += 1;
            return None;
        }
        let env = match protocol::parse(text, self.limits.parse) {
            Ok(env) => env,
            Err(e) => {
                self.counters.received[counters::INVALID] += 1;
                self.error(conn, e.req, e.code, &e.message, out);
                return None;
            }
        };
        self.counters.request(&env.request);
        let req = env.req;
        if let Err((code, message)) = self.authorize(conn, &env.request, now) {
            self.error(conn, req, code, &message, out);
            return None;
        }
        match env.request {
            Request::Set {
                id,
                key,
                value,
                if_rev,
                ttl_ms,
                ephemeral,
            } => {
                let w = writes::Write {
                    id: &id,
                    key: &key,
                    value,
                    if_rev,
                    ttl_ms,
                    ephemeral,
                };
                self.client_set(conn, req, w, now, out)
            }
            Request::Get { id, key } => self.get(conn, req, &id, &key, out),
            Request::Delete { id, key, if_rev } => {
                self.client_delete(conn, req, &id, &key, if_rev, out)
            }
            Request::Subscribe { id, topic, since } => {
                self.subscribe(conn, req, &id, &topic, since, out)
            }
            Request::Unsubscribe { id, topic } => self.unsubscribe(conn, req, &id, &topic, out),
            Request::List {
                id,
                prefix,
                after,
                limit,
            } => self.list(conn, req, &id, &prefix, after.as_deref(), limit, out),
            Request::Auth { token } => self.auth(conn, req, &token, false, now, out),
            Request::Upgrade { token } => self.auth(conn, req, &token, true, now, out),
            Request::Other { kind, text } => return Some(Unknown { kind, text, req }),
        }
        None
    }

    /// Answers a message of unknown type with the `bad_request` error.
    pub fn reject_unknown(&mut self, conn: ConnId, unknown: &Unknown, out: &mut impl Outbound) {
        let message = format!(
            "unknown message type '{}' (expected set, get, delete, subscribe, unsubscribe or list)",
            unknown.kind
        );
        self.error(conn, unknown.req, ErrorCode::BadRequest, &message, out)
    }

    /// Handles a message that could not be decoded as text (binary, not UTF-8).
    pub fn reject_binary(&mut self, conn: ConnId, out: &mut impl Outbound) {
        self.counters.received[counters::INVALID] += 1;
        let message = "binary message is not valid UTF-8 JSON; send JSON text";
        self.error(conn, None, ErrorCode::BadRequest, message, out);
    }

    /// The address connection `conn` comes from, while it is open.
    pub fn peer(&self, conn: ConnId) -> Option<SocketAddr> {
        self.sessions.get(&conn)?.peer
    }

    /// The highest role connection `conn` holds a live grant for at
    /// `now_ms` (`None`: not authenticated, or authentication is off).
    pub fn role(&self, conn: ConnId, now_ms: u64) -> Option<crate::auth::Role> {
        self.limits.auth.as_ref()?;
        self.sessions.get(&conn)?.grants.role(now_ms / 1000)
    }

    /// Whether `conn` has work in progress (a request answered in slices):
    /// its next messages must wait until it is done.
    pub fn busy(&self, conn: ConnId) -> bool {
        self.has_job(conn) || self.writes_full(conn)
    }

    /// Whether `conn` is still owed replies to requests already handled (a
    /// job in progress, writes in flight): a client that closes now gets
    /// them before the close is answered.
    pub fn owes_replies(&self, conn: ConnId) -> bool {
        self.has_job(conn) || self.writing(conn)
    }

    /// Bytes counted against `--max-memory`: the store, subscriptions,
    /// deadlines and the lists of ephemeral keys.
    pub fn memory(&self) -> usize {
        self.store.bytes() + self.subs.bytes() + self.expiry.bytes() + self.owned_bytes
    }

    /// The store's current revision: that of the latest change.
    pub fn rev(&self) -> u64 {
        self.rev
    }

    /// Read access to the store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Number of subscriptions held by all connections.
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    fn error(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        code: ErrorCode,
        message: &str,
        out: &mut (impl Outbound + ?Sized),
    ) {
        self.buf.clear();
        encode::error(&mut self.buf, code, message, req);
        out.send(conn, &self.buf);
    }
}

/// Bytes a connection's record of one ephemeral key costs.
fn owned_cost(id: &str, key: &str) -> usize {
    crate::store::heap(id.len()) + crate::store::heap(key.len()) + 48
}

#[cfg(test)]
mod jobs_tests;
#[cfg(test)]
mod tests;
