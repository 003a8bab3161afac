//! Work the engine does on its own once per loop step, each part bounded:
//! ending token grants, expiring keys, deleting the ephemeral keys of
//! closed connections, and the slices of requests in progress.

use log::{info, warn};

use super::{EXPIRE_BATCH, Engine, Outbound, REAP_BATCH};

use crate::protocol::ErrorCode;

/// How long expiry waits after the log refused a deletion (the disk is
/// full) before it tries again: retrying at once would spin the CPU.
pub const EXPIRY_RETRY_MS: u64 = 1000;

/// What one call to [`Engine::background`] did.
#[derive(Debug, Default)]
pub struct Background {
    /// Keys expired (or, with a shared log, proposed for expiry).
    pub expired: usize,
}

impl Engine {
    /// One step's share of the engine's own work at time `now` (ms since
    /// the epoch).
    pub fn background(&mut self, now: u64, out: &mut impl Outbound) -> Background {
        self.now_ms = now;
        let expired = self.expire(now, out);
        self.counters.expired += expired as u64;
        self.reap(out);
        self.retry_proposals(now);
        let done = self.run_jobs(out);
        self.finished.extend(done);
        Background { expired }
    }

    /// Expires the keys whose deadline is at or before `now`, at most
    /// [`EXPIRE_BATCH`] of them, and the token grants that have ended;
    /// returns how many keys expired.
    pub fn expire(&mut self, now: u64, out: &mut impl Outbound) -> usize {
        self.expire_tokens(now, out);
        if self.expiry_paused_until.is_some_and(|t| now < t) {
            return 0;
        }
        let mut n = 0;
        while n < EXPIRE_BATCH {
            let Some((id, key)) = self.expiry.pop_due(now) else {
                break;
            };
            if self.is_shared() {
                // The shared log deletes it, once, whoever asks first.
                if let Some(at) = self.store.get(&id, &key).and_then(|e| e.expires_at) {
                    self.propose_expiry(&id, &key, at);
                }
                n += 1;
                continue;
            }
            match self.remove_key(&id, &key, Some("expired"), out) {
                Ok(_) => n += 1,
                Err(e) => {
                    // The disk is full: the key lives on until its deletion
                    // can be written. Once per episode in the log.
                    if let Some(entry) = self.store.get(&id, &key)
                        && let Some(at) = entry.expires_at
                    {
                        self.expiry.insert(at, entry.rev, &id, &key);
                    }
                    if self.expiry_paused_until.is_none() && e.code == ErrorCode::StorageFailed {
                        warn!(
                            "cannot expire keys: {}; retrying every {EXPIRY_RETRY_MS} ms",
                            e.message
                        );
                    }
                    self.expiry_paused_until = Some(now + EXPIRY_RETRY_MS);
                    return n;
                }
            }
        }
        if self.expiry_paused_until.take().is_some() {
            info!("expiring keys again");
        }
        n
    }

    /// Deletes up to [`REAP_BATCH`] ephemeral keys of closed connections.
    pub(super) fn reap(&mut self, out: &mut impl Outbound) {
        for _ in 0..REAP_BATCH {
            let Some((owner, keys)) = self.reaping.front_mut() else {
                return;
            };
            let owner = *owner;
            let Some((id, key)) = keys.next() else {
                self.reaping.pop_front();
                continue;
            };
            // Unless another connection took the key over since.
            if self
                .store
                .get(&id, &key)
                .is_none_or(|e| e.owner != Some(owner))
            {
                continue;
            }
            if self.is_shared() {
                self.propose_reap(&id, &key, owner);
            } else if let Err(e) = self.remove_key(&id, &key, Some("disconnected"), out) {
                log::error!("cannot delete an ephemeral key: {e}");
            }
        }
    }

    /// The earliest time (ms since the epoch) something is due: a key's or
    /// a token's deadline, or the retry of a refused expiry. To bound the
    /// poll timeout.
    pub fn next_deadline(&self) -> Option<u64> {
        let token = self
            .token_deadlines
            .first()
            .map(|(secs, _)| secs.saturating_mul(1000));
        let key = self
            .expiry
            .next_deadline()
            .map(|at| at.max(self.expiry_paused_until.unwrap_or(0)));
        [key, token, self.next_retry()].into_iter().flatten().min()
    }

    /// Whether work is waiting that can be done now (the loop must not
    /// sleep): ephemeral keys to delete, or a job whose client has room.
    pub fn has_work(&self, out: &impl Outbound) -> bool {
        !self.reaping.is_empty() || self.jobs_runnable(out)
    }
}
