//! Changes: `set`, `delete`, expiry and ephemeral cleanup. Each change takes
//! the next revision, is encoded and framed once, goes into the history and
//! is queued for every subscriber.

use super::{Engine, Outbound, StoreError};
use crate::change::Change;
use crate::conn_id::ConnId;
use crate::protocol::Json;
use crate::protocol::{ErrorCode, encode};

/// A `set` as the client asked for it.
pub(super) struct Write<'a> {
    pub id: &'a str,
    pub key: &'a str,
    pub value: Json<'a>,
    pub if_rev: Option<u64>,
    pub ttl_ms: Option<u64>,
    pub ephemeral: bool,
}

impl Engine {
    pub(super) fn client_set(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        w: Write,
        now: u64,
        out: &mut impl Outbound,
    ) {
        if let Some(want) = w.if_rev
            && !self.is_shared()
        {
            let current = self.store.get(w.id, w.key).map_or(0, |e| e.rev);
            if want != current {
                return self.conflict(conn, req, w.id, w.key, current, out);
            }
        }
        if let Err((code, message)) = self.check_set(w.id, w.key, w.value.get()) {
            return self.error(conn, req, code, &message, out);
        }
        // `now` is truncated to the millisecond: one more keeps a key from
        // expiring before its whole ttl has passed.
        let expires_at = w
            .ttl_ms
            .map(|ttl| now.saturating_add(ttl).saturating_add(1));
        if self.is_shared() {
            // The shared log decides (and checks `if_rev` itself).
            let value = Some(w.value.get());
            return self.propose_write(
                conn,
                req,
                w.id,
                w.key,
                value,
                w.if_rev,
                expires_at,
                w.ephemeral,
            );
        }
        let owner = w.ephemeral.then_some(conn);
        let rev = match self.apply_set(w.id, w.key, w.value.get(), expires_at, owner) {
            Ok(change) => change,
            Err(e) => return self.error(conn, req, e.code, &e.message, out),
        };
        // The sender's reply is the notification itself unless it must carry `req`.
        if req.is_none() {
            out.send_frame(conn, self.frame());
        } else {
            self.buf.clear();
            encode::value(&mut self.buf, w.id, w.key, Some(w.value.get()), rev, req);
            out.send(conn, &self.buf);
        }
        self.publish(w.id, w.key, rev, out);
    }

    pub(super) fn client_delete(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        id: &str,
        key: &str,
        if_rev: Option<u64>,
        out: &mut impl Outbound,
    ) {
        if self.is_shared() {
            return self.propose_write(conn, req, id, key, None, if_rev, None, false);
        }
        let current = self.store.get(id, key).map_or(0, |e| e.rev);
        if if_rev.is_some_and(|want| want != current) {
            return self.conflict(conn, req, id, key, current, out);
        }
        match self.apply_remove(id, key, None) {
            Err(e) => self.error(conn, req, e.code, &e.message, out),
            // Deleting a missing key is not a change: no revision, nobody told.
            Ok(None) => {
                self.buf.clear();
                encode::deleted(&mut self.buf, id, key, 0, None, req);
                out.send(conn, &self.buf);
            }
            Ok(Some(rev)) => {
                if req.is_none() {
                    out.send_frame(conn, self.frame());
                } else {
                    self.buf.clear();
                    encode::deleted(&mut self.buf, id, key, rev, None, req);
                    out.send(conn, &self.buf);
                }
                self.publish(id, key, rev, out);
            }
        }
    }

    /// Stores a value on behalf of the embedding program (no connection, no
    /// reply); subscribers are notified as for a client's `set`.
    pub fn set(
        &mut self,
        id: &str,
        key: &str,
        value: Json,
        out: &mut (impl Outbound + ?Sized),
    ) -> Result<u64, StoreError> {
        let max = self.limits.parse.max_name_length;
        for (what, name) in [("id", id), ("key", key)] {
            if name.is_empty() {
                return Err(StoreError::new(
                    ErrorCode::BadRequest,
                    format!("{what} must not be empty"),
                ));
            }
            if name.len() > max {
                let message = format!(
                    "{what} is {} bytes, longer than the limit of {max}",
                    name.len()
                );
                return Err(StoreError::new(ErrorCode::TooLarge, message));
            }
        }
        self.check_set(id, key, value.get())
            .map_err(|(code, message)| StoreError::new(code, message))?;
        self.refuse_if_shared()?;
        let rev = self.apply_set(id, key, value.get(), None, None)?;
        self.publish(id, key, rev, out);
        Ok(rev)
    }

