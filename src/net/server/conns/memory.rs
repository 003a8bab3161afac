//! The limit on what all clients hold together (`--max-client-memory`):
//! over it, the open connection holding the most is closed.
//!
//! Apart from the slab because it is a policy over the totals the slab
//! keeps, not a part of keeping them.

use log::warn;

use super::Connections;

impl Connections {
    /// When all clients together hold more than the limit, closes the
    /// open connection holding the most (it may come back when the server
    /// is less busy); returns whether one was closed.
    fn evict_if_over(&mut self) -> bool {
        if self.held <= self.max_held {
            return false;
        }
        let Some((slot, held)) = self
            .slab
            .iter()
            .filter(|(_, s)| s.conn.pending_close().is_none() && s.conn.is_open())
            .map(|(slot, s)| (slot, s.held))
            .max_by_key(|&(_, held)| held)
        else {
            return false;
        };
        let s = &mut self.slab[slot];
        warn!(
            "{}: clients hold {} bytes, over --max-client-memory ({}); closing the one holding the most ({held} bytes)",
            s.conn.peer(),
            self.held,
            self.max_held
        );
        self.closes += 1;
        // What it holds is dropped when it closes, at the end of the step:
        // count it gone already, so that the next check picks another
        // connection if that is still needed.
        s.conn.evict();
        self.held -= s.held;
        s.held = 0;
        if !s.dirty {
            s.dirty = true;
            self.dirty.push(slot);
        }
        true
    }

    /// Whether clients hold more than the limit together.
    pub fn over_limit(&self) -> bool {
        self.held > self.max_held
    }

    /// Enforces the limit on what clients hold together.
    pub fn enforce_memory(&mut self) {
        while self.evict_if_over() {}
    }
}
