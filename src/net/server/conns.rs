//! The set of connections: the slab, the flush queue, the connections to
//! read again without waiting for an event, the sessions to retire, and the
//! bytes all clients hold together.
//!
//! Every change to a connection that ends it, queues output or flushes goes
//! through here, so that the lists and the totals stay true: a connection
//! is flushed once per step however much it got, its session is retired
//! exactly once, and it leaves the slab (and the poller) in one place.
//!
//! This file is the slab and its lists; the rest is in files of their
//! own: [`flush`] (the flush queue), [`ending`] (ending connections and
//! removing them), [`memory`] (the limit on what clients hold together)
//! and [`out`] (the engine's view, the hot path of output).

use std::io;
use std::time::Instant;

use mio::{Interest, Registry, Token};
use slab::Slab;

use super::counters::Counters;
use crate::conn_id::ConnId;
use crate::net::connection::Connection;
use crate::net::socket::Socket;

mod ending;
mod flush;
mod memory;
mod out;

pub(crate) use out::Out;

/// One slot: the connection and where it stands in the server's lists.
struct Slot {
    conn: Connection,
    /// In the flush queue.
    dirty: bool,
    /// WRITABLE interest is registered (only while output is left).
    writable: bool,
    /// Not read until the server resumes it (back-pressure, an engine job,
    /// a close on its way).
    paused: bool,
    /// Bytes of its queue and partial input counted in the totals.
    held: usize,
}

/// The connections of a server.
pub(crate) struct Connections {
    slab: Slab<Slot>,
    serial: u32,
    dirty: Vec<usize>,
    pending: Vec<usize>,
    retired: Vec<ConnId>,
    gone: Vec<usize>,
    /// Bytes all connections hold in their own output queues and in
    /// messages they are receiving: what `--max-client-memory` bounds.
    held: usize,
    /// Bytes ever queued, for measuring the output a request caused.
    queued_ever: u64,
    /// Closes ever asked for (by the engine, or for a full queue or the
    /// memory limit): a read round compares it to know whether to look.
    closes: u64,
    max_held: usize,
    close_timeout: std::time::Duration,
    /// What `/metrics` shows of the connections' traffic.
    pub counters: Counters,
}

impl Connections {
    pub fn new(max_held: usize, close_timeout: std::time::Duration) -> Self {
        Connections {
            slab: Slab::new(),
            serial: 0,
            dirty: Vec::new(),
            pending: Vec::new(),
            retired: Vec::new(),
            gone: Vec::new(),
            held: 0,
            queued_ever: 0,
            closes: 0,
            max_held,
            close_timeout,
            counters: Counters::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Bytes all connections hold (what `--max-client-memory` bounds).
    pub fn held(&self) -> usize {
        self.held
    }

    /// Closes ever asked for (see the field).
    pub fn closes_requested(&self) -> u64 {
        self.closes
    }

    /// Bytes ever queued for any connection.
    pub fn queued_ever(&self) -> u64 {
        self.queued_ever
    }

    /// Registers a freshly accepted socket; returns its slot.
    pub fn insert(
        &mut self,
        registry: &Registry,
        mut sock: Socket,
        peer: std::net::SocketAddr,
        now: Instant,
        handshake_timeout: std::time::Duration,
    ) -> io::Result<usize> {
        let slot = self.slab.vacant_key();
        registry.register(&mut sock, Token(slot), Interest::READABLE)?;
        self.serial = self.serial.wrapping_add(1);
        let id = ConnId::new(slot, self.serial);
        self.slab.insert(Slot {
            conn: Connection::new(sock, id, peer, now, handshake_timeout),
            dirty: false,
            writable: false,
            paused: false,
            held: 0,
        });
        Ok(slot)
    }

    /// The connection in `slot`.
    pub fn get(&self, slot: usize) -> Option<&Connection> {
        self.slab.get(slot).map(|s| &s.conn)
    }

    /// The connection `id`, if it is still there.
    pub fn by_id(&self, id: ConnId) -> Option<&Connection> {
        self.get(id.slot()).filter(|c| c.id() == id)
    }

    /// Runs `f` on the connection in `slot`, keeping the totals true (what
    /// it queues or receives changes what it holds). Marks it for flushing
    /// when it has output, or when it must be closed.
    pub fn with<R>(&mut self, slot: usize, f: impl FnOnce(&mut Connection) -> R) -> Option<R> {
        let s = self.slab.get_mut(slot)?;
        let before = s.conn.queued();
        let r = f(&mut s.conn);
        self.counters.bytes_in += s.conn.take_received();
        let after = s.conn.queued();
        if after > before {
            self.queued_ever += (after - before) as u64;
        }
        let now_held = s.conn.owned_output() + s.conn.partial_input();
        self.held = self.held + now_held - s.held;
        s.held = now_held;
        if (after > 0 || s.conn.pending_close().is_some()) && !s.dirty {
            s.dirty = true;
            self.dirty.push(slot);
        }
        Some(r)
    }

    /// As [`Connections::with`], for the connection `id` only (not a later
    /// one in the same slot).
    pub fn with_id<R>(&mut self, id: ConnId, f: impl FnOnce(&mut Connection) -> R) -> Option<R> {
        if self.slab.get(id.slot()).is_none_or(|s| s.conn.id() != id) {
            return None;
        }
        self.with(id.slot(), f)
    }

    /// Recounts what a connection holds after it was used directly.
    pub fn recount(&mut self, slot: usize) {
        self.with(slot, |_| ());
    }

    /// The connection in `slot`, for a read round; call
    /// [`Connections::recount`] after.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Connection> {
        self.slab.get_mut(slot).map(|s| &mut s.conn)
    }

    /// Stops reading a connection until it is resumed.
    pub fn pause(&mut self, slot: usize) {
        if let Some(s) = self.slab.get_mut(slot) {
            s.paused = true;
        }
    }

    /// Whether a connection is paused.
    pub fn is_paused(&self, slot: usize) -> bool {
        self.slab.get(slot).is_some_and(|s| s.paused)
    }

    /// Reads a paused connection again (in this step, without an event).
    pub fn resume(&mut self, slot: usize) {
        if let Some(s) = self.slab.get_mut(slot)
            && std::mem::take(&mut s.paused)
        {
            self.pending.push(slot);
        }
    }

    /// Asks for a connection to be read again in this step.
    pub fn read_again(&mut self, slot: usize) {
        self.pending.push(slot);
    }

    /// The connections to read again, taken.
    pub fn take_pending(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.pending)
    }

    /// Whether connections wait to be read again.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Sessions to retire in the engine, taken.
    pub fn take_retired(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.retired)
    }

    /// Whether sessions wait to be retired.
    pub fn has_retired(&self) -> bool {
        !self.retired.is_empty()
    }

    /// The ids of every open WebSocket connection.
    pub fn open_ids(&self) -> Vec<ConnId> {
        self.slab
            .iter()
            .filter(|(_, s)| s.conn.is_open())
            .map(|(_, s)| s.conn.id())
            .collect()
    }

    /// The slots of every connection (for timers and shutdown).
    pub fn slots(&self) -> Vec<usize> {
        self.slab.iter().map(|(slot, _)| slot).collect()
    }

    /// Mutable access for the loop's own checks (idle, deadlines).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Connection)> {
        self.slab.iter_mut().map(|(slot, s)| (slot, &mut s.conn))
    }
}
