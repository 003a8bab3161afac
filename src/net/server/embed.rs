//! What an embedding program calls between steps: where the server
//! listens, a handle for other threads, the counters, its callbacks, and
//! the store and the clients reached from outside the loop (each write
//! notifies subscribers as a client's would); and [`Server::run`], for a
//! program that gives the server its thread.
//!
//! Apart from the step ([`Server::service`]) because none of it runs
//! inside one: these are the server's public face, kept in one place so
//! that what an embedder may touch is easy to see.

use std::io;
use std::net::SocketAddr;

use super::{Server, unix_ms};
use crate::conn_id::ConnId;
use crate::engine::{Engine, StoreError};
use crate::hooks::{Context, Hooks};
use crate::net::control::{Action, Handle, Stats};

impl Server {
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
}
