//! Reading a connection: one round per readiness event, each message handed
//! to the engine as soon as it is read, within the round's budget.
//!
//! A round ends when the socket is dry or when it has used its budget:
//! [`ROUND_FRAMES`] frames of any kind (pings and pongs count like
//! requests), [`ROUND_BYTES`] bytes read, [`ROUND_OUTPUT`] bytes of output
//! caused (a `set` to a thousand subscribers costs its thousand copies), or
//! [`ROUND_TIME`]. A connection that had more is read again later in the
//! step, after everyone else had their turn.
//!
//! A round also stops as soon as the connection should not be read further
//! for now: the engine asked to close it (nothing it sent after, say, its
//! fifth failed `auth` is handled), it has an engine job in progress (a
//! large `list` or snapshot: its next requests wait, in order), or it has
//! not read half its output queue (back-pressure).

use std::time::{Duration, Instant};

use log::{debug, trace};

use super::Server;
use super::conns::Out;
use crate::conn_id::ConnId;
use crate::hooks::{Context, CustomMessage};
use crate::net::connection::{Ending, HeadStatus, Kind, Next, Phase};
use crate::net::http;

/// Frames read from one connection per round.
pub const ROUND_FRAMES: usize = 256;
/// Bytes read from one connection per round: one full read buffer.
pub const ROUND_BYTES: usize = crate::net::wire::SHARED_READ_BUFFER;
/// Bytes of output one connection's requests may cause per round.
pub const ROUND_OUTPUT: u64 = 4 << 20;
/// Time one connection may hold the loop per round.
pub const ROUND_TIME: Duration = Duration::from_millis(2);
/// Messages read before they are handed to the engine: all a round may
/// read. Reading them all and then handling them all keeps each loop in
/// the instruction cache (handing over one message at a time missed it
/// thirty times as often, and cost a fifth of the throughput).
const BATCH: usize = ROUND_FRAMES;

/// How a round of reads ended.
enum Outcome {
    /// The socket is dry.
    Blocked,
    /// The budget is spent: read again later.
    More,
    /// Not to be read until resumed.
    Paused,
    /// The connection is ending.
    End(Ending),
}

impl Server {
    /// Reads whatever the connection's phase reads; returns messages handled.
    /// `edge`: a readiness event without a hang-up or error brought us here,
    /// so a short read may end the round (see `Wire::begin_round`).
    pub(super) fn read_round(
        &mut self,
        slot: usize,
        edge: bool,
        now: Instant,
        now_ms: u64,
    ) -> usize {
        if self.conns.is_paused(slot) {
            return 0;
        }
        let Some(conn) = self.conns.get(slot) else {
            return 0;
        };
        match conn.phase() {
            #[cfg(feature = "tls")]
            Phase::Head if !conn.can_answer() => {
                self.read_handshake(slot, now, now_ms);
                0
            }
            Phase::Head => {
                self.read_head(slot, now, now_ms);
                0
            }
            Phase::Gone => 0,
            Phase::Open | Phase::Closing | Phase::Draining => {
                self.message_round(slot, edge, now, now_ms)
            }
        }
    }

    pub(super) fn read_head(&mut self, slot: usize, now: Instant, now_ms: u64) {
        // Through `with`, as every use that can queue output: TLS handshake
        // records the socket would not take all of wait in rustls, and only
        // the end-of-step flush (then WRITABLE interest) writes them.
        let Some(status) = self.conns.with(slot, |c| c.read_head()) else {
            return;
        };
        match status {
            HeadStatus::Waiting => {}
            HeadStatus::More => self.conns.read_again(slot),
            HeadStatus::Complete(req) => self.on_request(slot, &req, now, now_ms),
            HeadStatus::Invalid(status) => {
                let refused = super::counters::Refused::BadHandshake;
                self.conns.counters.refused(refused);
                self.conns.respond(slot, &http::error(status), now)
            }
            HeadStatus::Gone => self.conns.end(slot, Ending::Drop, now),
        }
    }

