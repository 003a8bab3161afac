//! Server configuration: every limit kvws enforces, with its default and the
//! reason for that default.
//!
//! The defaults are chosen for the smallest host we care about (a Raspberry Pi
//! with 1 GiB of memory) exposed on a local network: each one bounds what a
//! single misbehaving client can make the server hold in memory or wait for.

use std::time::Duration;

use std::path::PathBuf;

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

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        impl Config {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`Config::port`].
    port: u16,
    /// Sets [`Config::max_connections`].
    max_connections: usize,
    /// Sets [`Config::max_message_size`].
    max_message_size: usize,
    /// Sets [`Config::max_output_buffer`].
    max_output_buffer: usize,
    /// Sets [`Config::preauth_message_size`].
    preauth_message_size: usize,
    /// Sets [`Config::preauth_output_buffer`].
    preauth_output_buffer: usize,
    /// Sets [`Config::max_client_memory`].
    max_client_memory: usize,
    /// Sets [`Config::max_name_length`].
    max_name_length: usize,
    /// Sets [`Config::max_value_size`].
    max_value_size: usize,
    /// Sets [`Config::max_memory`].
    max_memory: usize,
    /// Sets [`Config::max_subscriptions`].
    max_subscriptions: usize,
    /// Sets [`Config::handshake_timeout`].
    handshake_timeout: Duration,
    /// Sets [`Config::idle_timeout`].
    idle_timeout: Duration,
    /// Sets [`Config::close_timeout`].
    close_timeout: Duration,
    /// Sets [`Config::history_len`].
    history_len: usize,
    /// Sets [`Config::history_bytes`].
    history_bytes: usize,
    /// Sets [`Config::max_prefix_snapshot`].
    max_prefix_snapshot: usize,
    /// Sets [`Config::start_revision`].
    start_revision: Option<u64>,
    /// Sets [`Config::secret`].
    secret: Option<Secret>,
    /// Sets [`Config::secret_file`] (see also [`Config::secret`]).
    secret_file: Option<PathBuf>,
    /// Sets [`Config::metrics_token`].
    metrics_token: Option<MetricsToken>,
    /// Sets [`Config::token_leeway`].
    token_leeway: Duration,
    /// Sets [`Config::insecure_open`].
    insecure_open: bool,
    /// Sets [`Config::allowed_origins`].
    allowed_origins: Vec<String>,
    /// Sets [`Config::allowed_hosts`].
    allowed_hosts: Vec<String>,
    /// Sets [`Config::data_dir`].
    data_dir: Option<PathBuf>,
    /// Sets [`Config::fsync`].
    fsync: Fsync,
    /// Sets [`Config::repair`].
    repair: bool,
    /// Sets [`Config::compact_min`].
    compact_min: usize,
    /// Sets [`Config::compact_factor`].
    compact_factor: usize,
    /// Sets [`Config::redis`].
    redis: Option<String>,
    /// Sets [`Config::redis_prefix`].
    redis_prefix: String,
    /// Sets [`Config::tls_cert`].
    tls_cert: Option<PathBuf>,
    /// Sets [`Config::tls_key`].
    tls_key: Option<PathBuf>,
}

