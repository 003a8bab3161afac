//! Reaching a running server from elsewhere: another thread (a [`Handle`])
//! or a signal (SIGINT and SIGTERM stop it, SIGHUP reloads it).
//!
//! Both end in the poll loop as an ordinary readiness event: the handle
//! through a mio [`Waker`], signals through a self-pipe that `signal-hook`
//! writes to from the handler (the only async-signal-safe way to wake a
//! poller). No extra thread is involved. One pipe serves every signal; what
//! each one asks for is an atomic flag that its handler sets before it
//! writes to the pipe, so the loop, woken by the byte, finds the flag set.

use std::io::{self, Read};
use std::os::raw::c_int;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mio::net::UnixStream;
use mio::{Interest, Registry, Token, Waker};

/// Shared between the server and its handles.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    shutdown: AtomicBool,
    connections: AtomicU64,
    subscriptions: AtomicU64,
    keys: AtomicU64,
    store_bytes: AtomicU64,
    rev: AtomicU64,
}

/// A snapshot of a server's counters, as of its last loop iteration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections of every kind (HTTP, WebSocket, closing).
    pub connections: u64,
    /// Subscriptions held by all connections.
    pub subscriptions: u64,
    /// Keys stored.
    pub keys: u64,
    /// Estimated bytes the store holds (what `--max-memory` limits).
    pub store_bytes: u64,
    /// The store's current revision.
    pub rev: u64,
}

/// A cloneable, thread-safe way to stop or wake a [`Server`](crate::Server).
#[derive(Clone, Debug)]
pub struct Handle {
    waker: Arc<Waker>,
    flags: Arc<Flags>,
}

impl Handle {
    pub(crate) fn new(waker: Arc<Waker>, flags: Arc<Flags>) -> Self {
        Handle { waker, flags }
    }

    /// Asks the server to shut down gracefully: it sends every client a
    /// close frame, answers new requests with 503 (`/readyz` included, so
    /// that load balancers stop sending traffic), flushes, and `run()`
    /// returns once the clients are gone or the close timeout has passed.
    pub fn shutdown(&self) {
        self.flags.shutdown.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// The server's counters as of its last loop iteration.
    pub fn stats(&self) -> Stats {
        let f = &self.flags;
        Stats {
            connections: f.connections.load(Ordering::Relaxed),
            subscriptions: f.subscriptions.load(Ordering::Relaxed),
            keys: f.keys.load(Ordering::Relaxed),
            store_bytes: f.store_bytes.load(Ordering::Relaxed),
            rev: f.rev.load(Ordering::Relaxed),
        }
    }

    /// Wakes a server blocked in `service` so that it returns promptly
    /// (for an embedding loop that has work of its own to do).
    pub fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }
}

impl Flags {
    pub(crate) fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Publishes the counters for [`Handle::stats`].
    pub(crate) fn publish(&self, stats: Stats) {
        self.connections.store(stats.connections, Ordering::Relaxed);
        self.subscriptions
            .store(stats.subscriptions, Ordering::Relaxed);
        self.keys.store(stats.keys, Ordering::Relaxed);
        self.store_bytes.store(stats.store_bytes, Ordering::Relaxed);
        self.rev.store(stats.rev, Ordering::Relaxed);
    }

    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }
}

/// What the signals that arrived ask of the loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Signalled {
    /// SIGINT or SIGTERM: shut down gracefully.
    pub stop: bool,
    /// SIGHUP: reload (see `Server::reload`).
    pub reload: bool,
}

/// What a signal is routed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Shut down.
    Stop,
    /// Reload.
    Reload,
}

/// The signal self-pipe, its read end registered with the poller.
pub(crate) struct SignalPipe {
    read: UnixStream,
    write: StdUnixStream,
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    /// Signals already routed here, so that routing one twice is harmless.
    routed: Vec<c_int>,
}

impl SignalPipe {
    /// A pipe registered under `token`, with no signal routed to it yet.
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<Self> {
        let (read, write) = StdUnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let mut read = UnixStream::from_std(read);
        registry.register(&mut read, token, Interest::READABLE)?;
        Ok(SignalPipe {
            read,
            write,
            stop: Arc::default(),
            reload: Arc::default(),
            routed: Vec::new(),
        })
    }

    /// Routes `signal` to `action`: from now on it sets the action's flag
    /// and wakes the loop instead of doing what it does by default.
    pub(crate) fn route(&mut self, signal: c_int, action: Action) -> io::Result<()> {
        if self.routed.contains(&signal) {
            return Ok(());
        }
        let flag = match action {
            Action::Stop => &self.stop,
            Action::Reload => &self.reload,
        };
        // signal-hook runs a signal's actions in the order they were
        // registered: the flag is set before the byte wakes the loop.
        signal_hook::flag::register(signal, flag.clone())?;
        signal_hook::low_level::pipe::register(signal, self.write.try_clone()?)?;
        self.routed.push(signal);
        Ok(())
    }

    /// Empties the pipe; returns what the signals since the last call ask.
    pub(crate) fn drain(&mut self) -> Signalled {
        let mut buf = [0u8; 64];
        loop {
            match self.read.read(&mut buf) {
                Ok(n) if n > 0 => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        Signalled {
            stop: self.stop.swap(false, Ordering::SeqCst),
            reload: self.reload.swap(false, Ordering::SeqCst),
        }
    }
}
