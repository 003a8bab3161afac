//! Writes ordered by a log this process shares with others (cluster mode).
//!
//! With a shared log, a write is not applied where it is made: the engine
//! checks it, hands it on as a [`Proposal`], and the log (one atomic script
//! in Redis) decides it: its revision, or a conflict. Every process then
//! applies the decided changes in revision order through
//! [`Engine::apply`], exactly as it applies its own, so subscribers, the
//! history and revisions do not care where a change was made.
//!
//! The writer's reply waits until this process has applied the write's
//! revision, so a client always reads its own writes and never sees
//! revisions go backwards. A connection may pipeline writes; its replies
//! keep the order of its requests (see [`in_flight`](super::in_flight)).
//!
//! Automatic changes are proposed too: a key whose deadline has passed is
//! proposed for deletion (the log deletes it once, whichever process asks
//! first), and a closed connection's ephemeral keys likewise.

use std::collections::{HashMap, VecDeque};

use super::in_flight::{InFlight, Owed};
use super::{Engine, Outbound};
use crate::conn_id::ConnId;
use crate::protocol::{ErrorCode, Json};

/// A change this process asks the shared log to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Matches the proposal to its [`Outcome`].
    pub seq: u64,
    /// What to do.
    pub op: Op,
}

/// What a [`Proposal`] asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store `value` under `id`/`key`, if its revision is `if_rev` (when
    /// given); `owner`: the connection of this process that owns the key
    /// (ephemeral).
    Set {
        /// Namespace.
        id: Box<str>,
        /// Key.
        key: Box<str>,
        /// JSON text.
        value: Box<str>,
        /// Compare-and-set.
        if_rev: Option<u64>,
        /// ms since the epoch.
        expires_at: Option<u64>,
        /// Ephemeral owner.
        owner: Option<ConnId>,
    },
    /// Delete `id`/`key`, if its revision is `if_rev` (when given).
    Delete {
        /// Namespace.
        id: Box<str>,
        /// Key.
        key: Box<str>,
        /// Compare-and-delete.
        if_rev: Option<u64>,
    },
    /// Delete `id`/`key` if it still expires at `expires_at` (a deadline
    /// that has passed).
    Expire {
        /// Namespace.
        id: Box<str>,
        /// Key.
        key: Box<str>,
        /// The deadline the key had.
        expires_at: u64,
    },
    /// Delete `id`/`key` if `owner` (a closed connection of this process)
    /// still owns it.
    Reap {
        /// Namespace.
        id: Box<str>,
        /// Key.
        key: Box<str>,
        /// The closed connection.
        owner: ConnId,
    },
}

/// What the shared log decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Made, with this revision.
    Done(u64),
    /// Nothing to do: a delete of a missing key, or an expiry or reaping
    /// that another process made first.
    Nothing,
    /// `if_rev` did not match: the key's revision is this.
    Conflict(u64),
    /// Not made (the log cannot be reached, or refused it).
    Failed(ErrorCode, String),
}

/// The shared log's side of the engine.
#[derive(Default)]
pub(super) struct Shared {
    /// Proposals not handed on yet.
    pub proposals: Vec<Proposal>,
    next_seq: u64,
    /// The connection whose write each proposal in flight is.
    writers: HashMap<u64, ConnId>,
    /// Automatic proposals in flight, to try again if they fail.
    automatic: HashMap<u64, Op>,
    /// Automatic proposals that failed, and when to try them again.
    retry: Vec<(u64, Op)>,
    /// Connections whose write is made and waits to be applied here, in
    /// revision order (this process's writes are decided in the order it
    /// proposed them).
    pub(super) waiting: VecDeque<(u64, ConnId)>,
}

/// How long an automatic proposal that failed waits before it is made
/// again (the shared log is unreachable).
pub const RETRY_MS: u64 = 1000;

impl Shared {
    /// Forgets everything in flight (the replica starts over); outcomes
    /// that still arrive match nothing.
    pub(super) fn reset(&mut self) {
        let next_seq = self.next_seq;
        *self = Shared::default();
        self.next_seq = next_seq;
    }

