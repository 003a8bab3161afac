//! The engine's side of persistence: attaching a journal, loading recovered
//! records, and the per-step commit and housekeeping calls.

use std::io;

use super::{Engine, Journal};
use crate::history::History;
use crate::persist::record::Record;
use crate::store::Entry;

impl Engine {
    /// Sends every change through `journal` from now on.
    pub fn set_journal(&mut self, journal: Box<dyn Journal>) {
        self.journal = Some(journal);
    }

    /// Whether changes are journaled (persistence is on).
    pub fn is_durable(&self) -> bool {
        self.journal.is_some()
    }

    /// Applies one recovered record: no revision check, no history, nobody
    /// notified (there are no connections yet).
    pub fn restore(&mut self, record: &Record) {
        match *record {
            Record::Set {
                rev,
                id,
                key,
                value,
                expires_at,
            } => {
                if let Some(old) = self.store.set(
                    id,
                    key,
                    Entry {
                        value: value.into(),
                        rev,
                        expires_at,
                        owner: None,
                    },
                ) && let Some(at) = old.expires_at
                {
                    self.expiry.remove(at, old.rev);
                }
                if let Some(at) = expires_at {
                    self.expiry.insert(at, rev, id, key);
                }
            }
            Record::Delete { id, key, .. } => {
                if let Some(old) = self.store.remove(id, key)
                    && let Some(at) = old.expires_at
                {
                    self.expiry.remove(at, old.rev);
                }
            }
            Record::Skip { .. } | Record::End { .. } => {}
        }
        self.rev = self.rev.max(record.rev());
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
