//! Timers and the end of a step: deadlines and idle connections, retiring
//! sessions, committing, flushing, and shutting down.

use std::io;
use std::time::Instant;

use log::{debug, info};
use tungstenite::protocol::frame::coding::CloseCode;

use super::Server;
use super::conns::Out;
use super::counters::Refused;
use crate::conn_id::ConnId;
use crate::hooks::Context;
use crate::net::connection::{Ending, Idle, Phase};
use crate::net::http::{self, Status};

impl Server {
    /// Enforces the head, closing and draining deadlines, and the idle
    /// timeout of open WebSockets: a ping after half of it, a close after
    /// all of it. A scan of every connection, once a tick (at most a few
    /// per second): cheaper than a timer per message.
    pub(super) fn tick(&mut self, now: Instant) {
        let timeout = self.config.idle_timeout;
        let mut dead = Vec::new();
        let mut late = Vec::new();
        let mut pinged = Vec::new();
        for (slot, conn) in self.conns.iter_mut() {
            match conn.check_idle(now, timeout) {
                Idle::Fine => {}
                Idle::Ping => pinged.push(slot),
                Idle::Dead => dead.push(slot),
            }
            if conn.timed_out(now) {
                late.push(slot);
            }
        }
        for slot in pinged {
            self.conns.recount(slot);
        }
        for slot in dead {
            if let Some(c) = self.conns.get(slot) {
                debug!("{}: silent for {timeout:?}, closing", c.peer());
            }
            self.conns
                .end(slot, Ending::Close(CloseCode::Normal, "idle timeout"), now);
        }
        for slot in late {
            let Some(conn) = self.conns.get(slot) else {
                continue;
            };
            if conn.phase() == Phase::Head {
                debug!("{}: request head not received in time", conn.peer());
                self.conns.counters.refused(Refused::HandshakeTimeout);
                self.conns
                    .respond(slot, &http::error(Status::RequestTimeout), now);
            } else {
                debug!("{}: did not finish closing in time", conn.peer());
                self.conns.end(slot, Ending::Drop, now);
            }
        }
    }

    /// Ends the step: closes what must be closed and retires the sessions
    /// of connections that stopped serving (which may change keys: their
    /// ephemeral keys, the hooks' own writes), then makes the step's changes
    /// durable, and only then writes every queue. Nothing is sent if the
    /// changes could not be made durable: the error stops the server rather
    /// than acknowledge writes that may be lost.
    pub(super) fn finish_step(&mut self, now: Instant, now_ms: u64) -> io::Result<()> {
        loop {
            self.conns.close_requested(now);
            let retired = self.conns.take_retired();
            if retired.is_empty() {
                break;
            }
            for id in retired {
                self.retire(id, now_ms);
            }
        }
        // The step's proposals (closed connections' ephemeral keys among
        // them) go to the shared log before the loop sleeps.
        self.cluster_step(now);
        if let Err(e) = self.engine.commit_journal() {
            log::error!(
                "cannot write the log: {e}; stopping without acknowledging this step's changes"
            );
            return Err(e);
        }
        let resumable = self
            .conns
            .flush(self.poll.registry(), now, |l| l.out_cap / 2 + 1);
        for slot in resumable {
            if let Some(id) = self.conns.get(slot).map(|c| c.id())
                && !self.engine.busy(id)
            {
                self.conns.resume(slot);
            }
        }
        Ok(())
    }

    /// Tells the engine and the hooks that a connection stopped serving.
    fn retire(&mut self, id: ConnId, now_ms: u64) {
        let mut out = Out {
            conns: &mut self.conns,
            authenticated: self.limits.authenticated,
        };
        self.engine.close(id, &mut out);
        self.hooks
            .on_close(&mut Context::new(&mut self.engine, &mut out, now_ms), id);
    }

    /// Starts a graceful shutdown: every WebSocket is closed (1001) and
    /// waiting requests get 503. The listener stays open until the end
    /// (see `observe`): `/readyz` answers 503 meanwhile, so that a load
    /// balancer stops sending traffic, and anything else gets 503.
    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        info!("shutting down: closing {} connections", self.conns.len());
        self.stopping = Some(now + self.config.close_timeout);
        for slot in self.conns.slots() {
            match self.conns.get(slot).map(|c| c.phase()) {
                Some(Phase::Open) => self.conns.end(
                    slot,
                    Ending::Close(CloseCode::Away, "server shutting down"),
                    now,
                ),
                Some(Phase::Head) => {
                    self.conns.counters.refused(Refused::ShuttingDown);
                    self.conns
                        .respond(slot, &http::error(Status::Unavailable), now)
                }
                _ => {}
            }
        }
    }

    pub(super) fn finish_shutdown(&mut self, now_ms: u64) {
        self.acceptor.close(self.poll.registry());
        for slot in self.conns.slots() {
            self.conns.remove(self.poll.registry(), slot);
        }
        for id in self.conns.take_retired() {
            self.retire(id, now_ms);
        }
        if let Err(e) = self.engine.close_journal() {
            log::error!("cannot sync the log at shutdown: {e}");
        }
        self.stopped = true;
        info!("stopped");
    }
}
