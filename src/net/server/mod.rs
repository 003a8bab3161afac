//! The poll loop: one thread, one `mio::Poll`, the listener ([`accept`]),
//! the connections ([`conns`]) and the engine.
//!
//! [`Server::service`] is one step: wait for readiness (bounded by the
//! caller's timeout and the next timer), read what is ready ([`read`]),
//! accept, run timers, then end the step ([`lifecycle`]): retire the
//! sessions of connections that stopped, commit the journal, and flush
//! every connection that got output, once, before returning. A connection
//! whose socket will not take everything gets WRITABLE interest until it
//! has drained; no other connection waits for it.
//!
//! Fairness: each connection is read within a budget per step (see
//! [`read`]) and at most [`accept::ACCEPT_BUDGET`] connections are accepted
//! per step; what is left is picked up in the next step without sleeping,
//! so one busy client (or a connection flood) cannot starve the others.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::info;
use mio::{Events, Poll, Token, Waker};

use super::connection::{Batch, Limits};
use super::control::{Action, Flags, Handle, SignalPipe, Stats};
use super::http::{self, Status};
use super::wire::{InBuf, SHARED_READ_BUFFER};
use crate::config::Config;
use crate::conn_id::ConnId;
use crate::engine::{Engine, StoreError};
use crate::hooks::{Context, Hooks, NoHooks};
use crate::metrics::Histogram;
use crate::persist::{self, Persistence};

mod accept;
#[cfg(feature = "cluster")]
mod cluster;
mod conns;
mod counters;
mod lifecycle;
mod observe;
mod read;
mod reload;
mod request;
mod secrets;
mod tls;

use accept::Acceptor;
use conns::{Connections, Out};
use counters::Refused;
pub use reload::Reload;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const SIGNALS: Token = Token(usize::MAX - 3);

/// What one call to [`Server::service`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Activity {
    /// Readiness events handled.
    pub events: usize,
    /// Connections accepted.
    pub accepted: usize,
    /// WebSocket messages handled.
    pub messages: usize,
    /// Keys expired.
    pub expired: usize,
}

/// The limits of a connection before and after it authenticates.
#[derive(Clone, Copy, Debug)]
struct ConnLimits {
    initial: Limits,
    authenticated: Limits,
}

/// A kvws server: the listener, the connections and the store.
pub struct Server {
    poll: Poll,
    events: Events,
    acceptor: Acceptor,
    conns: Connections,
    engine: Engine,
    config: Config,
    limits: ConnLimits,
    /// The read buffer lent to whichever connection is being read.
    shared_input: InBuf,
    /// The messages being handed to the engine.
    batch: Batch,
    tick_every: Duration,
    next_tick: Instant,
    hooks: Box<dyn Hooks + Send>,
    flags: Arc<Flags>,
    waker: Arc<Waker>,
    signals: Option<SignalPipe>,
    /// TLS for new connections, when the port serves it; the handshakes
    /// of this step.
    tls: tls::Tls,
    stopping: Option<Instant>,
    stopped: bool,
    /// How long each step worked, from the end of its wait to the end of
    /// its flush (`/metrics`).
    step_time: Histogram,
    /// The link to Redis in cluster mode.
    #[cfg(feature = "cluster")]
    cluster: Option<crate::cluster::Cluster>,
}

