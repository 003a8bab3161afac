//! The flush queue: the connections that got output (or must close) in
//! this step, each written once at its end, with WRITABLE interest only
//! while a socket would not take everything.
//!
//! Apart from the slab because this is the one place that writes to
//! sockets: what a write did to the totals, the poll interest and a
//! paused connection's back-pressure is settled here.

use std::time::Instant;

use log::debug;
use mio::{Interest, Registry, Token};

use super::Connections;
use crate::net::connection::{Ending, Limits, Phase};

impl Connections {
    /// Marks a connection for flushing at the end of the step.
    pub fn mark_dirty(&mut self, slot: usize) {
        if let Some(s) = self.slab.get_mut(slot)
            && !s.dirty
        {
            s.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// Writes every connection with output, once; updates each one's poll
    /// interest; removes those that are gone. Returns the slots of paused
    /// connections whose queue drained below `resume_below` bytes.
    pub fn flush(
        &mut self,
        registry: &Registry,
        now: Instant,
        resume_below: impl Fn(&Limits) -> usize,
    ) -> Vec<usize> {
        let mut resumable = Vec::new();
        let dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            let Some(s) = self.slab.get_mut(slot) else {
                continue;
            };
            s.dirty = false;
            match s.conn.flush() {
                Ok(flushed) => {
                    self.counters.bytes_out += flushed.wrote as u64;
                    if s.paused && flushed.wrote > 0 {
                        s.conn.saw_progress(now);
                    }
                    let want_write = !flushed.done;
                    if want_write != s.writable
                        && let Some(sock) = s.conn.socket()
                    {
                        let interest = if want_write {
                            Interest::READABLE | Interest::WRITABLE
                        } else {
                            Interest::READABLE
                        };
                        let _ = registry.reregister(sock, Token(slot), interest);
                        s.writable = want_write;
                    }
                    if s.paused && s.conn.queued() < resume_below(&s.conn.limits()) {
                        resumable.push(slot);
                    }
                    let held = s.conn.owned_output() + s.conn.partial_input();
                    self.held = self.held + held - s.held;
                    s.held = held;
                }
                Err(e) => {
                    debug!("{}: write failed: {e}", s.conn.peer());
                    self.end(slot, Ending::Drop, now);
                }
            }
        }
        // What was queued while flushing (a failed write ended a
        // connection) waits for the next step.
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
        self.sweep(registry);
        resumable
    }

    /// Removes the connections that are gone.
    fn sweep(&mut self, registry: &Registry) {
        for slot in std::mem::take(&mut self.gone) {
            if self
                .slab
                .get(slot)
                .is_some_and(|s| s.conn.phase() == Phase::Gone)
            {
                self.remove(registry, slot);
            }
        }
    }
}
