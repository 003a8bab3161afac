//! Ending connections: closing one (the session retired once, the close
//! counted once), answering an HTTP request and closing, the closes the
//! engine asked for during the step, and dropping a connection from the
//! slab and the poller.
//!
//! Apart from the slab because every way a connection ends meets here,
//! and the rules that keep the lists true (retire exactly once, sweep the
//! gone, read a paused one again for its close) read best together.

use std::time::Instant;

use log::{debug, warn};
use mio::Registry;

use super::Connections;
use crate::net::connection::{Ending, Phase};

impl Connections {
    /// Ends a connection (see [`Ending`]); its session is queued for
    /// retirement if this stops it serving requests.
    pub fn end(&mut self, slot: usize, ending: Ending, now: Instant) {
        let timeout = self.close_timeout;
        let Some(retire) = self.with(slot, |c| {
            debug!("{}: ending ({ending:?})", c.peer());
            let id = c.id();
            c.end(ending, now, timeout)
                .then(|| (id, c.peer_close_code()))
        }) else {
            return;
        };
        if let Some((id, peer_code)) = retire {
            self.counters.closed(&ending, peer_code);
            self.retired.push(id);
        }
        self.mark_dirty(slot);
        let s = &mut self.slab[slot];
        match s.conn.phase() {
            Phase::Gone => self.gone.push(slot),
            // Still read: for the peer's close frame, or its end of stream.
            Phase::Closing | Phase::Draining if s.paused => {
                s.paused = false;
                self.pending.push(slot);
            }
            _ => {}
        }
    }

    /// Answers an HTTP request with `response` and closes. A connection
    /// still in its TLS handshake has nothing to carry an answer: it is
    /// dropped (answering would first cost the handshake).
    pub fn respond(&mut self, slot: usize, response: &[u8], now: Instant) {
        if self.get(slot).is_some_and(|c| !c.can_answer()) {
            return self.end(slot, Ending::Drop, now);
        }
        let timeout = self.close_timeout;
        self.with(slot, |c| c.respond(response, now, timeout));
    }

    /// Closes, at the end of a step, the connections the engine asked to
    /// close and those whose queue overflowed. Returns how many.
    pub fn close_requested(&mut self, now: Instant) -> usize {
        let mut closed = 0;
        for i in 0..self.dirty.len() {
            let slot = self.dirty[i];
            let Some(ending) = self.slab.get(slot).and_then(|s| s.conn.pending_close()) else {
                continue;
            };
            if let Some(s) = self.slab.get(slot)
                && s.conn.overflowed()
            {
                warn!(
                    "{}: slow consumer, more than {} bytes queued; disconnecting",
                    s.conn.peer(),
                    s.conn.limits().out_cap
                );
            }
            self.end(slot, ending, now);
            closed += 1;
        }
        closed
    }

    /// Drops a connection now (it must have been ended).
    pub fn remove(&mut self, registry: &Registry, slot: usize) {
        let Some(mut s) = self.slab.try_remove(slot) else {
            return;
        };
        self.held -= s.held;
        if let Some(sock) = s.conn.socket() {
            let _ = registry.deregister(sock);
        }
        if s.conn.end(Ending::Drop, Instant::now(), self.close_timeout) {
            self.counters.closed(&Ending::Drop, None);
            self.retired.push(s.conn.id());
        }
        debug!("{}: closed", s.conn.peer());
    }
}
