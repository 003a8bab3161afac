//! A connection's writes in flight to a shared log, and its replies held
//! behind them (cluster mode).
//!
//! A client may pipeline writes: each is proposed at once, so their round
//! trips to the log overlap. Its replies must still leave in the order of
//! its requests, and a write's reply only once this process has applied
//! the write's revision (a client reads its own writes). So each
//! connection has a queue of what it is owed, in request order: writes
//! (waiting for their outcome, then for the replica), and replies that
//! were ready at once (an invalid request between two writes). The queue
//! is sent from its front as far as it is ready.
//!
//! Only `set` and `delete` may be pipelined behind a write; anything else
//! (a `get`, a subscription, a custom message) waits, unread, until the
//! queue is empty: it would otherwise be answered from a replica that has
//! not applied the writes before it.

use std::collections::VecDeque;

use super::shared::Outcome;
use super::{Engine, Outbound};
use crate::conn_id::ConnId;
use crate::protocol::frame::FrameRef;
use crate::protocol::{self, ErrorCode, Json, Request, encode};

/// Writes one connection may have in flight: enough to fill a round trip to
/// Redis many times over at the rates one connection reaches.
pub const MAX_WRITES_IN_FLIGHT: usize = 64;
/// Bytes of writes in flight (values, names, held replies) across all
/// connections past which a connection with a write in flight sends no
/// more until it is answered: what a slow log makes this process hold.
pub const MAX_IN_FLIGHT_BYTES: usize = 16 << 20;

/// What a connection is owed, in the order of its requests.
pub(super) enum Owed {
    /// A write proposed to the log.
    Write(InFlight),
    /// A reply that was ready at once, or an outcome that is not a change
    /// (a conflict, a failure, a delete of a missing key).
    Reply(Box<[u8]>),
}

impl Owed {
    fn bytes(&self) -> usize {
        match self {
            Owed::Write(w) => {
                w.id.len()
                    + w.key.len()
                    + w.value.as_deref().map_or(0, str::len)
                    + w.req.as_deref().map_or(0, str::len)
                    + 64
            }
            Owed::Reply(r) => r.len() + 16,
        }
    }
}

/// A client's write waiting for its outcome, or for this process to apply
/// it.
pub(super) struct InFlight {
    pub seq: u64,
    pub req: Option<Box<str>>,
    pub id: Box<str>,
    pub key: Box<str>,
    /// The value of a `set` (`None`: a delete).
    pub value: Option<Box<str>>,
    /// The revision it was made with, once known.
    pub rev: Option<u64>,
}

impl InFlight {
    fn req(&self) -> Option<Json<'_>> {
        self.req.as_deref().map(Json::trusted)
    }
}

/// An output that holds back the direct replies to one connection (to be
/// queued behind its writes) and passes everything else on.
pub(super) struct Hold<'o, O: Outbound + ?Sized> {
    out: &'o mut O,
    conn: ConnId,
    held: Vec<Box<[u8]>>,
}

impl<O: Outbound + ?Sized> Outbound for Hold<'_, O> {
    fn send(&mut self, to: ConnId, json: &[u8]) {
        if to == self.conn {
            self.held.push(json.into());
        } else {
            self.out.send(to, json);
        }
    }
    fn send_frame(&mut self, to: ConnId, frame: FrameRef<'_>) {
        self.out.send_frame(to, frame);
    }
    fn close(&mut self, to: ConnId, code: u16, reason: &'static str) {
        self.out.close(to, code, reason);
    }
    fn room(&self, to: ConnId) -> Option<usize> {
        self.out.room(to)
    }
    fn authenticated(&mut self, to: ConnId) {
        self.out.authenticated(to);
    }
    fn broadcast(&mut self, json: &[u8]) {
        self.out.broadcast(json);
    }
}

impl Engine {
    /// Whether `conn` has writes in flight.
    pub(super) fn writing(&self, conn: ConnId) -> bool {
        self.shared.is_some() && self.sessions.get(&conn).is_some_and(|s| !s.owed.is_empty())
    }

    /// Whether `conn` may send no more for now: its queue of writes is full,
    /// or this process holds too much in flight already.
    pub(super) fn writes_full(&self, conn: ConnId) -> bool {
        self.sessions.get(&conn).is_some_and(|s| {
            !s.owed.is_empty()
                && (s.owed.len() >= MAX_WRITES_IN_FLIGHT
                    || self.in_flight_bytes >= MAX_IN_FLIGHT_BYTES)
        })
    }

