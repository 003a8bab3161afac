//! One client connection, from its first byte to its last.
//!
//! ```text
//! accept ──> Head ──(GET /, upgrade)──> Open ──(we close)──> Closing ──> Draining ──> Gone
//!             │                          │                      │          ^
//!             │                          └──(peer closes, protocol error, limit)─┤
//!             └──(page, 404, 503...)───────────────────────────────────────┘
//! ```
//!
//! * `Head` reads the HTTP request head (bounded in size and time).
//! * `Open` is a tungstenite WebSocket over a [`Wire`]; the server reads
//!   one message at a time from it, within a per-round budget, and it never
//!   writes to the socket itself. `Closing` is an open WebSocket that sent
//!   its close frame and waits (bounded) for the peer's; it serves nothing.
//! * `Draining` writes what is still queued (a response, a close frame),
//!   shuts the socket down for writing and reads (bounded) until the peer's
//!   end, so the last bytes are not lost to a reset.
//!
//! Every step handles `WouldBlock`: a half-read head or half-written queue
//! simply resumes on the next readiness event. [`Connection::end`] is the
//! one way out of `Open`: it reports whether the engine's session must be
//! retired, exactly once.
//!
//! The connection is generic over its stream so that its logic is tested
//! with in-memory streams that block mid-frame (see `tests`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tungstenite::protocol::WebSocket;
use tungstenite::protocol::frame::coding::CloseCode;

use super::socket::Socket;
use super::wire::{Stream, Wire};
use crate::conn_id::ConnId;

// This file holds the connection's state and what every phase shares; each
// phase's steps have a file: `head` (reading the request head, answering it
// or upgrading), `open` (reading messages, queueing replies, the idle
// check), `output` (writing the queue to the socket) and `end` (the ways
// out: closing, draining, dropping). `batch` is what a read round yields.
mod batch;
mod end;
mod head;
mod open;
mod output;
#[cfg(test)]
mod tests;

pub(crate) use batch::{Batch, Kind};
pub(crate) use end::Ending;
pub(crate) use head::HeadStatus;
pub(crate) use open::{Idle, Next};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Reading the HTTP request head.
    Head,
    /// An open WebSocket that takes requests.
    Open,
    /// A WebSocket waiting for the peer's close frame.
    Closing,
    /// Writing its last bytes before the socket is dropped.
    Draining,
    /// Finished: to be removed.
    Gone,
}

/// The limits one connection is held to; they change when it authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Largest message accepted.
    pub max_message: usize,
    /// Most bytes queued before it is closed as a slow consumer.
    pub out_cap: usize,
}

enum State<S> {
    Head {
        wire: Wire<S>,
        buf: Vec<u8>,
    },
    Open {
        ws: Box<WebSocket<Wire<S>>>,
        closing: bool,
    },
    Draining {
        wire: Wire<S>,
        shut: bool,
    },
    Gone,
}

