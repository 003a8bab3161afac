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
//!       store          HashMap id → key → entry (exact JSON text, revision),
//!                      large maps sharded so that no growth stalls the loop
//!       subscriptions  (id, key | prefix) → connections, and back
//!       history        recent changes, for resuming with `since`
//!       expiry         keys ordered by deadline
//!       auth           tokens (HS256 JWT) and what each connection may do
//!       engine         applies one request; says who gets which bytes
//! disk  persist        write-ahead log, snapshots, recovery, compaction
//! shell net            the poll loop (Server), connections, HTTP, signals
//!       hooks          callbacks into an embedding program
//!       url            ws://, http(s):// and redis:// URLs, split one way
//!                      for the client, the load tool and the origin check
//! faces client         a blocking client library
//!       cli            the `kvws` command line (src/main.rs is a thin main)
//!       load           the load generator behind `kvws load`
//! ```
//!
//! The path of a `set`: the socket is readable → the connection reads frames
//! until `WouldBlock` → each message goes to [`engine::Engine::handle`] →
//! the change is appended to the journal (with `--data-dir`), the store
//! updated, the revision bumped, the notification encoded and framed *once*
//! → the same bytes are queued for every subscriber → the journal is
//! committed (one `fdatasync` for the whole step with `--fsync always`) →
//! the server flushes every connection with output once, before it sleeps.
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
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod config;
mod conn_id;
pub mod engine;
pub mod expiry;
pub mod history;
pub mod hooks;
#[cfg(feature = "cli")]
pub mod load;
pub mod net;
pub mod persist;
pub mod protocol;
pub mod store;
pub mod subscriptions;
// Used by the command line, and by the shell's commands in `client`.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
mod units;
pub mod url;

pub use config::Config;
pub use conn_id::ConnId;
pub use engine::StoreError;
pub use hooks::{Context, CustomMessage, Hooks, NoHooks, OpenRequest, Refusal};
pub use net::control::{Handle, Stats};
pub use net::server::{Activity, Server};
pub use protocol::ErrorCode;
