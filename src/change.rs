//! What a write is: one change to the store, with its place in the order of
//! all changes (its revision).
//!
//! The engine produces changes (a client's `set`, an expiry, a closed
//! connection's ephemeral keys) and applies them; a [`Journal`] writes them
//! down before they are applied; recovery hands them back after a restart.
//! A change is the same thing whichever of these it passes through, and
//! whether it was made by this process or, later, received from a log
//! shared with other processes: subscribers, the history and revisions see
//! only changes, in revision order.

use crate::conn_id::ConnId;

/// One change, borrowed from wherever it was made or read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// `id`/`key` now holds `value` (JSON text).
    Set {
        /// The change's revision.
        rev: u64,
        /// Namespace.
        id: &'a str,
        /// Key.
        key: &'a str,
        /// The value's JSON text.
        value: &'a str,
        /// When the key expires, ms since the Unix epoch.
        expires_at: Option<u64>,
        /// The connection whose closing deletes the key (an ephemeral key:
        /// never durable, so a journal records the key as absent).
        owner: Option<ConnId>,
    },
    /// `id`/`key` was removed.
    Delete {
        /// The change's revision.
        rev: u64,
        /// Namespace.
        id: &'a str,
        /// Key.
        key: &'a str,
        /// Why, when no client asked: `"expired"` or `"disconnected"`
        /// (subscribers are told).
        reason: Option<&'a str>,
        /// The key was ephemeral: nothing durable is removed, only the
        /// revision is used.
        ephemeral: bool,
    },
    /// A revision used by a change that leaves no other trace, kept so that
    /// revisions stay contiguous (a recovered log's ephemeral changes).
    Skip {
        /// The change's revision.
        rev: u64,
    },
}

impl Change<'_> {
    /// The change's revision.
    pub fn rev(&self) -> u64 {
        match *self {
            Change::Set { rev, .. } | Change::Delete { rev, .. } | Change::Skip { rev } => rev,
        }
    }
}

/// Where changes go to become durable, before they are applied. The engine
/// does no I/O itself: the `persist` module implements this over a
/// write-ahead log.
pub trait Journal: Send {
    /// Records a change that is about to be applied. An error refuses the
    /// change (the client gets `storage_failed`). `automatic` changes
    /// (expiry, disconnects) may use space held in reserve for them.
    fn record(&mut self, change: &Change, automatic: bool) -> Result<(), String>;
    /// Makes what was recorded durable as the fsync policy says. Called
    /// once per loop step, before that step's replies go out; an error is
    /// fatal (the changes are applied but may not be on disk).
    fn commit(&mut self) -> std::io::Result<()>;
    /// Housekeeping (compaction), with read access to the store. Called
    /// once per loop step, so it must be cheap when there is nothing to do.
    fn maintain(&mut self, store: &crate::store::Store, rev: u64);
    /// Final commit and sync at shutdown.
    fn close(&mut self) -> std::io::Result<()>;
    /// Writes the journal's own families for `/metrics` (appends, syncs,
    /// compactions). Nothing by default.
    fn write_metrics(&self, out: &mut crate::metrics::Exposition) {
        let _ = out;
    }
}