impl Config {
    /// Serves TLS with the certificate chain in `cert` and its key in `key`
    /// (both PEM; see [`Config::tls_cert`]).
    #[must_use]
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls_cert = Some(cert.into());
        self.tls_key = Some(key.into());
        self
    }

    /// Sets [`Config::host`].
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The settings that differ from their defaults, as `name value` (the
    /// flag's name), for the start-up log.
    pub fn changed(&self) -> Vec<String> {
        let d = Config::default();
        let mut out = Vec::new();
        let mut size = |name: &str, v: usize, dv: usize| {
            if v != dv {
                out.push(format!("{name} {}", show_size(v)));
            }
        };
        size("max-connections", self.max_connections, d.max_connections);
        size(
            "max-message-size",
            self.max_message_size,
            d.max_message_size,
        );
        size(
            "max-output-buffer",
            self.max_output_buffer,
            d.max_output_buffer,
        );
        size(
            "preauth-message-size",
            self.preauth_message_size,
            d.preauth_message_size,
        );
        size(
            "preauth-output-buffer",
            self.preauth_output_buffer,
            d.preauth_output_buffer,
        );
        size(
            "max-client-memory",
            self.max_client_memory,
            d.max_client_memory,
        );
        size("max-name-length", self.max_name_length, d.max_name_length);
        size("max-value-size", self.max_value_size, d.max_value_size);
        size("max-memory", self.max_memory, d.max_memory);
        size(
            "max-subscriptions",
            self.max_subscriptions,
            d.max_subscriptions,
        );
        size("history", self.history_len, d.history_len);
        size("history-bytes", self.history_bytes, d.history_bytes);
        size(
            "max-prefix-snapshot",
            self.max_prefix_snapshot,
            d.max_prefix_snapshot,
        );
        size("compact-min", self.compact_min, d.compact_min);
        size("compact-factor", self.compact_factor, d.compact_factor);
        for (name, v, dv) in [
            (
                "handshake-timeout",
                self.handshake_timeout,
                d.handshake_timeout,
            ),
            ("idle-timeout", self.idle_timeout, d.idle_timeout),
            ("close-timeout", self.close_timeout, d.close_timeout),
            ("token-leeway", self.token_leeway, d.token_leeway),
        ] {
            if v != dv && v.is_zero() {
                out.push(format!("{name} 0"));
            } else if v != dv {
                out.push(format!("{name} {v:?}"));
            }
        }
        if !self.allowed_origins.is_empty() {
            out.push(format!("allow-origin {}", self.allowed_origins.join(",")));
        }
        if !self.allowed_hosts.is_empty() {
            out.push(format!("allow-host {}", self.allowed_hosts.join(",")));
        }
        out
    }

    /// Checks that the limits make sense together; [`Server::bind`](crate::Server::bind)
    /// calls it, so a bad configuration fails at start, not at the first client.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max-connections", self.max_connections),
            ("max-message-size", self.max_message_size),
            ("max-output-buffer", self.max_output_buffer),
            ("max-name-length", self.max_name_length),
            ("preauth-message-size", self.preauth_message_size),
            ("preauth-output-buffer", self.preauth_output_buffer),
            ("max-client-memory", self.max_client_memory),
            ("compact-factor", self.compact_factor),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        // A `set` of the largest value must fit in one message: the value,
        // its id and key of the longest names, and the other fields.
        let envelope = 2 * self.max_name_length + 256;
        if self.max_value_size.saturating_add(envelope) > self.max_message_size {
            return Err(format!(
                "max-value-size ({}) with room for the message around it ({envelope} bytes for names \
                 of max-name-length {}) does not fit in max-message-size ({}): a value of the largest \
                 size could never be sent. Lower --max-value-size or raise --max-message-size",
                self.max_value_size, self.max_name_length, self.max_message_size
            ));
        }
        if self.max_output_buffer < self.max_message_size {
            // A reply can carry a whole stored value: the queue must hold one.
            return Err(format!(
                "max-output-buffer ({}) must be at least max-message-size ({})",
                self.max_output_buffer, self.max_message_size
            ));
        }
        if self.preauth_output_buffer < self.preauth_message_size {
            // An error reply echoes the request's `req`.
            return Err(format!(
                "preauth-output-buffer ({}) must be at least preauth-message-size ({})",
                self.preauth_output_buffer, self.preauth_message_size
            ));
        }
        for origin in &self.allowed_origins {
            if origin != "*" && !crate::net::origin::is_origin(origin) {
                return Err(format!(
                    "allow-origin '{origin}' is not an origin: give scheme://host[:port] \
                     (e.g. https://app.example.com) or *"
                ));
            }
        }
        if let Some(url) = &self.redis {
            self.validate_cluster(url)?;
        }
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err("--tls-cert and --tls-key go together: give both, or neither".into());
            }
            _ if cfg!(not(feature = "tls")) => {
                return Err("--tls-cert: this build has no TLS (the `tls` cargo feature)".into());
            }
            _ => {}
        }
        for host in &self.allowed_hosts {
            if !crate::net::origin::is_host_pattern(host) {
                return Err(format!(
                    "allow-host '{host}' is not a host name: give a name (kv.example.com), \
                     .example.com for its subdomains, or *"
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    fn validate_cluster(&self, url: &str) -> Result<(), String> {
        if self.data_dir.is_some() {
            return Err(
                "--data-dir and --redis do not go together: in cluster mode the data \
                 lives in Redis (use its persistence: appendonly yes)"
                    .into(),
            );
        }
        // Any bytes would do in a Redis key; a short printable prefix keeps
        // the keys readable in redis-cli.
        let prefix = &self.redis_prefix;
        if prefix.is_empty() || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "redis-prefix '{prefix}' must be 1 to 64 printable characters without spaces"
            ));
        }
        #[cfg(feature = "cluster")]
        return crate::cluster::RedisUrl::parse(url)
            .map(drop)
            .map_err(|e| format!("--redis: {e}"));
        #[cfg(not(feature = "cluster"))]
        {
            let _ = url;
            Err("--redis: this build has no cluster mode (the `cluster` cargo feature)".into())
        }
    }
}

/// When a change is on disk relative to its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fsync {
    /// `fdatasync` before the replies of each loop iteration: a reply means
    /// the change survives a power cut.
    Always,
    /// Written before the reply (survives a crash of kvws); `fdatasync` once
    /// a second in the background (a power cut loses at most about a second).
    #[default]
    EverySec,
    /// Written before the reply; the OS flushes when it likes.
    Never,
}

impl std::fmt::Display for Fsync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::Never => "never",
        })
    }
}

impl std::str::FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Fsync, String> {
        match s {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::EverySec),
            "never" => Ok(Fsync::Never),
            _ => Err(format!("'{s}' is not always, everysec or never")),
        }
    }
}

/// `n` bytes with the largest unit that divides it exactly (`64M`, `1040k`).
fn show_size(n: usize) -> String {
    for (unit, scale) in [("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)] {
        if n >= scale && n.is_multiple_of(scale) {
            return format!("{}{unit}", n / scale);
        }
    }
    n.to_string()
}