    /// Deletes a key on behalf of the embedding program; returns the
    /// revision of the change, or `None` if the key did not exist.
    pub fn delete(
        &mut self,
        id: &str,
        key: &str,
        out: &mut (impl Outbound + ?Sized),
    ) -> Result<Option<u64>, StoreError> {
        self.refuse_if_shared()?;
        self.remove_key(id, key, None, out)
    }

    /// The embedding program's own writes are not proposed to a shared
    /// log: they would have no reply to wait for, and a revision could not
    /// be returned. In cluster mode they are refused; a program writes
    /// there as a client does.
    fn refuse_if_shared(&self) -> Result<(), StoreError> {
        if self.is_shared() {
            return Err(StoreError::new(
                ErrorCode::Unavailable,
                "in cluster mode the program's own writes are refused: write through a client connection",
            ));
        }
        Ok(())
    }

    /// Removes a key as a change with an optional `reason` ("expired",
    /// "disconnected") and tells its subscribers.
    pub(super) fn remove_key(
        &mut self,
        id: &str,
        key: &str,
        reason: Option<&str>,
        out: &mut (impl Outbound + ?Sized),
    ) -> Result<Option<u64>, StoreError> {
        let Some(rev) = self.apply_remove(id, key, reason)? else {
            return Ok(None);
        };
        self.publish(id, key, rev, out);
        Ok(Some(rev))
    }

    /// Writes a change to the journal before it is applied (with
    /// persistence); a refusal means the change must not happen.
    /// `automatic` changes (expiry, disconnects) may use the space kept
    /// in reserve for them.
    fn journal(&mut self, change: &Change, automatic: bool) -> Result<(), StoreError> {
        let Some(journal) = &mut self.journal else {
            return Ok(());
        };
        journal.record(change, automatic).map_err(|e| {
            let message =
                format!("the change could not be written to disk ({e}); it was not applied");
            StoreError::new(ErrorCode::StorageFailed, message)
        })
    }

    fn check_set(&self, id: &str, key: &str, value: &str) -> Result<(), (ErrorCode, String)> {
        if value.len() > self.limits.max_value_size {
            let message = format!(
                "value is {} bytes, over the limit of {}",
                value.len(),
                self.limits.max_value_size
            );
            return Err((ErrorCode::TooLarge, message));
        }
        // Far from the limit (the usual case) no lookup is needed: even a
        // new key in a new namespace would fit, with its table slot, index
        // entry, deadline and owner's record.
        // (`heap` rounds each of the three allocations up by at most 32.)
        let used = self.memory();
        let worst = id.len() + key.len() + value.len() + 3 * 32 + 512;
        if used + worst <= self.limits.max_memory {
            return Ok(());
        }
        let after = self.store.bytes_after_set(id, key, value.len()) + used - self.store.bytes();
        if after > self.limits.max_memory && after > used {
            let message = format!(
                "the store is full ({used} of {} bytes used); delete keys or raise --max-memory",
                self.limits.max_memory
            );
            return Err((ErrorCode::StoreFull, message));
        }
        Ok(())
    }

    fn apply_set(
        &mut self,
        id: &str,
        key: &str,
        value: &str,
        expires_at: Option<u64>,
        owner: Option<ConnId>,
    ) -> Result<u64, StoreError> {
        let change = Change::Set {
            rev: self.rev + 1,
            id,
            key,
            value,
            expires_at,
            owner,
        };
        self.make(&change, false)?;
        Ok(change.rev())
    }

    fn apply_remove(
        &mut self,
        id: &str,
        key: &str,
        reason: Option<&str>,
    ) -> Result<Option<u64>, StoreError> {
        let Some(old) = self.store.get(id, key) else {
            return Ok(None);
        };
        let change = Change::Delete {
            rev: self.rev + 1,
            id,
            key,
            reason,
            ephemeral: old.owner.is_some(),
        };
        self.make(&change, reason.is_some())?;
        Ok(Some(change.rev()))
    }

    /// Makes a change of this process: journaled first (a refusal means it
    /// does not happen), then applied, and its notification encoded.
    fn make(&mut self, change: &Change, automatic: bool) -> Result<(), StoreError> {
        self.journal(change, automatic)?;
        self.apply_state(change);
        self.rev = change.rev();
        self.encode_change(change);
        Ok(())
    }

    pub(super) fn conflict(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        id: &str,
        key: &str,
        current: u64,
        out: &mut (impl Outbound + ?Sized),
    ) {
        self.buf.clear();
        let message = format!("if_rev does not match: the key's revision is {current}");
        encode::error_obj(&mut self.buf, ErrorCode::Conflict, &message)
            .str("id", id)
            .str("key", key)
            .u64("rev", current)
            .req(req)
            .end();
        out.send(conn, &self.buf);
    }
}
