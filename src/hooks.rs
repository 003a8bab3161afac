//! Callbacks for programs that embed the server, in the spirit of the R
//! `websockets` package's `established`, `closed`, `receive` and
//! `webpage`.
//!
//! Implement [`Hooks`] (every method has a do-nothing default) and install
//! it with [`Server::set_hooks`](crate::Server::set_hooks). The hooks run on
//! the server's thread, inside [`Server::service`](crate::Server::service):
//! they must not block, and what they send is flushed with everything else
//! at the end of the step.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::auth::Role;
use crate::conn_id::ConnId;
use crate::engine::{Engine, Outbound, StoreError};
use crate::protocol::Json;
use crate::protocol::frame::FrameRef;

use crate::net::response::Response;

/// What a hook can do while it runs: message any connection and read or
/// write the store (writes notify subscribers like a client's would).
pub struct Context<'a> {
    engine: &'a mut Engine,
    out: &'a mut dyn Outbound,
    now_ms: u64,
    /// The connection whose message the hook is handling: the notifications
    /// its writes cause for it wait until the hook is done, so that the
    /// hook's reply comes first, as a built-in `set`'s does.
    caller: Option<ConnId>,
    held: Vec<Held>,
}

/// A notification for the caller, held until the hook returns.
enum Held {
    Copied(Vec<u8>),
    Shared(Arc<[u8]>),
}

/// Passes output through, except the caller's notifications, which it holds.
struct Holding<'o, 'h> {
    out: &'o mut dyn Outbound,
    caller: Option<ConnId>,
    held: &'h mut Vec<Held>,
}

impl Outbound for Holding<'_, '_> {
    fn send(&mut self, to: ConnId, json: &[u8]) {
        self.out.send(to, json);
    }

    fn send_frame(&mut self, to: ConnId, frame: FrameRef<'_>) {
        if Some(to) != self.caller {
            return self.out.send_frame(to, frame);
        }
        self.held.push(match frame.shared {
            Some(shared) => Held::Shared(shared.clone()),
            None => Held::Copied(frame.bytes.to_vec()),
        });
    }

    fn close(&mut self, to: ConnId, code: u16, reason: &'static str) {
        self.out.close(to, code, reason);
    }

    fn room(&self, to: ConnId) -> Option<usize> {
        self.out.room(to)
    }

    fn authenticated(&mut self, to: ConnId) {
        self.out.authenticated(to);
    }

    fn broadcast(&mut self, json: &[u8]) {
        self.out.broadcast(json);
    }
}

impl<'a> Context<'a> {
    pub(crate) fn new(engine: &'a mut Engine, out: &'a mut dyn Outbound, now_ms: u64) -> Self {
        Context {
            engine,
            out,
            now_ms,
            caller: None,
            held: Vec::new(),
        }
    }

    /// A context for handling a message from `caller`.
    pub(crate) fn for_message(
        engine: &'a mut Engine,
        out: &'a mut dyn Outbound,
        now_ms: u64,
        caller: ConnId,
    ) -> Self {
        Context {
            engine,
            out,
            now_ms,
            caller: Some(caller),
            held: Vec::new(),
        }
    }

    fn holding(&mut self) -> (&mut Engine, Holding<'_, '_>) {
        let out = Holding {
            out: &mut *self.out,
            caller: self.caller,
            held: &mut self.held,
        };
        (&mut *self.engine, out)
    }

    /// Queues `json` (one JSON text message) for connection `to`. Messages
    /// to connections that are gone or closing are dropped.
    pub fn send(&mut self, to: ConnId, json: &str) {
        self.out.send(to, json.as_bytes());
    }

    /// Queues `json` for every open WebSocket connection (the R package's
    /// `websocket_broadcast`).
    pub fn broadcast(&mut self, json: &str) {
        self.out.broadcast(json.as_bytes());
    }

    /// The address connection `conn` comes from (`None` once it is gone).
    pub fn peer(&self, conn: ConnId) -> Option<SocketAddr> {
        self.engine.peer(conn)
    }

    /// What connection `conn` has authenticated as: `None` before it has
    /// (and always without authentication), else its highest role still
    /// granted.
    pub fn role(&self, conn: ConnId) -> Option<Role> {
        self.engine.role(conn, self.now_ms)
    }

    /// Stores `value_json` (JSON text) under `id`/`key`; returns the
    /// revision of the change. Subscribers are notified (the connection
    /// whose message the hook is handling after the hook's own replies).
    pub fn set(&mut self, id: &str, key: &str, value_json: &str) -> Result<u64, StoreError> {
        let value = Json::parse(value_json).ok_or_else(|| StoreError::invalid_json(value_json))?;
        let (engine, mut out) = self.holding();
        engine.set(id, key, value, &mut out)
    }

    /// The value (JSON text) and revision under `id`/`key`.
    pub fn get(&self, id: &str, key: &str) -> Option<(&str, u64)> {
        self.engine.store().get(id, key).map(|e| (&*e.value, e.rev))
    }

    /// Deletes `id`/`key`; returns the revision of the change, or `None` if
    /// the key did not exist. Subscribers are notified.
    pub fn delete(&mut self, id: &str, key: &str) -> Result<Option<u64>, StoreError> {
        let (engine, mut out) = self.holding();
        engine.delete(id, key, &mut out)
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

impl Drop for Context<'_> {
    /// The hook is done: the caller's notifications go out, after its
    /// replies.
    fn drop(&mut self) {
        let Some(caller) = self.caller else {
            return;
        };
        for held in std::mem::take(&mut self.held) {
            match &held {
                Held::Copied(bytes) => self.out.send_frame(caller, FrameRef::copied(bytes)),
                Held::Shared(shared) => self.out.send_frame(caller, FrameRef::shared(shared)),
            }
        }
    }
}

/// An HTTP request that is not a WebSocket handshake, offered to the
/// embedding program before the server's own pages.
#[derive(Debug)]
pub struct HttpRequest<'a> {
    /// The client's address.
    pub peer: SocketAddr,
    /// The method, e.g. `GET`.
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The query string (after `?`), if any.
    pub query: Option<&'a str>,
    /// The request headers, in the order received.
    pub headers: &'a [(String, String)],
}

impl HttpRequest<'_> {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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
    /// An HTTP request that is not a WebSocket handshake (the R package's
    /// `webpage`): return a response to serve it, or `None` to leave it to
    /// the server (its test page at `/`, `404` elsewhere). Only the request
    /// head is read; a body is not. [`Response::file`] serves a directory.
    fn on_http(&mut self, request: &HttpRequest<'_>) -> Option<Response> {
        let _ = request;
        None
    }

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
    /// client the usual `unknown message type` error. The notifications
    /// its writes cause for `conn` itself go out after what it sends
    /// `conn`, as for a built-in `set`.
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
