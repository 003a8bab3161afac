//! The set of connections: the slab, the flush queue, the connections to
//! read again without waiting for an event, the sessions to retire, and the
//! bytes all clients hold together.
//!
//! Every change to a connection that ends it, queues output or flushes goes
//! through here, so that the lists and the totals stay true: a connection
//! is flushed once per step however much it got, its session is retired
//! exactly once, and it leaves the slab (and the poller) in one place.

use std::io;
use std::time::Instant;

use log::{debug, warn};
use mio::{Interest, Registry, Token};
use slab::Slab;
use tungstenite::protocol::frame::coding::CloseCode;

use super::counters::Counters;
use crate::conn_id::ConnId;
use crate::engine::Outbound;
use crate::net::connection::{Connection, Ending, Limits, Phase};
use crate::net::socket::Socket;
use crate::protocol::frame::{self, FrameRef};

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

    /// Marks a connection for flushing at the end of the step.
    pub fn mark_dirty(&mut self, slot: usize) {
        if let Some(s) = self.slab.get_mut(slot)
            && !s.dirty
        {
            s.dirty = true;
            self.dirty.push(slot);
        }
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

/// The engine's view of the connections: queue output, ask for closes.
pub(crate) struct Out<'a> {
    pub conns: &'a mut Connections,
    /// The limits of a connection that has authenticated.
    pub authenticated: Limits,
}

impl Out<'_> {
    /// Queues output for `to` with `push`, which returns the bytes added and
    /// the bytes of them held in the queue's own memory. The hot path:
    /// one lookup, and the totals kept by addition.
    /// Returns whether it was queued.
    fn push(
        &mut self,
        to: ConnId,
        push: impl FnOnce(&mut Connection) -> Option<(usize, usize)>,
    ) -> bool {
        let conns = &mut *self.conns;
        let Some(s) = conns.slab.get_mut(to.slot()) else {
            return false;
        };
        if s.conn.id() != to {
            return false;
        }
        let queued = match push(&mut s.conn) {
            Some((added, owned)) => {
                conns.queued_ever += added as u64;
                conns.held += owned;
                s.held += owned;
                true
            }
            // Refused: it overflowed (to be closed) or is closing.
            None if s.conn.pending_close().is_none() => return false,
            None => {
                conns.closes += 1;
                false
            }
        };
        if !s.dirty {
            s.dirty = true;
            conns.dirty.push(to.slot());
        }
        if conns.held > conns.max_held {
            conns.enforce_memory();
        }
        queued
    }
}

impl Outbound for Out<'_> {
    fn send(&mut self, to: ConnId, json: &[u8]) {
        if self.push(to, |c| c.send_text(json).map(|n| (n, n))) {
            self.conns.counters.sent(json);
        }
    }

    fn send_frame(&mut self, to: ConnId, frame: FrameRef<'_>) {
        if self.push(to, |c| c.send_frame(frame)) {
            self.conns.counters.sent_frame(frame.bytes);
        }
    }

    fn close(&mut self, to: ConnId, code: u16, reason: &'static str) {
        self.conns
            .with_id(to, |c| c.request_close(CloseCode::from(code), reason));
        self.conns.closes += 1;
    }

    fn room(&self, to: ConnId) -> Option<usize> {
        // Work in slices stops where reading stops (back-pressure).
        let c = self.conns.by_id(to).filter(|c| c.is_open())?;
        Some((c.limits().out_cap / 2).saturating_sub(c.queued()))
    }

    fn authenticated(&mut self, to: ConnId) {
        let limits = self.authenticated;
        self.conns.with_id(to, |c| c.set_limits(limits));
    }

    fn broadcast(&mut self, json: &[u8]) {
        // Framed once; large frames shared by every queue.
        let mut bytes = Vec::new();
        frame::text_frame_into(&mut bytes, json);
        let shared: Option<std::sync::Arc<[u8]>> =
            (bytes.len() > frame::SHARE_ABOVE).then(|| bytes.as_slice().into());
        let framed = match &shared {
            Some(shared) => FrameRef::shared(shared),
            None => FrameRef::copied(&bytes),
        };
        for id in self.conns.open_ids() {
            if self.push(id, |c| c.send_frame(framed)) {
                self.conns.counters.sent_frame(framed.bytes);
            }
        }
    }
}
