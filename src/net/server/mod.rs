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
//!
//! The server's files, each with one job: [`bind`] builds a server,
//! [`step`] is that step, and [`embed`] is what an embedding program calls
//! between steps. The step's parts are in [`accept`], [`read`],
//! [`request`], [`lifecycle`] and [`observe`]; [`conns`] keeps the
//! connections and [`counters`] what `/metrics` counts of them; [`reload`]
//! and [`secrets`] reread files, [`tls`] serves TLS, and `cluster` links
//! to Redis. This file holds the server's state, which all of them share.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::{Events, Poll, Token, Waker};

use super::connection::{Batch, Limits};
use super::control::{Flags, SignalPipe};
use super::wire::InBuf;
use crate::config::Config;
use crate::engine::Engine;
use crate::hooks::Hooks;
use crate::metrics::Histogram;

mod accept;
mod bind;
#[cfg(feature = "cluster")]
mod cluster;
mod conns;
mod counters;
mod embed;
mod lifecycle;
mod observe;
mod read;
mod reload;
mod request;
mod secrets;
mod step;
mod tls;

use accept::Acceptor;
use conns::{Connections, Out};
pub use reload::Reload;
pub use step::Activity;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const SIGNALS: Token = Token(usize::MAX - 3);

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

impl Server {
    /// The engine and its view of the connections, borrowed together: what
    /// a [`Context`](crate::hooks::Context) or the engine's own work needs.
    fn out(&mut self) -> (&mut Engine, Out<'_>) {
        let out = Out {
            conns: &mut self.conns,
            authenticated: self.limits.authenticated,
        };
        (&mut self.engine, out)
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
