//! What a load run does: the mode, the target, and the sizes.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::url::{Scheme, Url, UrlError};

/// The shape of the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `connections` clients, each with exactly one request in flight:
    /// latency under concurrency.
    ReqResp,
    /// `connections` clients, each with `depth` requests in flight:
    /// throughput.
    Pipeline,
    /// `connections` subscribers on one key and one publisher with `depth`
    /// sets in flight: delivery rate and publish-to-delivery latency.
    Fanout,
    /// `connections` idle connections with one subscription each: what a
    /// connection costs the server.
    Conns,
}

impl Mode {
    /// Every mode, in the order the command line lists them.
    pub const ALL: [Mode; 4] = [Mode::ReqResp, Mode::Pipeline, Mode::Fanout, Mode::Conns];

    /// The mode's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::ReqResp => "reqresp",
            Mode::Pipeline => "pipeline",
            Mode::Fanout => "fanout",
            Mode::Conns => "conns",
        }
    }

    /// The mode called `name` on the command line.
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Default `(connections, depth)`: 50×1, 50×64, 1000 subscribers × 16
    /// sets in flight, 10,000 connections.
    pub fn defaults(self) -> (usize, usize) {
        match self {
            Mode::ReqResp => (50, 1),
            Mode::Pipeline => (50, 64),
            Mode::Fanout => (1000, 16),
            Mode::Conns => (10_000, 1),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The server to load, and the protocol to speak to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `ws://HOST:PORT/PATH` (or `wss://`): kvws, the R server, or
    /// anything speaking the kvws protocol.
    Ws {
        /// `wss://`: TLS.
        tls: bool,
        /// The resolved address.
        addr: SocketAddr,
        /// `HOST:PORT` (the default port filled in), for the `Host` header.
        host: String,
        /// The request path (`/` when the URL has none).
        path: String,
    },
    /// `redis://HOST:PORT`: a Redis server, for comparison (RESP2).
    Redis {
        /// The resolved address.
        addr: SocketAddr,
    },
}

impl Target {
    /// Parses `ws://HOST:PORT/PATH`, `wss://HOST:PORT/PATH` or
    /// `redis://HOST:PORT` (default ports 80, 443 and 6379; the URL is split
    /// by [`crate::url`]) and resolves the host.
    pub fn parse(url: &str) -> Result<Target, String> {
        let parsed = match Url::parse(url) {
            Ok(u) => u,
            Err(UrlError::NoScheme) => {
                return Err(format!("'{url}' is not a ws://, wss:// or redis:// URL"));
            }
            Err(e) => return Err(format!("'{url}': {e}")),
        };
        match parsed.scheme {
            Scheme::Ws | Scheme::Redis => {}
            Scheme::Wss if cfg!(feature = "tls") => {}
            Scheme::Wss => return Err("wss:// needs TLS, and this build has none".into()),
            _ => {
                return Err(format!(
                    "'{url}': the scheme must be ws://, wss:// or redis://"
                ));
            }
        }
        let authority = parsed.authority();
        let addr = (parsed.host.as_str(), parsed.port)
            .to_socket_addrs()
            .map_err(|e| format!("'{authority}': {e}"))?
            .next()
            .ok_or_else(|| format!("'{authority}' has no address"))?;
        Ok(match parsed.scheme {
            Scheme::Ws | Scheme::Wss => Target::Ws {
                tls: parsed.scheme == Scheme::Wss,
                addr,
                host: authority,
                path: parsed.path,
            },
            _ => Target::Redis { addr },
        })
    }

    /// The address connected to.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::Ws { addr, .. } | Target::Redis { addr } => *addr,
        }
    }

    /// Whether this is a Redis target (RESP instead of WebSocket + JSON).
    pub fn is_redis(&self) -> bool {
        matches!(self, Target::Redis { .. })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ws {
                tls, host, path, ..
            } => {
                let scheme = if *tls { "wss" } else { "ws" };
                write!(f, "{scheme}://{host}{path}")
            }
            Target::Redis { addr } => write!(f, "redis://{addr}"),
        }
    }
}

/// Everything a [`Load`](super::Load) needs; build it with
/// [`LoadConfig::new`] and the chainable setters.
///
/// ```
/// use kvws::load::{LoadConfig, Mode, Target};
/// let target = Target::parse("ws://127.0.0.1:8080/").unwrap();
/// let config = LoadConfig::new(Mode::Pipeline, target).connections(10).depth(32);
/// assert_eq!((config.connections, config.depth), (10, 32));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoadConfig {
    /// What to do.
    pub mode: Mode,
    /// Whom to do it to.
    pub target: Target,
    /// Client connections (reqresp, pipeline), subscribers (fanout) or
    /// connections held (conns).
    pub connections: usize,
    /// Requests in flight per connection (1 for reqresp, `-d` for pipeline)
    /// or sets in flight for the fanout publisher; unused by conns.
    pub depth: usize,
    /// Keys the requests of reqresp and pipeline cycle through.
    pub keys: usize,
    /// Bytes of each value set (the JSON text of the value; in fanout the
    /// value is padded to at least this size).
    pub value_size: usize,
    /// The application id every request uses (a prefix `ID:` of the keys on
    /// Redis), so that a run does not touch anyone else's keys.
    pub id: String,
    /// How long the server may go without answering while something is
    /// outstanding (a request, a connection being opened) before the run
    /// is declared stalled and stopped.
    pub timeout: Duration,
    /// The server's process id, to report its resident memory and CPU time.
    pub server_pid: Option<u32>,
    /// reqresp and pipeline: send only `set`s instead of alternating `set`
    /// and `get` (to measure writes, e.g. the cost of persistence).
    pub sets_only: bool,
    /// For `wss://`: a PEM file with the certificates to trust instead of
    /// the system's roots (a private CA, a self-signed certificate).
    pub ca_file: Option<PathBuf>,
}