/// One client.
pub(crate) struct Connection<S = Socket> {
    id: ConnId,
    peer: SocketAddr,
    state: State<S>,
    /// When the current phase must be over (head, closing, draining).
    deadline: Option<Instant>,
    limits: Limits,
    /// The engine holds a session for it: retired once, when it stops being open.
    session: bool,
    /// The peer's close frame was read while its last request was still
    /// in progress: the close is answered once that request's reply is
    /// queued, so the reply is not lost.
    peer_closed: bool,
    /// Its queue went past its cap: it is closed as a slow consumer.
    overflowed: bool,
    /// The engine asked for it to be closed so.
    close_request: Option<(CloseCode, &'static str)>,
    /// The server needs the memory it holds: it is dropped (after a close
    /// frame) without waiting for an answer.
    evicted: bool,
    /// When the client last sent anything, or took output while its reads
    /// were paused (the idle timer).
    last_seen: Instant,
    /// A ping has been sent since then.
    pinged: bool,
    /// Bytes thrown away while draining.
    discarded: usize,
    /// Messages read but not handled yet (see [`Connection::take_stash`]).
    stash: Batch,
    /// Bytes read from the socket outside the wire (the head, draining)
    /// since [`Connection::take_received`].
    received: u64,
    /// The code of the client's close frame, when it closed first.
    peer_code: Option<u16>,
    /// Times tungstenite got a fresh read buffer.
    #[cfg(test)]
    renewals: usize,
}

impl<S: Stream> Connection<S> {
    /// A freshly accepted socket that has `handshake_timeout` to send its head.
    pub fn new(
        sock: S,
        id: ConnId,
        peer: SocketAddr,
        now: Instant,
        handshake_timeout: Duration,
    ) -> Self {
        Connection {
            id,
            peer,
            state: State::Head {
                wire: Wire::new(sock, Vec::new()),
                buf: Vec::new(),
            },
            deadline: Some(now + handshake_timeout),
            limits: Limits {
                max_message: 0,
                out_cap: 0,
            },
            session: false,
            overflowed: false,
            peer_closed: false,
            close_request: None,
            evicted: false,
            last_seen: now,
            pinged: false,
            discarded: 0,
            stash: Batch::default(),
            received: 0,
            peer_code: None,
            #[cfg(test)]
            renewals: 0,
        }
    }

    /// Its id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Where it is in its life.
    pub fn phase(&self) -> Phase {
        match &self.state {
            State::Head { .. } => Phase::Head,
            State::Open { closing: false, .. } => Phase::Open,
            State::Open { closing: true, .. } => Phase::Closing,
            State::Draining { .. } => Phase::Draining,
            State::Gone => Phase::Gone,
        }
    }

    /// Whether it is an open WebSocket that takes requests.
    pub fn is_open(&self) -> bool {
        self.phase() == Phase::Open
    }

    /// The socket, for (de)registration with the poller.
    pub fn socket(&mut self) -> Option<&mut S> {
        Some(&mut self.wire_mut()?.sock)
    }

    fn wire_mut(&mut self) -> Option<&mut Wire<S>> {
        match &mut self.state {
            State::Head { wire, .. } | State::Draining { wire, .. } => Some(wire),
            State::Open { ws, .. } => Some(ws.get_mut()),
            State::Gone => None,
        }
    }

    fn wire(&self) -> Option<&Wire<S>> {
        match &self.state {
            State::Head { wire, .. } | State::Draining { wire, .. } => Some(wire),
            State::Open { ws, .. } => Some(ws.get_ref()),
            State::Gone => None,
        }
    }

    /// Whether an HTTP response can be sent to it (not before its TLS
    /// handshake is done: there is nothing to send it over).
    pub fn can_answer(&self) -> bool {
        self.wire().is_some_and(|w| w.sock.can_answer())
    }

    /// Bytes of a message being received but not complete yet.
    pub fn partial_input(&self) -> usize {
        self.wire().map_or(0, Wire::partial_input)
    }

    /// Bytes read from its socket since the last call (for `/metrics`).
    pub fn take_received(&mut self) -> u64 {
        let wire = self.wire_mut().map_or(0, Wire::take_received);
        std::mem::take(&mut self.received) + wire
    }

    /// The code of the close frame the client sent, if it closed first.
    pub fn peer_close_code(&self) -> Option<u16> {
        self.peer_code
    }

    /// Its current limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether its queue went past its cap (it is being closed for it).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Changes its limits (it authenticated): the next message may be as
    /// large as the new limit.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        if let State::Open { ws, .. } = &mut self.state {
            ws.set_config(|c| {
                c.max_message_size = Some(limits.max_message);
                c.max_frame_size = Some(limits.max_message);
            });
            ws.get_mut().set_control_cap(limits.out_cap);
        }
    }

    /// Whether the current phase's deadline has passed.
    pub fn timed_out(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}
