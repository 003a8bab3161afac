//! Server configuration: every limit kvws enforces, with its default and the
//! reason for that default.
//!
//! The defaults are chosen for the smallest host we care about (a Raspberry Pi
//! with 1 GiB of memory) exposed on a local network: each one bounds what a
//! single misbehaving client can make the server hold in memory or wait for.
//!
//! ```text
//! mod.rs       Config: every field, its default and the reason for it
//! setters.rs   the chainable setters (Config::default().port(0)...)
//! validate.rs  the limits checked against each other at start
//! changed.rs   the settings that differ from their defaults, for the log
//! fsync.rs     Fsync: when logged changes reach the disk
//! ```

mod changed;
mod fsync;
mod setters;
mod validate;

use std::time::Duration;

use std::path::PathBuf;

pub use fsync::Fsync;

use crate::auth::Secret;
use crate::metrics::MetricsToken;

/// What a [`Server`](crate::Server) listens on and what it allows.
///
/// Build one with [`Config::default`] and the chainable setters:
///
/// ```
/// let config = kvws::Config::default().port(0).max_connections(100);
/// assert_eq!(config.max_connections, 100);
/// ```
///
/// New limits are added over time, so the struct is `#[non_exhaustive]`: it
/// can be read field by field but only built through `default()` and setters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Host name or address to bind. Default `127.0.0.1`: loopback only, so a
    /// fresh install is not reachable from the network until asked to be.
    pub host: String,
    /// TCP port. Default 8080 (the R server's). `0` picks a free port; read
    /// it back with [`Server::local_addr`](crate::Server::local_addr).
    pub port: u16,
    /// Most WebSocket and HTTP connections served at once. Default 10,000.
    /// One past the limit is answered `503 Service Unavailable` and closed,
    /// so a flood of connections costs a bounded amount of memory (each
    /// connection costs a few KiB, see the README's figures).
    pub max_connections: usize,
    /// Largest WebSocket message accepted, in bytes. Default 1 MiB + 64 KiB:
    /// a `set` of the largest value allowed, with room for the message
    /// around it. A larger one closes the connection with code 1009 before
    /// it is buffered.
    pub max_message_size: usize,
    /// Most bytes queued for one client that does not read them. Default
    /// 8 MiB. Past it the client is disconnected with code 1008 (a slow
    /// consumer must not make the server hold every update for it forever).
    pub max_output_buffer: usize,
    /// Largest message from a connection that has not authenticated yet,
    /// when authentication is on. Default 16 KiB: an `auth` message with a
    /// token is well under it, and strangers cannot make the server buffer
    /// a megabyte each (at 10,000 connections that would be 10 GB).
    pub preauth_message_size: usize,
    /// Most bytes queued for a connection that has not authenticated yet,
    /// when authentication is on. Default 64 KiB: a few replies; a
    /// stranger that sends requests without reading the errors is closed
    /// (1008) long before it holds much.
    pub preauth_output_buffer: usize,
    /// Most bytes all clients together may make the server hold in output
    /// queues and in messages still arriving, like Redis's
    /// `maxmemory-clients`. Default 256 MiB. Past it the connection holding
    /// the most is closed with 1013 (try again later), so that many
    /// connections each within their own limits cannot exhaust memory.
    pub max_client_memory: usize,
    /// Longest `id`, `key` or `prefix`, in bytes. Default 1 KiB: names are
    /// names, and they are copied into every notification.
    pub max_name_length: usize,
    /// Largest value a `set` may store, in bytes. Default 1 MiB. It must
    /// fit in a message with its envelope (see [`Config::validate`]).
    pub max_value_size: usize,
    /// Most bytes the store may hold (names, values and per-key overhead),
    /// like Redis's `maxmemory`. Default 256 MiB: a quarter of a small
    /// host's memory. Past it a `set` fails with `store_full`; nothing
    /// already stored is evicted.
    pub max_memory: usize,
    /// Most subscriptions one connection may hold. Default 1,000: each costs
    /// the server a few hundred bytes, and prefix subscriptions cover the
    /// cases that would need more.
    pub max_subscriptions: usize,
    /// Time a new connection has to send a complete HTTP request head (on
    /// a TLS port, the TLS handshake included). Default 10 s; a client
    /// that dribbles bytes slower is cut off.
    pub handshake_timeout: Duration,
    /// Time a WebSocket may stay silent. After half of it the server sends
    /// a ping; a client that has answered nothing (not even a pong) when it
    /// has all passed is disconnected. Default 60 s: dead peers (a laptop
    /// closed mid-session) are noticed within a minute, and browsers answer
    /// pings on their own. Zero turns it off (no pings, no idle closes).
    pub idle_timeout: Duration,
    /// Time a closing connection has to answer our close frame (or to read
    /// our final HTTP response) before the socket is dropped. Default 5 s.
    pub close_timeout: Duration,
    /// Changes kept for `subscribe` with `since`. Default 10,000.
    pub history_len: usize,
    /// Bytes of encoded changes kept for `since`. Default 16 MiB: bounds the
    /// history when values are large.
    pub history_bytes: usize,
    /// Most keys a prefix subscription may deliver as its snapshot. Default
    /// 1,000; beyond that the client should page with `list` instead.
    pub max_prefix_snapshot: usize,
    /// The revision a new, empty store starts from (its first change gets
    /// the next one). Default `None`: the current time in microseconds since
    /// the Unix epoch, so that revisions always grow across restarts and a
    /// client resuming with a revision from an earlier run of an in-memory
    /// server is told to resync instead of being sent the wrong changes.
    /// Set it for reproducible revisions (tests, demos).
    pub start_revision: Option<u64>,
    /// The secret that signs access tokens. Default `None`: no
    /// authentication (the R server's open mode). With a secret, every
    /// client must present a token (see [`crate::auth`]).
    pub secret: Option<Secret>,
    /// The file [`Config::secret`] was read from, if any: what
    /// [`Server::reload_secret`](crate::Server::reload_secret) reads again
    /// to rotate secrets without a restart. Default `None`.
    pub secret_file: Option<PathBuf>,
    /// The bearer token a scraper must present to read `/metrics`. Default
    /// `None`: only peers on a loopback address may read it. With a token,
    /// every request for it must carry `Authorization: Bearer TOKEN`,
    /// loopback included.
    pub metrics_token: Option<MetricsToken>,
    /// Clock difference tolerated when checking a token's expiry. Default 0:
    /// a token is refused from its expiry second on.
    pub token_leeway: Duration,
    /// Serve without a secret on an address outside loopback. Default
    /// `false`: like Redis's protected mode, [`Server::bind`](crate::Server::bind)
    /// refuses, so that an open store is never exposed by accident.
    pub insecure_open: bool,
    /// Origins (`scheme://host[:port]`, or `*`) whose pages may open
    /// WebSockets besides the server's own. Default none: a browser page
    /// from another site gets `403`, which stops cross-site WebSocket
    /// hijacking of a server on localhost. Clients that send no `Origin`
    /// (anything but a browser) are not affected.
    pub allowed_origins: Vec<String>,
    /// Host names (besides IP addresses, `localhost` and `*.localhost`)
    /// that requests may name in their `Host` header; `.example.com` allows
    /// its subdomains, `*` any name. Default none. Checked when
    /// authentication is off, or when any is given: it stops a web page on
    /// a name an attacker points at 127.0.0.1 (DNS rebinding) from reading
    /// and writing an open server as if it were the server's own page.
    pub allowed_hosts: Vec<String>,
    /// Where the data lives between runs. Default `None`: in memory only,
    /// as the R server. With a directory every change is logged before it
    /// is acknowledged (see the README's Persistence section).
    pub data_dir: Option<PathBuf>,
    /// When logged changes reach the disk. Default `EverySec` (Redis's
    /// `appendfsync` default): at most about a second of acknowledged writes
    /// is lost in a power cut, and none in a crash of kvws itself.
    pub fsync: Fsync,
    /// Cut a damaged log at its first bad record instead of refusing to
    /// start. Default `false`: damage is never papered over silently.
    pub repair: bool,
    /// Logs are never compacted below this size. Default 32 MiB.
    pub compact_min: usize,
    /// Compact when the logs exceed this many times the live data. Default
    /// 2: the disk holds at most about three times the data. At least 1.
    pub compact_factor: usize,
    /// Cluster mode: the Redis that holds the store and orders every change
    /// of every node, as `redis://[[user]:password@]host[:port][/db]`.
    /// Default `None`: one node, its own store. Needs the `cluster` cargo
    /// feature; not with [`Config::data_dir`] (Redis's own persistence
    /// keeps the data).
    pub redis: Option<String>,
    /// The prefix of every Redis key kvws uses (`PREFIX:data`, ...), so
    /// that several stores share one Redis. Default `kvws`.
    pub redis_prefix: String,
    /// A PEM file with the server's certificate chain, its own certificate
    /// first. With [`Config::tls_key`] the port serves TLS (`https://` and
    /// `wss://`) instead of plain HTTP. Default `None`. Needs the `tls`
    /// cargo feature; read at start and again by
    /// [`Server::reload`](crate::Server::reload).
    pub tls_cert: Option<PathBuf>,
    /// A PEM file with the private key of [`Config::tls_cert`] (PKCS#8,
    /// PKCS#1 or SEC1). Default `None`.
    pub tls_key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".to_string(),
            port: 8080,
            max_connections: 10_000,
            max_message_size: (1 << 20) + (64 << 10),
            max_output_buffer: 8 << 20,
            preauth_message_size: 16 << 10,
            preauth_output_buffer: 64 << 10,
            max_client_memory: 256 << 20,
            max_name_length: 1024,
            max_value_size: 1 << 20,
            max_memory: 256 << 20,
            max_subscriptions: 1000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            close_timeout: Duration::from_secs(5),
            history_len: 10_000,
            history_bytes: 16 << 20,
            max_prefix_snapshot: 1000,
            start_revision: None,
            secret: None,
            secret_file: None,
            metrics_token: None,
            token_leeway: Duration::ZERO,
            insecure_open: false,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            data_dir: None,
            fsync: Fsync::EverySec,
            repair: false,
            compact_min: 32 << 20,
            compact_factor: 2,
            redis: None,
            redis_prefix: "kvws".to_string(),
            tls_cert: None,
            tls_key: None,
        }
    }
}
