//! A blocking kvws client: one WebSocket, requests answered in order, and
//! notifications queued as events. No async runtime, like the server.
//!
//! ```no_run
//! use std::time::Duration;
//! use kvws::client::{Client, SetOptions, Topic};
//!
//! fn main() -> kvws::client::Result<()> {
//!     let mut c = Client::connect("ws://127.0.0.1:8080/")?;
//!     c.subscribe("app1", &Topic::key("greeting"), None)?;
//!     let stored = c.set("app1", "greeting", r#"{"text":"hello"}"#, &SetOptions::new())?;
//!     println!("stored at rev {}", stored.rev);
//!     while let Some(event) = c.next_event(Some(Duration::from_secs(1)))? {
//!         println!("{}", event.text); // the notification of our own set
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Decisions
//!
//! - **Blocking, one request at a time.** A request is sent with a fresh
//!   `req` and the client reads until the reply with that `req`; whatever
//!   arrives meanwhile without a `req` (notifications, prefix snapshots,
//!   replays) is queued, in order, and handed out by
//!   [`Client::next_event`]. The protocol answers requests in order, so
//!   one outstanding request loses nothing and keeps the code obvious.
//! - **Values are JSON text.** They are sent and returned exactly as given
//!   and stored (`&str` in, `String` out), never round-tripped through
//!   `serde_json::Value`, which would lose big integers and number
//!   formatting. [`Client::set_value`] and [`Entry::decode`] are there for
//!   callers who want serde.
//! - **Timeouts everywhere.** Connecting, each reply and each write are
//!   bounded ([`ConnectOptions`]); a read that times out leaves the
//!   connection usable.
//! - **Reconnecting is a layer, not a mode.** [`Client`] reports a lost
//!   connection and stays dead; [`Subscriber`] owns a `Client`, replaces it
//!   when it dies, and resumes every subscription with `since`, telling the
//!   caller whether the server replayed what was missed or asked for a
//!   resync.
//!
//! # Layout
//!
//! ```text
//! url.rs         Endpoint: the ws:// URLs a client accepts (crate::url splits them)
//! request.rs     requests as JSON text; Topic, SetOptions, ListOptions
//! message.rs     server messages parsed once, values kept as JSON text
//! reply.rs       Event and the typed replies (Entry, Subscribed, ...)
//! connect.rs     resolve, connect and handshake within a deadline
//! stream.rs      the socket: plain, or TLS (rustls) for wss://
//! websocket.rs   the handshake and client frames, shared with `kvws load`
//! conn.rs        Client: send, read with deadlines, match replies
//! api.rs         Client's typed methods: get, set, delete, subscribe, ...
//! track.rs       subscriptions and the revision each would resume after
//! subscriber.rs  Subscriber: reconnect, re-authenticate, resume
//! command/       the command language of `kvws shell`, parsed without I/O
//! ```

mod api;
pub mod command;
mod conn;
mod connect;
mod error;
mod message;
mod reply;
mod request;
mod stream;
mod subscriber;
mod track;
mod url;
pub(crate) mod websocket;

pub use conn::Client;
pub use connect::ConnectOptions;
pub use error::{Error, Result};
pub use reply::{Authenticated, Deleted, Entry, Event, Keys, Subscribed};
pub use request::{ListOptions, SetOptions, Topic, check_json, json_or_string, json_string};
pub use subscriber::{Notice, Subscriber};
pub use track::Subscription;
pub use url::Endpoint;