impl LoadConfig {
    /// The defaults of `mode` against `target`: see [`Mode::defaults`];
    /// 1,000 keys, 100-byte values, id `bench`, 5 s stall timeout.
    pub fn new(mode: Mode, target: Target) -> Self {
        let (connections, depth) = mode.defaults();
        LoadConfig {
            mode,
            target,
            connections,
            depth,
            keys: 1000,
            value_size: 100,
            id: "bench".into(),
            timeout: Duration::from_secs(5),
            server_pid: None,
            sets_only: false,
            ca_file: None,
        }
    }

    /// Sets [`connections`](Self::connections).
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n;
        self
    }

    /// Sets [`depth`](Self::depth).
    pub fn depth(mut self, n: usize) -> Self {
        self.depth = n;
        self
    }

    /// Sets [`keys`](Self::keys).
    pub fn keys(mut self, n: usize) -> Self {
        self.keys = n;
        self
    }

    /// Sets [`value_size`](Self::value_size).
    pub fn value_size(mut self, n: usize) -> Self {
        self.value_size = n;
        self
    }

    /// Sets [`id`](Self::id).
    pub fn id(mut self, id: &str) -> Self {
        self.id = id.to_string();
        self
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Sets [`server_pid`](Self::server_pid).
    pub fn server_pid(mut self, pid: Option<u32>) -> Self {
        self.server_pid = pid;
        self
    }

    /// Sets [`sets_only`](Self::sets_only).
    pub fn sets_only(mut self, yes: bool) -> Self {
        self.sets_only = yes;
        self
    }

    /// Sets [`ca_file`](Self::ca_file).
    pub fn ca_file(mut self, path: Option<PathBuf>) -> Self {
        self.ca_file = path;
        self
    }

    /// Checks that the numbers make sense together.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("connections", self.connections),
            ("depth", self.depth),
            ("keys", self.keys),
            ("value size", self.value_size),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, n)| *n == 0) {
            return Err(format!("the {name} must be at least 1"));
        }
        if self.mode == Mode::ReqResp && self.depth != 1 {
            return Err("reqresp has exactly one request in flight; use pipeline".into());
        }
        if self.keys > u32::MAX as usize || self.connections > u32::MAX as usize {
            return Err("too many keys or connections".into());
        }
        // Every set is encoded ahead of time, value included.
        let table = (self.keys as u64).saturating_mul(self.value_size as u64);
        let plain = matches!(self.mode, Mode::ReqResp | Mode::Pipeline);
        if plain && table > 1 << 30 {
            return Err(format!(
                "{} keys of {}-byte values would pre-encode over 1 GiB of requests; \
                 use fewer keys (--keys) or smaller values",
                self.keys, self.value_size
            ));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/".contains(c);
        if self.id.is_empty() || !self.id.chars().all(plain) {
            return Err(format!(
                "the id '{}' must be letters, digits and - _ . : /",
                self.id
            ));
        }
        if self.timeout.is_zero() {
            return Err("the timeout must be above zero".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("ws://127.0.0.1:8080/").unwrap();
        assert_eq!(t.addr(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.to_string(), "ws://127.0.0.1:8080/");
        let t = Target::parse("ws://127.0.0.1:9000").unwrap();
        assert!(matches!(&t, Target::Ws { path, .. } if path == "/"));
        let t = Target::parse("redis://127.0.0.1").unwrap();
        assert_eq!(t.addr().port(), 6379);
        assert!(t.is_redis());
        assert!(Target::parse("http://127.0.0.1/").is_err());
        assert!(Target::parse("127.0.0.1:80").is_err());
        let wss = Target::parse("wss://127.0.0.1/");
        assert_eq!(wss.is_ok(), cfg!(feature = "tls"), "{wss:?}");
        if let Ok(t) = wss {
            assert_eq!(t.addr().port(), 443);
            assert_eq!(t.to_string(), "wss://127.0.0.1:443/");
        }
        assert!(Target::parse("ws://127.0.0.1:x/").is_err());
        let t = Target::parse("ws://[::1]/kv").unwrap();
        assert_eq!(t.to_string(), "ws://[::1]:80/kv");
        assert_eq!(t.addr(), "[::1]:80".parse().unwrap());
    }

    #[test]
    fn validation() {
        let t = Target::parse("ws://127.0.0.1:1/").unwrap();
        assert!(LoadConfig::new(Mode::Fanout, t.clone()).validate().is_ok());
        let bad = LoadConfig::new(Mode::ReqResp, t.clone()).depth(4);
        assert!(bad.validate().is_err());
        let bad = LoadConfig::new(Mode::Pipeline, t.clone()).keys(0);
        assert!(bad.validate().is_err());
        let bad = LoadConfig::new(Mode::Pipeline, t.clone()).id("a\"b");
        assert!(bad.validate().is_err());
        let big = LoadConfig::new(Mode::Pipeline, t.clone())
            .keys(10_000)
            .value_size(1 << 20);
        assert!(big.validate().is_err());
        let fan = LoadConfig::new(Mode::Fanout, t)
            .keys(10_000)
            .value_size(1 << 20);
        assert!(fan.validate().is_ok());
    }
}
