//! Following a shared log (cluster mode): loading the store from the log's
//! data and catching up before serving, and starting over.
//!
//! While a node loads, it has no clients (the server refuses upgrades until
//! it is live), so nothing here notifies anyone: the store, the deadlines
//! and the owners of ephemeral keys are brought to the log's state, and the
//! history starts where the node goes live. Live changes go through
//! [`Engine::apply`].

use super::Engine;
use crate::change::Change;
use crate::expiry::Expiry;
use crate::history::History;
use crate::store::Store;
use crate::subscriptions::Subscriptions;

impl Engine {
    /// Starts the replica over, empty, at revision `rev` (a node joining, a
    /// new epoch of the log, a gap in what it read). The server closes
    /// every connection first; their automatic work is dropped with them
    /// (the log cleans up after a node it no longer hears from).
    pub fn reset(&mut self, rev: u64) {
        self.store = Store::new();
        self.subs = Subscriptions::new();
        self.expiry = Expiry::new();
        self.history = History::new(rev, self.history_len, self.history_bytes);
        self.jobs.clear();
        self.reaping.clear();
        self.owned_bytes = 0;
        self.in_flight_bytes = 0;
        self.expiry_paused_until = None;
        self.rev = rev;
        if let Some(shared) = &mut self.shared {
            shared.reset();
        }
    }

    /// Applies a change read while loading, if it is newer than what the
    /// replica holds for its key. The data is scanned while writes go on,
    /// so the scan and the log overlap: a key's newest revision wins, and
    /// once the log has been read past everything the scan saw, the replica
    /// is the log's state.
    pub fn catch_up(&mut self, change: &Change) {
        let (id, key) = match *change {
            Change::Set { id, key, .. } | Change::Delete { id, key, .. } => (id, key),
            Change::Skip { .. } => return,
        };
        if self
            .store
            .get(id, key)
            .is_some_and(|e| e.rev >= change.rev())
        {
            return;
        }
        self.apply_state(change);
    }

    /// Ends loading: the replica holds the log up to `rev`, changes from
    /// now on are live, and the history starts here (a client resuming
    /// from before is told to resync).
    pub fn loaded(&mut self, rev: u64) {
        self.rev = rev;
        self.history = History::new(rev, self.history_len, self.history_bytes);
    }
}
