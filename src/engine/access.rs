//! Who may do what: `auth` and `upgrade`, the permission check in front of
//! every request, and the end of expired grants. All of it is skipped in
//! open mode (no secret configured).

use log::{debug, warn};

use super::{Engine, Outbound};
use crate::auth::{Role, TokenError};
use crate::conn_id::ConnId;
use crate::protocol::Json;
use crate::protocol::{ErrorCode, Request, encode};

/// Failed `auth`/`upgrade` attempts after which a connection is closed:
/// enough for a client to fix a typo or refresh a token, too few to guess.
pub const MAX_AUTH_FAILURES: u32 = 5;

/// WebSocket close code for a policy violation (RFC 6455 §7.4.1).
const POLICY_VIOLATION: u16 = 1008;

impl Engine {
    /// Checks that `conn` may make `request` at `now_ms`.
    #[inline]
    pub(super) fn authorize(
        &self,
        conn: ConnId,
        request: &Request,
        now_ms: u64,
    ) -> Result<(), (ErrorCode, String)> {
        if self.limits.auth.is_none() {
            return Ok(());
        }
        let (id, write) = match request {
            Request::Auth { .. } | Request::Upgrade { .. } => return Ok(()),
            Request::Set { id, .. } | Request::Delete { id, .. } => (&**id, true),
            Request::Get { id, .. }
            | Request::Subscribe { id, .. }
            | Request::Unsubscribe { id, .. }
            | Request::List { id, .. } => (&**id, false),
            // Messages for the embedding program's hooks need a live grant;
            // the hook checks ids itself (`Context::can_read`).
            Request::Other { .. } => ("", false),
        };
        let now = now_ms / 1000;
        let grants = self.sessions.get(&conn).map(|s| &s.grants);
        let result = match (grants, id) {
            (None, _) => Err(ErrorCode::Unauthenticated),
            (Some(g), "") if g.any_live(now) => Ok(()),
            (Some(g), "") if g.presented() => Err(ErrorCode::TokenExpired),
            (Some(_), "") => Err(ErrorCode::Unauthenticated),
            (Some(g), id) => g.check(id, write, now),
        };
        result.map_err(|code| {
            let message = match code {
                ErrorCode::Unauthenticated => {
                    "authenticate first with {\"type\":\"auth\",\"token\":...}".to_string()
                }
                ErrorCode::TokenExpired => {
                    format!("the token granting '{id}' has expired; send a fresh one with auth")
                }
                _ if write => format!("your token does not allow changing '{id}'"),
                _ => format!("your token does not allow reading '{id}'"),
            };
            (code, message)
        })
    }

    /// Checks tokens with `secret` from now on (a rotation: see
    /// [`crate::auth::Secret`]); connections keep the grants they have.
    /// Returns false, changing nothing, when authentication is off (a
    /// secret cannot turn it on: connections were opened under the open
    /// mode's limits).
    pub fn set_secret(&mut self, secret: crate::auth::Secret) -> bool {
        match &mut self.limits.auth {
            Some((current, _)) => {
                *current = secret;
                true
            }
            None => false,
        }
    }

    /// Whether `conn` may read (`write`: change) application `id` now. Always
    /// true in open mode. For hooks that handle their own message types.
    pub fn allows(&self, conn: ConnId, id: &str, write: bool, now_ms: u64) -> bool {
        if self.limits.auth.is_none() {
            return true;
        }
        self.sessions
            .get(&conn)
            .is_some_and(|s| s.grants.check(id, write, now_ms / 1000).is_ok())
    }