/// Milliseconds since the Unix epoch: the engine's clock (TTL deadlines are
/// absolute so that they mean the same thing after a restart).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

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

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.acceptor.local_addr()
    }

    /// A handle to shut the server down or wake it from another thread.
    pub fn handle(&self) -> Handle {
        Handle::new(self.waker.clone(), self.flags.clone())
    }

    /// Shuts down gracefully on SIGINT or SIGTERM (for daemons).
    pub fn shutdown_on_signals(&mut self) -> io::Result<()> {
        self.route_signal(signal_hook::consts::SIGINT, Action::Stop)?;
        self.route_signal(signal_hook::consts::SIGTERM, Action::Stop)
    }

    /// Whether a shutdown has completed: every connection is gone.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Number of connections (of every kind) currently held.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The server's counters now.
    pub fn stats(&self) -> Stats {
        let store = self.engine.store();
        Stats {
            connections: self.conns.len() as u64,
            subscriptions: self.engine.subscription_count() as u64,
            keys: store.len() as u64,
            store_bytes: store.bytes() as u64,
            rev: self.engine.rev(),
        }
    }

    /// Installs the embedding program's callbacks (replacing any before).
    pub fn set_hooks(&mut self, hooks: impl Hooks + Send + 'static) {
        self.hooks = Box::new(hooks);
    }

    fn out(&mut self) -> (&mut Engine, Out<'_>) {
        let out = Out {
            conns: &mut self.conns,
            authenticated: self.limits.authenticated,
        };
        (&mut self.engine, out)
    }

    /// Stores `value_json` (JSON text) under `id`/`key` as if a client had,
    /// notifying subscribers (the notifications go out at the next
    /// [`service`](Server::service)); returns the change's revision.
    pub fn set(&mut self, id: &str, key: &str, value_json: &str) -> Result<u64, StoreError> {
        let (engine, mut out) = self.out();
        Context::new(engine, &mut out, unix_ms()).set(id, key, value_json)
    }

    /// The value (JSON text) and revision under `id`/`key`.
    pub fn get(&self, id: &str, key: &str) -> Option<(&str, u64)> {
        self.engine.store().get(id, key).map(|e| (&*e.value, e.rev))
    }

    /// Deletes `id`/`key`, notifying subscribers; returns the change's
    /// revision, or `None` if the key did not exist.
    pub fn delete(&mut self, id: &str, key: &str) -> Result<Option<u64>, StoreError> {
        let (engine, mut out) = self.out();
        Context::new(engine, &mut out, unix_ms()).delete(id, key)
    }

    /// Queues one JSON text message for a connection (as the R package's
    /// `websocket_write`); it goes out at the next [`service`](Server::service).
    /// A connection that has gone gets nothing.
    pub fn send(&mut self, conn: ConnId, json: &str) {
        let (engine, mut out) = self.out();
        Context::new(engine, &mut out, unix_ms()).send(conn, json);
    }

    /// Queues one JSON text message for every open WebSocket connection (as
    /// the R package's `websocket_broadcast`).
    pub fn broadcast(&mut self, json: &str) {
        let (engine, mut out) = self.out();
        Context::new(engine, &mut out, unix_ms()).broadcast(json);
    }

    /// Read access to the protocol state.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until shut down by a [`Handle`] or a signal.
    pub fn run(&mut self) -> io::Result<()> {
        while !self.stopped {
            self.service(None)?;
        }
        Ok(())
    }

    /// One step of the loop: waits up to `timeout` (`None`: until something
    /// happens) for readiness, handles it, flushes, and reports what it did.
    pub fn service(&mut self, timeout: Option<Duration>) -> io::Result<Activity> {
        let mut activity = Activity::default();
        if self.stopped {
            return Ok(activity);
        }
        // Output queued between steps (the embedding program's writes and
        // sends) goes out before we sleep.
        self.finish_step(Instant::now(), unix_ms())?;
        let wait = self.wait_time(timeout);
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let now_ms = unix_ms();
        self.new_handshake_step();
        let ready: Vec<(Token, Readable, bool)> = self
            .events
            .iter()
            .map(|e| {
                let hangup = e.is_read_closed() || e.is_error();
                let readable = match (e.is_readable(), hangup) {
                    (_, true) => Readable::Hangup,
                    (true, false) => Readable::Edge,
                    (false, false) => Readable::No,
                };
                (e.token(), readable, e.is_writable())
            })
            .collect();
        activity.events = ready.len();
        for (token, readable, writable) in ready {
            match token {
                LISTENER => self.acceptor.set_ready(),
                WAKER => {}
                #[cfg(feature = "cluster")]
                cluster::REDIS_CMD | cluster::REDIS_FEED => {
                    self.cluster_ready(token, now, now_ms);
                }
                SIGNALS => {
                    let signalled = self.signals.as_mut().map(SignalPipe::drain);
                    if signalled.is_some_and(|s| s.reload) {
                        info!("SIGHUP received, reloading");
                        self.reload();
                    }
                    if signalled.is_some_and(|s| s.stop) {
                        info!("signal received, shutting down");
                        self.flags.request_shutdown();
                    }
                }
                Token(slot) => {
                    if writable {
                        // Flushed with everything else once this step's
                        // changes are durable.
                        self.conns.mark_dirty(slot);
                    }
                    if readable != Readable::No {
                        let edge = readable == Readable::Edge;
                        activity.messages += self.read_round(slot, edge, now, now_ms);
                    }
                }
            }
        }
        for slot in self.conns.take_pending() {
            activity.messages += self.read_round(slot, false, now, now_ms);
        }
        if self.acceptor.due(now) {
            activity.accepted = self.accept(now, now_ms);
        }
        let (engine, mut out) = self.out();
        let background = engine.background(now_ms, &mut out);
        activity.expired = background.expired;
        self.cluster_step(now);
        self.resume_finished();
        if now >= self.next_tick {
            self.tick(now);
            self.next_tick = now + self.tick_every;
        }
        self.engine.maintain_journal();
        if self.flags.shutdown_requested() && self.stopping.is_none() {
            self.begin_shutdown(now);
        }
        self.finish_step(now, now_ms)?;
        if let Some(deadline) = self.stopping
            && (self.conns.is_empty() || now >= deadline)
        {
            self.finish_shutdown(now_ms);
        }
        self.flags.publish(self.stats());
        // One clock read per step (the other is the step's `now`).
        self.step_time.observe(now.elapsed());
        Ok(activity)
    }

    /// Reads again the connections whose request in progress (a job, a
    /// write in a shared log) has been answered.
    fn resume_finished(&mut self) {
        for id in self.engine.take_finished() {
            if self.conns.by_id(id).is_some() && !self.must_wait(id) {
                self.conns.resume(id.slot());
            }
        }
    }

    /// Accepts what the listener has, within its budget; a connection over
    /// the limit is answered `503`, and one far over it is not even read.
    fn accept(&mut self, now: Instant, now_ms: u64) -> usize {
        let slack = (self.config.max_connections / 16).max(16);
        let mut fresh = Vec::new();
        let (conns, registry) = (&mut self.conns, self.poll.registry());
        let (max, timeout) = (self.config.max_connections, self.config.handshake_timeout);
        let tls = &self.tls;
        let accepted = self.acceptor.accept(now, |sock, peer| {
            conns.counters.accepted += 1;
            if conns.len() >= max + slack {
                log::debug!("{peer}: dropped, far over the connection limit");
                conns.counters.refused(Refused::Overload);
                return;
            }
            let Some(sock) = tls.wrap(sock, peer) else {
                return;
            };
            match conns.insert(registry, sock, peer, now, timeout) {
                Ok(slot) => fresh.push(slot),
                Err(e) => log::warn!("{peer}: cannot register socket: {e}"),
            }
        });
        for slot in fresh {
            if self.conns.len() > max {
                log::debug!("over the connection limit, answering 503");
                self.conns.counters.refused(Refused::Limit);
                self.conns
                    .respond(slot, &http::error(Status::Unavailable), now);
            } else {
                // The head is often here already, sent right behind the SYN.
                self.read_round(slot, false, now, now_ms);
            }
        }
        accepted
    }

    fn wait_time(&mut self, timeout: Option<Duration>) -> Option<Duration> {
        let busy = {
            let (engine, out) = self.out();
            engine.has_work(&out)
        };
        if busy
            || self.conns.has_pending()
            || self.conns.has_retired()
            || self.acceptor.has_more()
            || self.tls.has_deferred()
        {
            return Some(Duration::ZERO);
        }
        let now = Instant::now();
        let mut until: Option<Instant> = None;
        let mut sooner = |t: Instant| until = Some(until.map_or(t, |u| u.min(t)));
        if !self.conns.is_empty() {
            sooner(self.next_tick);
        }
        if let Some(t) = self.acceptor.paused_until() {
            sooner(t);
        }
        if let Some(at) = self.engine.next_deadline() {
            sooner(now + Duration::from_millis(at.saturating_sub(unix_ms())));
        }
        if let Some(t) = self.cluster_deadline() {
            sooner(t);
        }
        let timer = until.map(|t| t.saturating_duration_since(now));
        match (timeout, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Without cluster mode: one node, always serving.
#[cfg(not(feature = "cluster"))]
impl Server {
    fn serving(&self) -> bool {
        true
    }

    fn write_cluster_metrics(&self, _out: &mut crate::metrics::Exposition) {}

    fn cluster_step(&mut self, _now: Instant) {}

    fn cluster_deadline(&self) -> Option<Instant> {
        None
    }
}

/// What a readiness event says about reading.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Readable {
    /// Nothing to read.
    No,
    /// New data: a short read drains the socket.
    Edge,
    /// The peer hung up or the socket failed: read until `WouldBlock` or
    /// the end, since that end raises no further event.
    Hangup,
}