    fn message_round(&mut self, slot: usize, edge: bool, now: Instant, now_ms: u64) -> usize {
        let Some(conn) = self.conns.get(slot) else {
            return 0;
        };
        let id = conn.id();
        let open = conn.is_open();
        if open && self.must_wait(id) {
            self.conns.pause(slot);
            return 0;
        }
        let started = Instant::now();
        let output_before = self.conns.queued_ever();
        // Past this much output caused, its queue may be half full.
        let half = (conn.limits().out_cap / 2).saturating_sub(conn.queued()) as u64;
        let closes_before = self.conns.closes_requested();
        let mut batch = std::mem::take(&mut self.batch);
        let mut shared = std::mem::take(&mut self.shared_input);
        if let Some(c) = self.conns.get_mut(slot) {
            if open {
                // What an earlier round read and did not handle comes first.
                c.take_stash(&mut batch);
            }
            c.begin_round(&mut shared, edge, ROUND_BYTES);
        }
        let (mut frames, mut handled) = (0, 0);
        let outcome = 'round: loop {
            // Read a few messages...
            let mut read_ended = None;
            while batch.len() < BATCH {
                if frames == ROUND_FRAMES {
                    read_ended = Some(Outcome::More);
                    break;
                }
                frames += 1;
                let Some(next) = self
                    .conns
                    .get_mut(slot)
                    .map(|c| c.next(&mut batch, now, ROUND_BYTES))
                else {
                    read_ended = Some(Outcome::Blocked);
                    break;
                };
                match next {
                    Next::Message | Next::Other => {}
                    Next::Blocked => {
                        read_ended = Some(Outcome::Blocked);
                        break;
                    }
                    Next::End(ending) => {
                        read_ended = Some(Outcome::End(ending));
                        break;
                    }
                }
            }
            // ... then hand them to the engine, stopping as soon as the
            // connection should not be served further for now. Whether to
            // stop is checked cheaply: a close or a job can only have
            // started if one was asked for, and its queue can only be half
            // full if it caused that much output.
            for i in 0..batch.len() {
                // In cluster mode only writes are pipelined behind writes
                // in flight; anything else waits for their replies.
                let deferred = match batch.get(i) {
                    (Kind::Text, text) => self.engine.waits_for_writes(id, text),
                    (Kind::BadBinary, _) => self.engine.waits_for_writes(id, ""),
                };
                if !deferred {
                    handled += 1;
                    match batch.get(i) {
                        (Kind::Text, text) => self.dispatch(id, text, now_ms),
                        (Kind::BadBinary, _) => {
                            let mut out = Out {
                                conns: &mut self.conns,
                                authenticated: self.limits.authenticated,
                            };
                            self.engine.reject_binary(id, &mut out);
                        }
                    }
                }
                let output = self.conns.queued_ever() - output_before;
                if deferred
                    || ((self.conns.closes_requested() != closes_before
                        || self.engine.busy(id)
                        || output > half)
                        && self.must_wait(id))
                {
                    if let Some(Outcome::End(ending)) = read_ended {
                        if matches!(ending, Ending::Reply) && self.engine.owes_replies(id) {
                            // It closed right behind a request still in
                            // progress: the request's reply goes out before
                            // the close is answered.
                            if let Some(c) = self.conns.get_mut(slot) {
                                c.hold_close();
                            }
                            break 'round Outcome::Paused;
                        }
                        // It is leaving: what it sent after is not served.
                        break 'round Outcome::End(ending);
                    }
                    if let Some(c) = self.conns.get_mut(slot) {
                        c.stash(&batch, if deferred { i } else { i + 1 });
                    }
                    break 'round Outcome::Paused;
                }
                if (output > ROUND_OUTPUT || (i % 16 == 15 && started.elapsed() > ROUND_TIME))
                    && i + 1 < batch.len()
                {
                    // Its turn is over; the rest waits for the next one.
                    if let Some(c) = self.conns.get_mut(slot) {
                        c.stash(&batch, i + 1);
                    }
                    break 'round match read_ended {
                        Some(Outcome::End(ending)) => Outcome::End(ending),
                        _ => Outcome::More,
                    };
                }
            }
            batch.clear();
            if let Some(Outcome::End(Ending::Reply)) = read_ended
                && self.engine.owes_replies(id)
            {
                // It closed right behind requests still being answered.
                if let Some(c) = self.conns.get_mut(slot) {
                    c.hold_close();
                }
                break Outcome::Paused;
            }
            if let Some(outcome) = read_ended {
                break outcome;
            }
            let output = self.conns.queued_ever() - output_before;
            if output > ROUND_OUTPUT || started.elapsed() > ROUND_TIME {
                break Outcome::More;
            }
        };
        batch.clear();
        self.batch = batch;
        let spent = self
            .conns
            .get_mut(slot)
            .is_some_and(|c| c.end_round(&mut shared));
        self.shared_input = shared;
        self.conns.recount(slot);
        match outcome {
            Outcome::Blocked if spent => self.conns.read_again(slot),
            Outcome::Blocked => {}
            Outcome::More => self.conns.read_again(slot),
            Outcome::Paused => self.conns.pause(slot),
            Outcome::End(ending) => self.conns.end(slot, ending, now),
        }
        if self.conns.over_limit() {
            self.conns.enforce_memory();
        }
        handled
    }

    /// Whether connection `id` must not be read for now: it is to be
    /// closed, it waits for an engine job, or it has not read half its
    /// queue.
    pub(super) fn must_wait(&self, id: ConnId) -> bool {
        let Some(conn) = self.conns.by_id(id) else {
            return true;
        };
        conn.pending_close().is_some()
            || self.engine.busy(id)
            || (conn.is_open() && conn.queued() > conn.limits().out_cap / 2)
    }

    /// Hands one message to the engine, and to the hooks if the engine does
    /// not know its type.
    fn dispatch(&mut self, id: ConnId, text: &str, now_ms: u64) {
        trace!("{id} <- {} bytes", text.len());
        let mut out = Out {
            conns: &mut self.conns,
            authenticated: self.limits.authenticated,
        };
        let Some(unknown) = self.engine.handle(id, text, now_ms, &mut out) else {
            return;
        };
        let message = CustomMessage {
            kind: &unknown.kind,
            text: unknown.text,
            req: unknown.req.map(|r| r.get()),
        };
        let handled = {
            let mut ctx = Context::for_message(&mut self.engine, &mut out, now_ms, id);
            self.hooks.on_message(&mut ctx, id, &message)
        };
        if !handled {
            debug!("{id}: message of unknown type");
            self.engine.reject_unknown(id, &unknown, &mut out);
        }
    }
}
