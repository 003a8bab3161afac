//! Stable, machine-readable error codes carried by every `error` reply.

use std::fmt;

/// Why a request failed. The `code` string of each variant is part of the wire
/// protocol and never changes meaning; the human `message` beside it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The message is not valid JSON, not an object, or a field is missing or
    /// of the wrong type. Fix the request; retrying it unchanged fails again.
    BadRequest,
    /// `if_rev` did not match the key's current revision; the error carries
    /// the current `rev`.
    Conflict,
    /// A message, value or name is over its size limit.
    TooLarge,
    /// A prefix subscription would deliver more keys than the server allows
    /// as a snapshot; page through them with `list` instead.
    TooManyKeys,
    /// The connection already holds the most subscriptions it may.
    TooManySubscriptions,
    /// The server requires `auth` before anything else.
    Unauthenticated,
    /// The token's signature or format is wrong.
    InvalidToken,
    /// The token has expired; authenticate again.
    TokenExpired,
    /// The connection's role or access does not allow this request.
    Forbidden,
    /// The store is at its memory limit; the write was not applied.
    StoreFull,
    /// The write could not be made durable; it was not applied.
    StorageFailed,
    /// The shared store (Redis, in cluster mode) cannot be reached, or was
    /// lost while the write was in flight: the write may or may not have
    /// been made. Reads go on from this node's copy; retry the write later.
    Unavailable,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooManyKeys => "too_many_keys",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::StoreFull => "store_full",
            ErrorCode::StorageFailed => "storage_failed",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
