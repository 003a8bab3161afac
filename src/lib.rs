//! kvws: a key-value store with real-time subscriptions over WebSockets.
//!
//! Clients open a WebSocket and send JSON requests (`set`, `get`, `delete`,
//! `subscribe`, `unsubscribe`, `list`), each scoped by an application `id`;
//! every change is pushed to the subscribers of its key or prefix. The wire
//! protocol is described in `PROTOCOL.md`.
//!
//! # Architecture
//!
//! One thread, one [`mio`] poll loop, no async runtime. A pure core that
//! knows nothing of sockets sits under a thin I/O shell:
//!
//! ```text
//! core  protocol       parse a frame into a request; encode and frame replies
//!       change         what a write is (a change with its revision) and
//!                      where changes go to become durable (Journal)
//!       store          HashMap id → key → entry (exact JSON text, revision),
//!                      large maps sharded so that no growth stalls the loop;
//!                      ordered indexes built a slice at a time
//!       subscriptions  (id, key | prefix) → connections, and back
//!       history        recent changes, for resuming with `since`
//!       expiry         keys ordered by deadline
//!       auth           tokens (HS256 JWT) and what each connection may do
//!       engine         applies one request; says who gets which bytes;
//!                      large answers as jobs run in slices
//!       config         every limit, with its default and the reason for it
//!       metrics        histograms and the Prometheus text format (a leaf:
//!                      each layer counts in its own fields)
//! disk  persist        write-ahead log, snapshots, recovery, compaction;
//!                      writes changes down, hands recovered ones back
//! share cluster        Redis as the shared, ordered log of many nodes: a
//!                      write is one Lua script, the stream of changes is
//!                      applied through the engine (the `cluster` feature)
//! shell net            the poll loop (Server: acceptor, connection set,
//!                      engine), connections and their wire, HTTP, signals,
//!                      reloading
//!       tls            TLS (the `tls` feature): certificates from PEM
//!                      files, the roots clients trust, TLS over a
//!                      non-blocking socket for the loops
//!       hooks          callbacks into an embedding program
//!       url            ws://, http(s):// and redis:// URLs, split one way
//!                      for the client, the load tool and the origin check
//! faces client         a blocking client library
//!       cli, load      the `kvws` command line and its load generator
//!                      (the `cli` feature; src/main.rs is a thin main)
//! ```
//!
//! Each layer imports only those below it: the core knows neither sockets
//! nor files, persistence knows changes and the store but not the engine,
//! the cluster link knows changes and proposals but not the engine, and
//! the shell drives them all.
//!
//! The path of a `set`: the socket is readable → the connection reads the
//! frames its budget allows → each message goes to
//! [`engine::Engine::handle`] → the change is appended to the journal (with
//! `--data-dir`), the store updated, the revision bumped, the notification
//! encoded and framed *once* → the same bytes are queued for every
//! subscriber → at the end of the step, closes are settled, the journal is
//! committed (one `fdatasync` for the whole step with `--fsync always`), and
//! the server flushes every connection with output once, before it sleeps.
//! In cluster mode the engine proposes the change instead; Redis orders it,
//! and it is applied when the stream brings it back, through the same path.
//!
//! # Public API
//!
//! The server and what an embedding program touches are at the root:
//! [`Server`], [`Config`], [`Hooks`] and [`Context`], [`Handle`]. The
//! layers below are public modules for programs that drive them directly
//! (tests, fuzzers, tools that read a data directory): [`engine`] (the
//! protocol without sockets), [`store`], [`change`], [`protocol`],
//! [`persist`], [`http`], `cluster` (what is kept in Redis); [`client`] is the blocking client library,
//! [`auth`] mints and checks tokens, [`url`] splits the URLs kvws meets,
//! and [`metrics`] holds what
//! `GET /metrics` is written with (and its access token). Everything else
//! is private.
//!
//! # Embedding
//!
//! [`Server::service`] is one step of the loop, like the R `websockets`
//! package's `service()`: a program can drive it from its own loop, read and
//! write the store directly (writes notify subscribers), and react to
//! connections through [`Hooks`].
//!
//! ```no_run
//! use std::time::Duration;
//! use kvws::{Config, ConnId, Context, CustomMessage, Hooks, Server};
//!
//! /// Answers `{"type":"ping"}` with `{"type":"pong"}`.
//! struct Pong;
//!
//! impl Hooks for Pong {
//!     fn on_message(&mut self, ctx: &mut Context<'_>, conn: ConnId, msg: &CustomMessage<'_>) -> bool {
//!         if msg.kind != "ping" {
//!             return false;
//!         }
//!         ctx.send(conn, r#"{"type":"pong"}"#);
//!         true
//!     }
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     let mut server = Server::bind(Config::default().port(8080))?;
//!     server.set_hooks(Pong);
//!     println!("listening on {}", server.local_addr());
//!     let mut ticks = 0u64;
//!     loop {
//!         // Serve for up to 100 ms, then do our own work.
//!         server.service(Some(Duration::from_millis(100)))?;
//!         ticks += 1;
//!         if ticks % 10 == 0 {
//!             // Subscribers of demo/ticks see this as a normal change.
//!             server.set("demo", "ticks", &ticks.to_string()).expect("a number is valid JSON");
//!         }
//!     }
//! }
//! ```
//!
//! [`Handle`] (from [`Server::handle`]) stops or wakes the loop from another
//! thread; [`Server::run`] loops until it is stopped.

#![deny(missing_docs)]

pub mod auth;
pub mod change;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
#[cfg(feature = "cluster")]
pub mod cluster;
mod config;
mod conn_id;
pub mod engine;
mod expiry;
mod history;
mod hooks;
#[cfg(feature = "cli")]
pub mod load;
pub mod metrics;
mod net;
pub mod persist;
pub mod protocol;
pub mod store;
mod subscriptions;
#[cfg(feature = "tls")]
mod tls;
// Used by the command line, and by the shell's commands in `client`.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
mod units;
pub mod url;

/// The HTTP side of the port: reading a request head, and the checks a
/// request passes before it is served (for embedders, tools and fuzzing).
pub mod http {
    pub use crate::net::http::{
        CLIENT_JS, CLIENT_JS_PATH, HeadError, MAX_HEAD, PAGE, Request, Route, Status,
        client_js_etag, parse_head, route,
    };
    pub use crate::net::origin::{host_allowed, origin_allowed};
    pub use crate::net::response::{MAX_FILE, Response};
}

pub use config::{Config, Fsync};
pub use conn_id::ConnId;
pub use engine::StoreError;
pub use hooks::{Context, CustomMessage, Hooks, HttpRequest, NoHooks, OpenRequest, Refusal};
pub use net::control::{Handle, Stats};
pub use net::response::Response;
pub use net::server::{Activity, Reload, Server};
pub use protocol::ErrorCode;
