//! What one connection may do: the union of the tokens it has presented.
//!
//! A connection may present several guest tokens (one per application id,
//! or one naming several) and a manager token; a later token for the same
//! id replaces the earlier grant, which is how a client refreshes a token
//! before it expires without reconnecting. Expiry is checked on every
//! request against the clock, so a grant stops working at its expiry second
//! even before the server's timer has dropped the subscriptions it covered.

use std::collections::HashMap;

use super::token::{Access, Claims, Role};
use crate::protocol::ErrorCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Grant {
    access: Access,
    /// Unix second from which the grant no longer holds.
    expires: u64,
}

impl Grant {
    fn allows(&self, write: bool) -> bool {
        !write || self.access == Access::ReadWrite
    }
}

/// The grants of one connection.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    manager: Option<Grant>,
    ids: HashMap<Box<str>, Grant>,
}

impl Grants {
    /// The highest role with a grant live at `now`.
    pub fn role(&self, now: u64) -> Option<Role> {
        if self.manager.is_some_and(|g| now < g.expires) {
            return Some(Role::Manager);
        }
        self.ids
            .values()
            .any(|g| now < g.expires)
            .then_some(Role::Guest)
    }

    /// Whether any token (valid or since expired) was ever accepted.
    pub fn presented(&self) -> bool {
        self.manager.is_some() || !self.ids.is_empty()
    }

    /// Adds what `claims` grant, replacing earlier grants for the same ids.
    pub fn add(&mut self, claims: &Claims) {
        let grant = Grant {
            access: claims.access,
            expires: claims.exp,
        };
        match claims.role {
            Role::Manager => self.manager = Some(grant),
            Role::Guest => {
                for id in &claims.ids {
                    self.ids.insert(id.as_str().into(), grant);
                }
            }
        }
    }

    /// Whether the connection may read (or, with `write`, change) `id` at
    /// `now` (Unix seconds); the error code to answer otherwise.
    pub fn check(&self, id: &str, write: bool, now: u64) -> Result<(), ErrorCode> {
        let live = |g: &Grant| now < g.expires;
        let candidates = [self.manager.as_ref(), self.ids.get(id)];
        if candidates
            .iter()
            .flatten()
            .any(|g| live(g) && g.allows(write))
        {
            return Ok(());
        }
        if candidates.iter().flatten().any(|g| live(g)) {
            return Err(ErrorCode::Forbidden); // read-only
        }
        if candidates.iter().flatten().next().is_some() {
            return Err(ErrorCode::TokenExpired);
        }
        if !self.presented() {
            return Err(ErrorCode::Unauthenticated);
        }
        // Nothing reveals whether an id the connection has no rights to exists.
        Err(ErrorCode::Forbidden)
    }

    /// Whether anything the connection holds is still valid at `now`.
    pub fn any_live(&self, now: u64) -> bool {
        self.manager
            .iter()
            .chain(self.ids.values())
            .any(|g| now < g.expires)
    }

    /// The earliest expiry still ahead of `now`, for the server's timer.
    pub fn next_expiry(&self, now: u64) -> Option<u64> {
        self.manager
            .iter()
            .chain(self.ids.values())
            .map(|g| g.expires)
            .filter(|&e| e > now)
            .min()
    }

    /// The ids whose grant ends exactly at `at` (`*` for a manager grant):
    /// the ones a timer firing at `at` should report as lost.
    pub fn expiring_at(&self, at: u64) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .ids
            .iter()
            .filter(|(_, g)| g.expires == at)
            .map(|(id, _)| &**id)
            .collect();
        if self.manager.is_some_and(|g| g.expires == at) {
            ids.push("*");
        }
        ids.sort_unstable();
        ids
    }

    /// The ids whose guest grant has expired at `now` (for the notice sent
    /// when subscriptions are dropped); `*` when a manager grant has.
    pub fn expired_ids(&self, now: u64) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .ids
            .iter()
            .filter(|(_, g)| now >= g.expires)
            .map(|(id, _)| &**id)
            .collect();
        if self.manager.is_some_and(|g| now >= g.expires) {
            ids.push("*");
        }
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(role: Role, ids: &[&str], access: Access, exp: u64) -> Claims {
        Claims {
            role,
            ids: ids.iter().map(|s| s.to_string()).collect(),
            access,
            exp,
            nbf: None,
        }
    }

    #[test]
    fn nothing_presented_is_unauthenticated() {
        assert_eq!(
            Grants::default().check("a", false, 0),
            Err(ErrorCode::Unauthenticated)
        );
    }

    #[test]
    fn guests_reach_their_ids_only_and_read_only_cannot_write() {
        let mut g = Grants::default();
        g.add(&claims(Role::Guest, &["a"], Access::ReadWrite, 100));
        g.add(&claims(Role::Guest, &["b"], Access::Read, 100));
        assert_eq!(g.check("a", true, 0), Ok(()));
        assert_eq!(g.check("b", false, 0), Ok(()));
        assert_eq!(g.check("b", true, 0), Err(ErrorCode::Forbidden));
        assert_eq!(g.check("c", false, 0), Err(ErrorCode::Forbidden));
    }

    #[test]
    fn managers_reach_every_id() {
        let mut g = Grants::default();
        g.add(&claims(Role::Manager, &[], Access::ReadWrite, 100));
        assert_eq!(g.check("anything", true, 99), Ok(()));
        assert_eq!(g.check("anything", true, 100), Err(ErrorCode::TokenExpired));
    }

    #[test]
    fn expiry_and_refresh() {
        let mut g = Grants::default();
        g.add(&claims(Role::Guest, &["a", "b"], Access::ReadWrite, 100));
        assert_eq!(g.next_expiry(0), Some(100));
        assert_eq!(g.check("a", false, 100), Err(ErrorCode::TokenExpired));
        assert_eq!(g.expired_ids(100), ["a", "b"]);
        assert!(!g.any_live(100));
        // A new token for "a" refreshes it; "b" stays expired.
        g.add(&claims(Role::Guest, &["a"], Access::ReadWrite, 200));
        assert_eq!(g.check("a", true, 150), Ok(()));
        assert_eq!(g.check("b", false, 150), Err(ErrorCode::TokenExpired));
        assert_eq!(g.next_expiry(150), Some(200));
    }
}