    /// `auth` (any valid token) and `upgrade` (a manager token only).
    pub(super) fn auth(
        &mut self,
        conn: ConnId,
        req: Option<Json>,
        token_text: &str,
        upgrade: bool,
        now_ms: u64,
        out: &mut impl Outbound,
    ) {
        let Some((secret, leeway)) = &self.limits.auth else {
            let message = "authentication is not enabled on this server";
            return self.error(conn, req, ErrorCode::BadRequest, message, out);
        };
        let now = now_ms / 1000;
        let result = match secret.verify(token_text, now, *leeway) {
            Ok(claims) if upgrade && claims.role != Role::Manager => Err((
                ErrorCode::Forbidden,
                "upgrade needs a manager token".to_string(),
            )),
            Ok(claims) => Ok(claims),
            Err(TokenError::Invalid(why)) => {
                Err((ErrorCode::InvalidToken, format!("invalid token: {why}")))
            }
            Err(TokenError::Expired) => {
                Err((ErrorCode::TokenExpired, "the token has expired".to_string()))
            }
        };
        let leeway = *leeway;
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let what = if upgrade { "upgrade" } else { "auth" };
        let peer = session
            .peer
            .map_or_else(|| format!("connection {conn}"), |p| p.to_string());
        match result {
            Ok(mut claims) => {
                let expires = claims.exp;
                claims.exp = claims.exp.saturating_add(leeway);
                session.grants.add(&claims);
                session.deadlines.insert(claims.exp);
                self.token_deadlines.insert((claims.exp, conn));
                out.authenticated(conn);
                debug!("{peer}: {what} as {} until {expires}", claims.role.as_str());
                let ids: Vec<&str> = match claims.role {
                    Role::Manager => vec!["*"],
                    Role::Guest => claims.ids.iter().map(String::as_str).collect(),
                };
                self.buf.clear();
                encode::Obj::new(&mut self.buf, "authenticated")
                    .str("role", claims.role.as_str())
                    .strs("ids", ids)
                    .str("access", claims.access.as_str())
                    .u64("expires", expires)
                    .req(req)
                    .end();
                out.send(conn, &self.buf);
            }
            Err((code, message)) => {
                session.failures += 1;
                let failures = session.failures;
                // The token itself is never logged.
                warn!(
                    "{peer}: {what} failed ({code}: {message}), attempt {failures} of {MAX_AUTH_FAILURES}"
                );
                self.error(conn, req, code, &message, out);
                if failures >= MAX_AUTH_FAILURES {
                    warn!("{peer}: closing after {failures} failed authentication attempts");
                    out.close(
                        conn,
                        POLICY_VIOLATION,
                        "too many failed authentication attempts",
                    );
                }
            }
        }
    }

    /// Ends the grants whose time has come: their subscriptions are dropped
    /// and the client is told which ids it lost.
    pub(super) fn expire_tokens(&mut self, now_ms: u64, out: &mut impl Outbound) {
        let now = now_ms / 1000;
        while let Some(&(at, conn)) = self.token_deadlines.first() {
            if at > now {
                break;
            }
            self.token_deadlines.pop_first();
            let Some(session) = self.sessions.get(&conn) else {
                continue;
            };
            let mut dropped = 0;
            for (id, topic) in self.subs.topics(conn) {
                if session.grants.check(&id, false, now).is_err() {
                    self.subs.remove(conn, &id, &topic.as_topic());
                    dropped += 1;
                }
            }
            if let Some(next) = session.grants.next_expiry(now) {
                self.token_deadlines.insert((next, conn));
            }
            if let Some(session) = self.sessions.get_mut(&conn) {
                session.deadlines.remove(&at);
                if let Some(next) = session.grants.next_expiry(now) {
                    session.deadlines.insert(next);
                }
            }
            let Some(session) = self.sessions.get(&conn) else {
                continue;
            };
            let ids = session.grants.expiring_at(at);
            if ids.is_empty() {
                continue; // refreshed in time
            }
            let message = format!(
                "your token expired; {dropped} subscriptions were dropped; send a fresh token with auth"
            );
            self.buf.clear();
            encode::error_obj(&mut self.buf, ErrorCode::TokenExpired, &message)
                .strs("ids", ids)
                .end();
            out.send(conn, &self.buf);
        }
    }
}
