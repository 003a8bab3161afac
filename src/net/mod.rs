//! The shell: sockets, HTTP and WebSocket framing around the engine, driven
//! by one `mio` poll loop.

pub mod connection;
pub mod control;
pub mod http;
pub mod origin;
pub mod outbox;
pub mod response;
pub mod server;
pub mod socket;
pub mod stream;
pub mod wire;
