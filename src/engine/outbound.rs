//! The engine's interface to whatever carries its output: the [`Outbound`]
//! trait (the server implements it over its connections, tests over a
//! `Vec`), the error an embedding program's own write gets, and a message
//! the engine leaves to the caller.

use std::borrow::Cow;
use std::fmt;

use crate::conn_id::ConnId;
use crate::protocol::frame::FrameRef;
use crate::protocol::{ErrorCode, Json};

/// Where the engine's output goes.
pub trait Outbound {
    /// Queues one encoded JSON message for connection `to`.
    fn send(&mut self, to: ConnId, json: &[u8]);
    /// Queues an already framed message that several connections share.
    fn send_frame(&mut self, to: ConnId, frame: FrameRef<'_>);
    /// Asks for connection `to` to be closed with a WebSocket close `code`
    /// (after what is already queued for it). Outputs that are not
    /// connections ignore it.
    fn close(&mut self, to: ConnId, code: u16, reason: &'static str) {
        let _ = (to, code, reason);
    }
    /// Bytes that may still be queued for `to` before it counts as not
    /// reading, or `None` if it is gone. Work that produces output in
    /// slices (large snapshots and replays) stops there and goes on once
    /// the client has read. Outputs that are not connections take
    /// everything at once.
    fn room(&self, to: ConnId) -> Option<usize> {
        let _ = to;
        Some(usize::MAX)
    }
    /// Says that `to` has authenticated: it may now send and be sent as
    /// much as any client (connections start with small limits when
    /// authentication is on).
    fn authenticated(&mut self, to: ConnId) {
        let _ = to;
    }
    /// Queues one encoded JSON message for every open connection. Outputs
    /// that are not connections ignore it.
    fn broadcast(&mut self, json: &[u8]) {
        let _ = json;
    }
}

/// Why a write made by the embedding program (not a client) was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// The same code a client would get.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl StoreError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        StoreError {
            code,
            message: message.into(),
        }
    }

    /// The error for `text`, a value that is not JSON.
    pub fn invalid_json(text: &str) -> Self {
        // serde_json says precisely what is wrong and where.
        let why = serde_json::from_str::<serde::de::IgnoredAny>(text)
            .err()
            .map_or_else(|| "not a single JSON value".to_string(), |e| e.to_string());
        StoreError::new(
            ErrorCode::BadRequest,
            format!("value is not valid JSON: {why}"),
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for StoreError {}

/// A message of a type the engine does not know, handed back to the caller
/// (which may have a hook for it) instead of being answered with an error.
#[derive(Debug)]
pub struct Unknown<'a> {
    /// The message's `type`.
    pub kind: Cow<'a, str>,
    /// The whole message text.
    pub text: &'a str,
    /// The message's `req`, if any.
    pub req: Option<Json<'a>>,
}
