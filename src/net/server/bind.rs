//! Building a server: checking the configuration, recovering the data,
//! binding the listener, and saying in the log what it serves and how.
//!
//! Apart from the loop because it runs once, before the first step, and
//! holds every reason a server refuses to start (an invalid
//! configuration, an open port on a public address, a data directory that
//! cannot be recovered, a certificate that cannot be read).

use std::io;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::info;
use mio::{Events, Poll, Waker};

use super::accept::Acceptor;
#[cfg(feature = "cluster")]
use super::cluster;
use super::conns::Connections;
use super::{ConnLimits, LISTENER, Server, WAKER, secrets, tls};
use crate::config::Config;
use crate::engine::Engine;
use crate::hooks::NoHooks;
use crate::metrics::Histogram;
use crate::net::connection::{Batch, Limits};
use crate::net::control::Flags;
use crate::net::wire::{InBuf, SHARED_READ_BUFFER};
use crate::persist::{self, Persistence};

/// The starting revision of a new store: microseconds since the Unix epoch,
/// larger than any revision an earlier run could have reached unless it
/// averaged over a million changes a second, and below 2^53 (exact in
/// JavaScript) until the year 2255.
fn clock_revision() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl Server {
    /// Binds the listening socket and builds an empty store.
    pub fn bind(config: Config) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let addr = (config.host.as_str(), config.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no address for {}", config.host),
                )
            })?;
        if config.secret.is_none() && !config.insecure_open && !addr.ip().is_loopback() {
            let message = format!(
                "refusing to serve {addr} without authentication: anyone who can reach it could \
                 read and change every value. Give a secret (--secret-file) to require tokens, \
                 bind to 127.0.0.1, or pass --insecure-open if the network is trusted"
            );
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, message));
        }
        let tls = tls::Tls::load(&config)?;
        // The data first: a server that cannot recover never listens.
        let seed = config.start_revision.unwrap_or_else(clock_revision);
        let mut engine = Engine::new(&config, seed);
        if let Some(dir) = &config.data_dir {
            let options = persist::Options {
                dir: dir.clone(),
                fsync: config.fsync,
                repair: config.repair,
                compact_min: config.compact_min as u64,
                compact_factor: config.compact_factor as u64,
            };
            let (journal, rev) =
                Persistence::open(options, seed, &mut |change| engine.restore(change))
                    .map_err(io::Error::other)?;
            engine.restored(rev);
            engine.set_journal(Box::new(journal));
        }
        #[cfg(feature = "cluster")]
        let cluster = cluster::link(&config)?;
        #[cfg(feature = "cluster")]
        if cluster.is_some() {
            engine.share();
        }
        let poll = Poll::new()?;
        let acceptor = Acceptor::bind(addr, poll.registry(), LISTENER)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let now = Instant::now();
        let nonzero = |d: Duration| if d.is_zero() { Duration::MAX } else { d };
        let tick_every = (config
            .handshake_timeout
            .min(config.close_timeout)
            .min(nonzero(config.idle_timeout))
            / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let authenticated = Limits {
            max_message: config.max_message_size,
            out_cap: config.max_output_buffer,
        };
        // Before it authenticates, a connection to a server that requires
        // it can do little but authenticate: it gets small limits, so that
        // strangers cannot make the server hold much for them.
        let initial = if config.secret.is_some() {
            Limits {
                max_message: config.preauth_message_size,
                out_cap: config.preauth_output_buffer,
            }
        } else {
            authenticated
        };
        info!(
            "kvws {} listening on {}://{}/",
            env!("CARGO_PKG_VERSION"),
            if tls.is_on() { "https" } else { "http" },
            acceptor.local_addr()
        );
        tls.log_start();
        let auth = match &config.secret {
            Some(secret) => {
                let kids: Vec<String> = secret.kids().map(str::to_string).collect();
                format!("authentication on ({})", secrets::describe(&kids))
            }
            None => {
                "authentication off (open: anyone who reaches the port may read and write)".into()
            }
        };
        let data = match (&config.data_dir, &config.redis) {
            (Some(dir), _) => format!("data in {} (fsync {})", dir.display(), config.fsync),
            (None, Some(_)) => "data in Redis, a copy in memory".to_string(),
            (None, None) => "data in memory only".to_string(),
        };
        let changed = config.changed();
        let limits = if changed.is_empty() {
            "every limit at its default".to_string()
        } else {
            format!("limits changed: {}", changed.join(", "))
        };
        info!("{auth}; {data}; {limits}");
        let server = Server {
            poll,
            events: Events::with_capacity(1024),
            acceptor,
            conns: Connections::new(config.max_client_memory, config.close_timeout),
            engine,
            limits: ConnLimits {
                initial,
                authenticated,
            },
            config,
            shared_input: InBuf::with_size(SHARED_READ_BUFFER),
            batch: Batch::default(),
            tick_every,
            next_tick: now + tick_every,
            hooks: Box::new(NoHooks),
            flags: Arc::new(Flags::default()),
            waker,
            signals: None,
            tls,
            stopping: None,
            stopped: false,
            step_time: Histogram::new(),
            #[cfg(feature = "cluster")]
            cluster,
        };
        // The counters describe the recovered store before the first step.
        server.flags.publish(server.stats());
        Ok(server)
    }
}
