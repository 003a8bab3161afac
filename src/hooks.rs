//! Callbacks for programs that embed the server, in the spirit of the R
//! `websockets` package's `established`, `closed` and `receive`.
//!
//! Implement [`Hooks`] (every method has a do-nothing default) and install
//! it with [`Server::set_hooks`](crate::Server::set_hooks). The hooks run on
//! the server's thread, inside [`Server::service`](crate::Server::service):
//! they must not block, and what they send is flushed with everything else
//! at the end of the step.

use std::fmt;
use std::net::SocketAddr;

use crate::conn_id::ConnId;
use crate::engine::{Engine, Outbound, StoreError};
use crate::protocol::Json;

/// What a hook can do while it runs: message any connection and read or
/// write the store (writes notify subscribers like a client's would).
pub struct Context<'a> {
    engine: &'a mut Engine,
    out: &'a mut dyn Outbound,
    now_ms: u64,
}

impl<'a> Context<'a> {
    pub(crate) fn new(engine: &'a mut Engine, out: &'a mut dyn Outbound, now_ms: u64) -> Self {
        Context {
            engine,
            out,
            now_ms,
        }
    }

    /// Queues `json` (one JSON text message) for connection `to`. Messages
    /// to connections that are gone or closing are dropped.
    pub fn send(&mut self, to: ConnId, json: &str) {
        self.out.send(to, json.as_bytes());
    }

    /// Stores `value_json` (JSON text) under `id`/`key`; returns the
    /// revision of the change. Subscribers are notified.
    pub fn set(&mut self, id: &str, key: &str, value_json: &str) -> Result<u64, StoreError> {
        let value = Json::parse(value_json).ok_or_else(|| StoreError::invalid_json(value_json))?;
        self.engine.set(id, key, value, &mut *self.out)
    }

    /// The value (JSON text) and revision under `id`/`key`.
    pub fn get(&self, id: &str, key: &str) -> Option<(&str, u64)> {
        self.engine.store().get(id, key).map(|e| (&*e.value, e.rev))
    }

    /// Deletes `id`/`key`; returns the revision of the change, or `None` if
    /// the key did not exist. Subscribers are notified.
    pub fn delete(&mut self, id: &str, key: &str) -> Result<Option<u64>, StoreError> {
        self.engine.delete(id, key, &mut *self.out)
    }

    /// Whether connection `conn` may read application `id` (always true
    /// without authentication). For hooks handling their own message types.
    pub fn can_read(&self, conn: ConnId, id: &str) -> bool {
        self.engine.allows(conn, id, false, self.now_ms)
    }

    /// Whether connection `conn` may change application `id`.
    pub fn can_write(&self, conn: ConnId, id: &str) -> bool {
        self.engine.allows(conn, id, true, self.now_ms)
    }

    /// The time of this loop step, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
}

/// A WebSocket handshake about to be accepted.
#[derive(Debug)]
pub struct OpenRequest<'a> {
    /// The connection's id, as later passed to the other hooks.
    pub conn: ConnId,
    /// The client's address.
    pub peer: SocketAddr,
    /// The request target (path and query).
    pub path: &'a str,
    /// The request headers, in the order received.
    pub headers: &'a [(String, String)],
}

impl OpenRequest<'_> {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a hook refused a connection: answered with `403 Forbidden` and this
/// reason as the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// A short explanation for the client (one line).
    pub reason: String,
}

impl Refusal {
    /// A refusal with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Refusal {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A message whose `type` the core protocol does not know.
#[derive(Debug)]
pub struct CustomMessage<'a> {
    /// Its `type`.
    pub kind: &'a str,
    /// The whole message, as JSON text.
    pub text: &'a str,
    /// Its `req`, as JSON text, for the reply to echo.
    pub req: Option<&'a str>,
}

impl CustomMessage<'_> {
    /// The message parsed into a JSON value (for hooks that want fields).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.text).unwrap_or(serde_json::Value::Null)
    }
}

/// Callbacks into the embedding program. All methods have defaults that do
/// nothing, so implement only what you need.
pub trait Hooks {
    /// A client asks to open a WebSocket. Return `Err` to refuse it (403).
    fn on_open(&mut self, request: &OpenRequest<'_>) -> Result<(), Refusal> {
        let _ = request;
        Ok(())
    }

    /// The WebSocket is open: messages sent now are the client's first.
    fn on_established(&mut self, ctx: &mut Context<'_>, conn: ConnId) {
        let _ = (ctx, conn);
    }

    /// The connection is gone (closed by either side, or failed). Its
    /// subscriptions and ephemeral keys have already been removed.
    fn on_close(&mut self, ctx: &mut Context<'_>, conn: ConnId) {
        let _ = (ctx, conn);
    }

    /// A message of a type the core does not handle. Return `true` if the
    /// hook handled it (and replied, if a reply is due); `false` sends the
    /// client the usual `unknown message type` error.
    fn on_message(
        &mut self,
        ctx: &mut Context<'_>,
        conn: ConnId,
        message: &CustomMessage<'_>,
    ) -> bool {
        let _ = (ctx, conn, message);
        false
    }
}

/// The hooks a server has until the program installs its own: none.
#[derive(Debug, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}
