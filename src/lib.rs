//! kvws: a key-value store with real-time subscriptions over WebSockets.
//!
//! (Crate documentation is filled in below as the layers land.)

pub mod cli;
pub mod config;
pub mod engine;
pub mod expiry;
pub mod history;
pub mod load;
pub mod protocol;
pub mod store;
pub mod subscriptions;

pub use config::Config;
pub mod net;

pub use net::control::{Handle, Stats};
pub use net::server::{Activity, Server};
