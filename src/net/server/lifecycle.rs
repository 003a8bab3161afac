//! Accepting connections, enforcing deadlines, and shutting down.

use std::io;
use std::time::Instant;

use log::{debug, info, warn};
use mio::{Interest, Token};
use tungstenite::protocol::frame::coding::CloseCode;

use super::{ACCEPT_BACKOFF, ACCEPT_BUDGET, Server, events::mark_dirty, unix_ms};
use crate::net::connection::{Connection, Idle};
use crate::net::http::{self, Status};
use crate::store::ConnId;

impl Server {
    pub(super) fn accept(&mut self, now: Instant) -> usize {
        self.accept_paused_until = None;
        let mut accepted = 0;
        let slack = (self.config.max_connections / 16).max(16);
        while accepted < ACCEPT_BUDGET {
            let Some(listener) = &self.listener else {
                return accepted;
            };
            let (mut sock, peer) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_more = false;
                    return accepted;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_resource_exhaustion(&e) => {
                    // Warn once per episode, not ten times a second.
                    if !std::mem::replace(&mut self.accept_failing, true) {
                        warn!(
                            "accept failed ({e}); retrying every {ACCEPT_BACKOFF:?} until it works"
                        );
                    }
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return accepted;
                }
                Err(e) => {
                    debug!("accept failed: {e}");
                    accepted += 1;
                    continue;
                }
            };
            accepted += 1;
            if std::mem::take(&mut self.accept_failing) {
                info!("accepting connections again");
            }
            if self.conns.len() >= self.config.max_connections + slack {
                debug!("{peer}: dropped, far over the connection limit");
                continue;
            }
            let _ = sock.set_nodelay(true);
            let token = self.conns.vacant_key();
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut sock, Token(token), Interest::READABLE)
            {
                warn!("{peer}: cannot register socket: {e}");
                continue;
            }
            self.conns.insert(Connection::new(
                sock,
                peer,
                now,
                self.config.handshake_timeout,
            ));
            debug!("{peer}: connected as {token}");
            if self.conns.len() > self.config.max_connections {
                debug!("{peer}: over the connection limit, answering 503");
                self.respond(token, &http::error(Status::Unavailable), now);
            } else {
                // The head is often here already, sent right behind the SYN.
                self.on_readable(token, false, now, unix_ms());
            }
        }
        accepted
    }

    /// Enforces the head, closing and draining deadlines.
    /// Enforces the idle timeout of open WebSockets: a ping after half of
    /// it, a close after all of it. A scan of every connection, once a
    /// tick (at most a few per second): cheaper than a timer per message.
    fn check_idle(&mut self, now: Instant) {
        let timeout = self.config.idle_timeout;
        self.scratch.clear();
        for (token, conn) in self.conns.iter_mut() {
            match conn.check_idle(now, timeout) {
                Idle::Fine => {}
                Idle::Ping => mark_dirty(conn, token, &mut self.dirty),
                Idle::Dead => self.scratch.push(token),
            }
        }
        for i in 0..self.scratch.len() {
            let token = self.scratch[i];
            debug!(
                "{}: silent for {timeout:?}, closing",
                self.conns[token].peer
            );
            self.retire(token);
            let conn = &mut self.conns[token];
            conn.close(
                CloseCode::Normal,
                "idle timeout",
                now,
                self.config.close_timeout,
            );
            mark_dirty(conn, token, &mut self.dirty);
        }
    }

    pub(super) fn tick(&mut self, now: Instant) {
        self.check_idle(now);
        self.scratch.clear();
        self.scratch.extend(
            self.conns
                .iter()
                .filter(|(_, c)| c.timed_out(now))
                .map(|(t, _)| t),
        );
        for i in 0..self.scratch.len() {
            let token = self.scratch[i];
            let conn = &mut self.conns[token];
            if conn.in_head() {
                debug!("{}: request head not received in time", conn.peer);
                self.respond(token, &http::error(Status::RequestTimeout), now);
            } else {
                debug!("{}: did not finish closing in time", conn.peer);
                self.remove(token);
            }
        }
    }

    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        info!("shutting down: closing {} connections", self.conns.len());
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.accept_more = false;
        self.stopping = Some(now + self.config.close_timeout);
        let tokens: Vec<ConnId> = self.conns.iter().map(|(t, _)| t).collect();
        for token in tokens {
            if self.conns[token].is_open() {
                self.retire(token);
                let conn = &mut self.conns[token];
                conn.close(
                    CloseCode::Away,
                    "server shutting down",
                    now,
                    self.config.close_timeout,
                );
                mark_dirty(conn, token, &mut self.dirty);
            } else if self.conns[token].in_head() {
                self.respond(token, &http::error(Status::Unavailable), now);
            }
        }
    }

    pub(super) fn finish_shutdown(&mut self) {
        let tokens: Vec<ConnId> = self.conns.iter().map(|(t, _)| t).collect();
        for token in tokens {
            self.remove(token);
        }
        if let Err(e) = self.engine.close_journal() {
            log::error!("cannot sync the log at shutdown: {e}");
        }
        self.stopped = true;
        info!("stopped");
    }
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