    /// Whether message `text` from `conn` must wait, unread, until the
    /// connection's writes in flight are answered: anything but a `set` or
    /// a `delete` does.
    pub fn waits_for_writes(&self, conn: ConnId, text: &str) -> bool {
        self.writing(conn)
            && !matches!(
                protocol::parse(text, self.limits.parse).map(|e| e.request),
                Ok(Request::Set { .. } | Request::Delete { .. })
            )
    }

    /// Handles a message of a connection with writes in flight: its direct
    /// replies are queued behind them.
    pub(super) fn handle_behind_writes(
        &mut self,
        conn: ConnId,
        text: &str,
        now: u64,
        out: &mut impl Outbound,
    ) {
        let mut hold = Hold {
            out,
            conn,
            held: Vec::new(),
        };
        // Only writes are let through here (see `waits_for_writes`), and
        // those the engine knows.
        let _ = self.handle_now(conn, text, now, &mut hold);
        for reply in hold.held {
            self.owe(conn, Owed::Reply(reply));
        }
    }

    /// Adds to what `conn` is owed.
    pub(super) fn owe(&mut self, conn: ConnId, owed: Owed) {
        if let Some(session) = self.sessions.get_mut(&conn) {
            self.in_flight_bytes += owed.bytes();
            session.owed.push_back(owed);
        }
    }

    /// Forgets what a closed connection was owed.
    pub(super) fn forget_owed(&mut self, owed: &VecDeque<Owed>) {
        self.in_flight_bytes -= owed.iter().map(Owed::bytes).sum::<usize>();
    }

    /// Records the log's decision on `conn`'s write `seq`, and sends what
    /// is ready.
    pub(super) fn decide(
        &mut self,
        conn: ConnId,
        seq: u64,
        outcome: Outcome,
        out: &mut (impl Outbound + ?Sized),
    ) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let Some(pos) = session
            .owed
            .iter()
            .position(|o| matches!(o, Owed::Write(w) if w.seq == seq))
        else {
            return;
        };
        let Owed::Write(w) = &mut session.owed[pos] else {
            return;
        };
        self.buf.clear();
        match outcome {
            Outcome::Done(rev) => {
                w.rev = Some(rev);
                if rev > self.rev
                    && let Some(shared) = &mut self.shared
                {
                    shared.waiting.push_back((rev, conn));
                }
            }
            // Deleting a missing key is not a change.
            Outcome::Nothing => encode::deleted(&mut self.buf, &w.id, &w.key, 0, None, w.req()),
            Outcome::Conflict(rev) => {
                let message = format!("if_rev does not match: the key's revision is {rev}");
                encode::error_obj(&mut self.buf, ErrorCode::Conflict, &message)
                    .str("id", &w.id)
                    .str("key", &w.key)
                    .u64("rev", rev)
                    .req(w.req())
                    .end();
            }
            Outcome::Failed(code, message) => encode::error(&mut self.buf, code, &message, w.req()),
        }
        if !self.buf.is_empty() {
            let reply = Owed::Reply(self.buf.as_slice().into());
            let old = std::mem::replace(&mut session.owed[pos], reply);
            self.in_flight_bytes = self.in_flight_bytes - old.bytes() + session.owed[pos].bytes();
        }
        self.send_owed(conn, out);
    }

    /// Sends what `conn` is owed from the front of its queue, as far as it
    /// is ready: replies, and writes this process has applied.
    pub(super) fn send_owed(&mut self, conn: ConnId, out: &mut (impl Outbound + ?Sized)) {
        let mut sent = false;
        while let Some(session) = self.sessions.get_mut(&conn) {
            let ready = match session.owed.front() {
                Some(Owed::Reply(_)) => true,
                Some(Owed::Write(w)) => w.rev.is_some_and(|rev| rev <= self.rev),
                None => false,
            };
            if !ready {
                break;
            }
            let owed = session.owed.pop_front().expect("checked above");
            self.in_flight_bytes -= owed.bytes();
            sent = true;
            match owed {
                Owed::Reply(reply) => out.send(conn, &reply),
                Owed::Write(w) => {
                    let rev = w.rev.unwrap_or(0);
                    self.buf.clear();
                    match &w.value {
                        Some(v) => {
                            encode::value(&mut self.buf, &w.id, &w.key, Some(v), rev, w.req())
                        }
                        None => encode::deleted(&mut self.buf, &w.id, &w.key, rev, None, w.req()),
                    }
                    out.send(conn, &self.buf);
                }
            }
        }
        if sent {
            // It may be read again (as far as it is not still owed much).
            self.finished.push(conn);
        }
    }
}
