//! The engine's view of the connections ([`Outbound`]): queue output for
//! one connection or all, ask for a close, tell how much room a queue has.
//!
//! Apart from the slab because it is the hot path of every notification:
//! queueing keeps the totals by addition, with one lookup per connection,
//! instead of going through [`Connections::with`].

use tungstenite::protocol::frame::coding::CloseCode;

use super::Connections;
use crate::conn_id::ConnId;
use crate::engine::Outbound;
use crate::net::connection::{Connection, Limits};
use crate::protocol::frame::{self, FrameRef};

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
