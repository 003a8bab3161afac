//! What a change does, wherever it was made: the store, the deadlines and
//! the owners of ephemeral keys follow it, its notification is encoded and
//! framed once, queued for every subscriber and kept in the history. A
//! change ordered elsewhere (a shared log) comes in through
//! [`Engine::apply`] and takes the same path.

use super::{Engine, Outbound};
use crate::change::Change;
use crate::conn_id::ConnId;
use crate::protocol::encode;
use crate::protocol::frame::{self, FrameRef, SHARE_ABOVE};
use crate::store::Entry;

impl Engine {
    /// Applies a change that was ordered elsewhere (by a log that several
    /// processes share): the store, the history and this process's
    /// subscribers follow it exactly as they follow a local change. A
    /// change whose revision is not newer than the store's is ignored.
    pub fn apply(&mut self, change: &Change, out: &mut (impl Outbound + ?Sized)) {
        self.apply_decided(change, None, out);
    }

    /// As [`Engine::apply`], for a change that decides this engine's
    /// proposal `mine` (see [`Engine::take_proposals`]): its writer is
    /// answered before anyone is notified, even if the log's own answer
    /// to the proposal has not arrived yet.
    pub fn apply_decided(
        &mut self,
        change: &Change,
        mine: Option<u64>,
        out: &mut (impl Outbound + ?Sized),
    ) {
        if change.rev() <= self.rev {
            return;
        }
        self.apply_state(change);
        self.rev = change.rev();
        // An ephemeral key whose connection closed while its write was in
        // flight: nobody here will reap it, so it goes now.
        if let Change::Set {
            id,
            key,
            owner: Some(owner),
            ..
        } = *change
            && !self.sessions.contains_key(&owner)
        {
            self.propose_reap(id, key, owner);
        }
        // A writer's reply before the notification of its own change.
        if let Some(seq) = mine {
            self.settle(seq, super::Outcome::Done(change.rev()), out);
        }
        self.writes_applied(out);
        if let Change::Set { id, key, .. } | Change::Delete { id, key, .. } = *change {
            self.encode_change(change);
            self.publish(id, key, change.rev(), out);
        }
    }

    /// What a change does to the store, the deadlines and the ephemeral
    /// keys' owners.
    pub(super) fn apply_state(&mut self, change: &Change) {
        match *change {
            Change::Set {
                rev,
                id,
                key,
                value,
                expires_at,
                owner,
            } => {
                let entry = Entry {
                    value: value.into(),
                    rev,
                    expires_at,
                    owner,
                };
                if let Some(old) = self.store.set(id, key, entry) {
                    self.forget(id, key, &old, owner);
                }
                if let Some(at) = expires_at {
                    self.expiry.insert(at, rev, id, key);
                }
                if let Some(session) = owner.and_then(|o| self.sessions.get_mut(&o))
                    && session.owned.insert((id.into(), key.into()))
                {
                    session.owned_bytes += super::owned_cost(id, key);
                    self.owned_bytes += super::owned_cost(id, key);
                }
            }
            Change::Delete { id, key, .. } => {
                if let Some(old) = self.store.remove(id, key) {
                    self.forget(id, key, &old, None);
                }
            }
            Change::Skip { .. } => {}
        }
    }

    /// Encodes and frames a change's notification, once, for its writer,
    /// its subscribers and the history.
    pub(super) fn encode_change(&mut self, change: &Change) {
        self.buf.clear();
        match *change {
            Change::Set {
                rev,
                id,
                key,
                value,
                ..
            } => encode::value(&mut self.buf, id, key, Some(value), rev, None),
            Change::Delete {
                rev,
                id,
                key,
                reason,
                ..
            } => encode::deleted(&mut self.buf, id, key, rev, reason, None),
            Change::Skip { .. } => return,
        }
        self.build_frame();
    }

    /// Undoes the bookkeeping of a replaced or removed entry: its deadline
    /// and, unless the new owner is the same, its ephemeral ownership.
    pub(super) fn forget(&mut self, id: &str, key: &str, old: &Entry, new_owner: Option<ConnId>) {
        if let Some(at) = old.expires_at {
            self.expiry.remove(at, old.rev);
        }
        if let Some(o) = old.owner.filter(|o| Some(*o) != new_owner)
            && let Some(session) = self.sessions.get_mut(&o)
            && session.owned.remove(&(id.into(), key.into()))
        {
            session.owned_bytes -= super::owned_cost(id, key);
            self.owned_bytes -= super::owned_cost(id, key);
        }
    }

    /// Frames the notification encoded in `buf` as the current change's.
    pub(super) fn build_frame(&mut self) {
        frame::text_frame_into(&mut self.frame_buf, &self.buf);
        self.frame_arc =
            (self.frame_buf.len() > SHARE_ABOVE).then(|| self.frame_buf.as_slice().into());
    }

    /// The current change's notification.
    pub(super) fn frame(&self) -> FrameRef<'_> {
        match &self.frame_arc {
            Some(shared) => FrameRef::shared(shared),
            None => FrameRef::copied(&self.frame_buf),
        }
    }

    /// Queues the current change for its subscribers and records it in the
    /// history.
    pub(super) fn publish(
        &mut self,
        id: &str,
        key: &str,
        rev: u64,
        out: &mut (impl Outbound + ?Sized),
    ) {
        self.subs.subscribers(id, key, &mut self.recipients);
        let frame = match &self.frame_arc {
            Some(shared) => FrameRef::shared(shared),
            None => FrameRef::copied(&self.frame_buf),
        };
        for &conn in &self.recipients {
            out.send_frame(conn, frame);
        }
        self.recipients.clear();
        self.history.push(rev, id, key, frame);
    }
}
