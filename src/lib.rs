//! kvws: a key-value store with real-time subscriptions over WebSockets.
//!
//! (Crate documentation is filled in below as the layers land.)

pub mod config;
pub mod engine;
pub mod expiry;
pub mod history;
pub mod protocol;
pub mod store;
pub mod subscriptions;

pub use config::Config;