    fn propose(&mut self, op: Op) -> u64 {
        self.next_seq += 1;
        self.proposals.push(Proposal {
            seq: self.next_seq,
            op,
        });
        self.next_seq
    }

    fn propose_automatic(&mut self, op: Op) {
        let seq = self.propose(op.clone());
        self.automatic.insert(seq, op);
    }
}

impl Engine {
    /// Makes this engine a replica of a shared log: client writes, expiries
    /// and ephemeral deletions become [`Proposal`]s instead of changes.
    pub fn share(&mut self) {
        self.shared = Some(Shared::default());
    }

    /// Whether writes go through a shared log.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes the proposals made since the last call.
    pub fn take_proposals(&mut self) -> Vec<Proposal> {
        self.shared
            .as_mut()
            .map(|s| std::mem::take(&mut s.proposals))
            .unwrap_or_default()
    }

    /// A client's `set` or `delete`, proposed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn propose_write(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        id: &str,
        key: &str,
        value: Option<&str>,
        if_rev: Option<u64>,
        expires_at: Option<u64>,
        ephemeral: bool,
    ) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        let op = match value {
            Some(value) => Op::Set {
                id: id.into(),
                key: key.into(),
                value: value.into(),
                if_rev,
                expires_at,
                owner: ephemeral.then_some(conn),
            },
            None => Op::Delete {
                id: id.into(),
                key: key.into(),
                if_rev,
            },
        };
        let seq = shared.propose(op);
        shared.writers.insert(seq, conn);
        let write = InFlight {
            seq,
            req: req.map(|r| r.get().into()),
            id: id.into(),
            key: key.into(),
            value: value.map(Into::into),
            rev: None,
        };
        self.owe(conn, Owed::Write(write));
    }

    /// Proposes the deletion of a key whose deadline has passed.
    pub(super) fn propose_expiry(&mut self, id: &str, key: &str, expires_at: u64) {
        if let Some(shared) = &mut self.shared {
            shared.propose_automatic(Op::Expire {
                id: id.into(),
                key: key.into(),
                expires_at,
            });
        }
    }

    /// Proposes the deletion of a closed connection's ephemeral key.
    pub(super) fn propose_reap(&mut self, id: &str, key: &str, owner: ConnId) {
        if let Some(shared) = &mut self.shared {
            shared.propose_automatic(Op::Reap {
                id: id.into(),
                key: key.into(),
                owner,
            });
        }
    }

    /// Makes again the automatic proposals whose retry time has come.
    pub(super) fn retry_proposals(&mut self, now: u64) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        if shared.retry.iter().all(|(at, _)| *at > now) {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut shared.retry)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        shared.retry = later;
        for (_, op) in due {
            shared.propose_automatic(op);
        }
    }

    /// When the next automatic proposal is to be made again.
    pub(super) fn next_retry(&self) -> Option<u64> {
        self.shared.as_ref()?.retry.iter().map(|(at, _)| *at).min()
    }

    /// Takes the shared log's decision on proposal `seq` (from `conn`'s
    /// write, if it was one).
    pub fn settle(&mut self, seq: u64, outcome: Outcome, out: &mut (impl Outbound + ?Sized)) {
        let Some(shared) = &mut self.shared else {
            return;
        };
        if let Some(op) = shared.automatic.remove(&seq) {
            if matches!(outcome, Outcome::Failed(..)) {
                shared.retry.push((self.now_ms + RETRY_MS, op));
            }
            return;
        }
        let Some(conn) = shared.writers.remove(&seq) else {
            return;
        };
        self.decide(conn, seq, outcome, out);
    }

    /// Replies to the writers whose write this process has now applied.
    pub(super) fn writes_applied(&mut self, out: &mut (impl Outbound + ?Sized)) {
        while let Some(&(rev, conn)) = self.shared.as_ref().and_then(|s| s.waiting.front()) {
            if rev > self.rev {
                return;
            }
            if let Some(s) = &mut self.shared {
                s.waiting.pop_front();
            }
            self.send_owed(conn, out);
        }
    }

    /// The connections whose request in progress (a job, a write) ended
    /// since the last call: they may be read again.
    pub fn take_finished(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.finished)
    }
}
