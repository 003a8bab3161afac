//! One step of the loop, [`Server::service`]: wait for readiness (no
//! longer than the caller's timeout and the next timer), read what is
//! ready, accept within the budget, run the engine's background work and
//! the timers, then end the step (see [`lifecycle`](super::lifecycle)).
//!
//! Apart from the construction and the public accessors because this is
//! the loop's hot path and its order matters: what one step does, and
//! when it may sleep, reads best as one file.

use std::io;
use std::time::{Duration, Instant};

use log::info;
use mio::Token;

#[cfg(feature = "cluster")]
use super::cluster;
use super::counters::Refused;
use super::{LISTENER, SIGNALS, Server, WAKER, unix_ms};
use crate::net::control::SignalPipe;
use crate::net::http::{self, Status};

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

impl Server {
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
        self.new_handshake_step(now, now_ms);
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
        // The burst is served in the order it came, up to the limit: the
        // connections before it, then one more for each served.
        let before = self.conns.len() - fresh.len();
        for (i, slot) in fresh.into_iter().enumerate() {
            if before + i >= max {
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
