//! The hot path: what to send next, and what each message from the server
//! means. Everything here works on one connection's buffers and the run's
//! counters; nothing allocates unless an error is being described.

use super::conn::{Flow, Io, Role};
use super::fanout::FanTrack;
use super::histogram::Histogram;
use super::report::ErrorLog;
use super::requests::{Key, Op, Requests};
use super::verify::{Msg, check_delivery, check_reply};

/// The counters and tables shared by every connection of a load.
pub struct State {
    /// The pre-encoded requests.
    pub requests: Requests,
    /// Latency of this run.
    pub hist: Histogram,
    /// Errors of this run.
    pub errors: ErrorLog,
    /// Fan-out bookkeeping.
    pub fan: FanTrack,
    /// Requests in flight per client connection.
    depth: usize,
    /// Subscribers a publish must reach.
    subscribers: usize,
    keys: u64,
    /// Only sets (no gets) in reqresp and pipeline.
    pub sets_only: bool,
    /// The next plain request: set/get alternate, keys cycle.
    next_op: u64,
    /// Plain requests sent in this run, and the most it may send.
    pub sent: u64,
    /// See [`State::sent`].
    pub limit: u64,
    /// Fan-out: publish values up to this sequence number.
    pub fan_limit: u64,
    /// Replies to plain requests or publishes in this run.
    pub done: u64,
    /// Fan-out notifications in this run.
    pub deliveries: u64,
    /// Messages to conns-mode connections after their set-up.
    pub notifications: u64,
    /// Requests sent and not answered, over all connections.
    pub in_flight: u64,
    /// Connections that have finished their set-up.
    pub ready: usize,
    /// When the last read happened (ns since the load's epoch).
    pub now_ns: u64,
    /// Whether anything arrived since the loop last looked.
    pub progressed: bool,
}

impl State {
    /// Counters for a load of `requests`.
    pub fn new(requests: Requests, depth: usize, subscribers: usize, keys: usize) -> Self {
        State {
            requests,
            hist: Histogram::new(),
            errors: ErrorLog::default(),
            fan: FanTrack::new(subscribers, depth),
            depth,
            subscribers,
            keys: keys as u64,
            next_op: 0,
            sets_only: false,
            sent: 0,
            limit: 0,
            fan_limit: 0,
            done: 0,
            deliveries: 0,
            notifications: 0,
            in_flight: 0,
            ready: 0,
            now_ns: 0,
            progressed: false,
        }
    }

    /// Queues a connection's set-up requests (subscribe, or the set that
    /// makes the key exist so that the R server answers the subscribe).
    pub fn send_initial(&mut self, io: &mut Io, flow: &mut Flow, now: u64) {
        for op in flow.initial.drain(..) {
            self.requests.encode(&mut io.wbuf, op);
            flow.pending.push_back((op, now));
            self.in_flight += 1;
        }
    }

    /// Tops a client connection up to `depth` requests in flight.
    #[inline]
    pub fn refill(&mut self, io: &mut Io, flow: &mut Flow, now: u64) {
        while flow.pending.len() < self.depth && self.sent < self.limit {
            let n = self.next_op;
            self.next_op += 1;
            let (key, get) = if self.sets_only {
                ((n % self.keys) as u32, false)
            } else {
                (((n / 2) % self.keys) as u32, n & 1 == 1)
            };
            io.wbuf.extend_from_slice(self.requests.plain(key, get));
            let op = if get {
                Op::Get(Key::Plain(key))
            } else {
                Op::Set(Key::Plain(key))
            };
            flow.pending.push_back((op, now));
            self.sent += 1;
            self.in_flight += 1;
        }
    }

    /// Publishes as many values as the window and the limit allow.
    pub fn publish(&mut self, io: &mut Io, flow: &mut Flow, now: u64) {
        while self.fan.can_publish(self.fan_limit) {
            let seq = self.fan.publish();
            self.requests.publish(&mut io.wbuf, seq, now);
            flow.pending.push_back((Op::Publish(seq), now));
            self.in_flight += 1;
        }
    }

    /// Handles one message on a connection: the reply to its oldest
    /// request, or a notification.
    #[inline]
    pub fn on_message(&mut self, flow: &mut Flow, msg: Msg) {
        self.progressed = true;
        if let Some((op, sent)) = flow.pending.pop_front() {
            self.in_flight -= 1;
            if let Err(e) = check_reply(&self.requests, op, &msg, self.subscribers) {
                self.errors.record(e);
            }
            match op {
                Op::Set(Key::Plain(_)) | Op::Get(Key::Plain(_)) => {
                    self.done += 1;
                    self.hist.record(self.now_ns.saturating_sub(sent));
                }
                Op::Publish(_) => self.done += 1,
                _ => {}
            }
            return;
        }
        match flow.role {
            Role::Subscriber => match check_delivery(&self.requests, &msg) {
                Ok((seq, t)) => {
                    self.deliveries += 1;
                    self.hist.record(self.now_ns.saturating_sub(t));
                    if let Err(e) = self.fan.deliver(&mut flow.next_seq, seq) {
                        self.errors.record(format!("subscriber: {e}"));
                    }
                }
                Err(e) => self.errors.record(e),
            },
            Role::Holder => self.notifications += 1,
            Role::Client | Role::Publisher => self.errors.record(format!(
                "message with no request outstanding: {}",
                msg.describe()
            )),
        }
    }
}
