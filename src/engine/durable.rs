//! The engine's side of persistence: attaching a journal, loading recovered
//! records, and the per-step commit and housekeeping calls.

use std::io;

use super::Engine;
use crate::change::Change;
use crate::change::Journal;
use crate::history::History;

impl Engine {
    /// Sends every change through `journal` from now on.
    pub fn set_journal(&mut self, journal: Box<dyn Journal>) {
        self.journal = Some(journal);
    }

    /// Whether changes are journaled (persistence is on).
    pub fn is_durable(&self) -> bool {
        self.journal.is_some()
    }

    /// Applies one recovered change: no history, nobody notified (there
    /// are no connections yet).
    pub fn restore(&mut self, change: &Change) {
        self.apply_state(change);
        self.rev = self.rev.max(change.rev());
    }

    /// Ends recovery: the store is at revision `rev`, and the history starts
    /// there (a client resuming from before the restart is told to resync).
    pub fn restored(&mut self, rev: u64) {
        self.rev = rev;
        self.history = History::new(rev, self.history_len, self.history_bytes);
    }

    /// Makes this step's changes durable; see [`Journal::commit`].
    pub fn commit_journal(&mut self) -> io::Result<()> {
        self.journal.as_mut().map_or(Ok(()), |j| j.commit())
    }

    /// Journal housekeeping (compaction); call once per loop step.
    pub fn maintain_journal(&mut self) {
        if let Some(j) = &mut self.journal {
            j.maintain(&self.store, self.rev);
        }
    }

    /// Final commit and sync at shutdown.
    pub fn close_journal(&mut self) -> io::Result<()> {
        self.journal.as_mut().map_or(Ok(()), |j| j.close())
    }
}
