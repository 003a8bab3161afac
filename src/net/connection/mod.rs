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

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocket, WebSocketConfig};

use super::http::{self, HeadError, Status};
use super::socket::Socket;
use super::wire::{Stream, Wire};
use crate::conn_id::ConnId;

mod batch;
mod open;
#[cfg(test)]
mod tests;

pub(crate) use batch::{Batch, Kind};
pub(crate) use open::Next;

/// tungstenite's own read buffer per connection. Its default (128 KiB) would
/// cost 1.3 GB at 10,000 connections. Ours is fed from the server's shared
/// buffer (see `net::wire`), so it only needs to hold a frame header and a
/// small message; larger frames grow it, and it is renewed after them.
const TUNGSTENITE_READ_BUFFER: usize = 512;

/// Most bytes read and thrown away from a connection that is draining
/// (after an HTTP error or a close): enough for what a client had in flight,
/// and a client that keeps sending after that is cut off.
pub(crate) const MAX_DISCARD: usize = 1 << 20;

/// How a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The socket failed or the peer vanished: drop it now.
    Drop,
    /// The peer sent its close frame: send our reply after what is queued,
    /// then drop.
    Reply,
    /// We close: send a close frame with this code and reason and wait for
    /// the peer's (up to the close timeout), serving nothing meanwhile.
    Close(CloseCode, &'static str),
    /// The peer broke the protocol or a limit: send a close frame with this
    /// code and reason, then drop without waiting for an answer.
    Fail(CloseCode, &'static str),
}

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

/// What [`Connection::check_idle`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Idle {
    /// Recently active, or not an open WebSocket.
    Fine,
    /// Silent for half the timeout: a ping was queued.
    Ping,
    /// Silent for the whole timeout: close it.
    Dead,
}

/// What reading a request head produced.
#[derive(Debug)]
pub(crate) enum HeadStatus {
    /// More bytes are needed.
    Waiting,
    /// More may be there already: the stream stopped on its own budget.
    More,
    /// A complete head.
    Complete(Box<http::Request>),
    /// An invalid or oversized head: answer with this status.
    Invalid(Status),
    /// The peer went away.
    Gone,
}

/// What one call to [`Connection::flush`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Flushed {
    /// Nothing is left to write.
    pub done: bool,
    /// Bytes the socket took.
    pub wrote: usize,
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
    /// Its queue went past its cap: it is closed as a slow consumer.
    /// The peer's close frame was read while its last request was still
    /// in progress: the close is answered once that request's reply is
    /// queued, so the reply is not lost.
    peer_closed: bool,
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

    /// Bytes waiting to be written (in its queue, and in its stream's own
    /// buffer: TLS records).
    pub fn queued(&self) -> usize {
        self.wire()
            .map_or(0, |w| w.out.len() + w.sock.pending_output())
    }

    /// Queued bytes held in its own buffers (shared frames not counted).
    pub fn owned_output(&self) -> usize {
        self.wire()
            .map_or(0, |w| w.out.owned() + w.sock.pending_output())
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

    /// Closes it at the end of the step to free what it holds (queued
    /// output is dropped, a message it is sending is not read further):
    /// the server is over its limit for all clients together.
    pub fn evict(&mut self) {
        self.evicted = true;
        self.overflowed = true;
    }

    /// Records the engine's wish to close it (the first one wins); the
    /// server acts on it at the end of the step, after what is queued.
    pub fn request_close(&mut self, code: CloseCode, reason: &'static str) {
        self.close_request.get_or_insert((code, reason));
    }

    /// Whether it should be closed at the end of the step, and how. Once
    /// that is so, nothing more it sent is served.
    pub fn pending_close(&self) -> Option<Ending> {
        if !self.is_open() {
            return None;
        }
        if self.evicted {
            return Some(Ending::Fail(CloseCode::Again, "server busy"));
        }
        if let Some((code, reason)) = self.close_request {
            return Some(Ending::Close(code, reason));
        }
        self.overflowed
            .then_some(Ending::Close(CloseCode::Policy, "output buffer limit"))
    }

    /// Reads the request head until it is complete or the socket is dry.
    pub fn read_head(&mut self) -> HeadStatus {
        let State::Head { wire, buf } = &mut self.state else {
            return HeadStatus::Waiting;
        };
        wire.sock.new_turn();
        let mut chunk = [0u8; 2048];
        loop {
            let want = chunk
                .len()
                .min(http::MAX_HEAD + 1 - buf.len().min(http::MAX_HEAD));
            match wire.sock.read(&mut chunk[..want]) {
                Ok(0) => return HeadStatus::Gone,
                Ok(n) => {
                    self.received += n as u64;
                    buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if wire.sock.stopped_early() {
                        HeadStatus::More
                    } else {
                        HeadStatus::Waiting
                    };
                }
                Err(_) if wire.sock.spoke_plaintext() => {
                    return HeadStatus::Invalid(Status::BadRequest(
                        "this port speaks TLS: use https:// or wss://",
                    ));
                }
                Err(_) => return HeadStatus::Gone,
            }
            match http::parse_head(buf) {
                Ok(None) => continue,
                Ok(Some(req)) => return HeadStatus::Complete(Box::new(req)),
                Err(HeadError::TooLarge) => return HeadStatus::Invalid(Status::HeadTooLarge),
                Err(HeadError::Malformed) => {
                    return HeadStatus::Invalid(Status::BadRequest("not an HTTP/1.1 request"));
                }
            }
        }
    }

    /// Answers with a plain HTTP response and starts draining.
    pub fn respond(&mut self, response: &[u8], now: Instant, close_timeout: Duration) {
        if let Some(wire) = self.wire_mut() {
            wire.out.push_raw(response);
        }
        self.start_draining(now, close_timeout);
    }

    /// Completes the WebSocket handshake with `response` (the 101) and opens
    /// the connection under `limits`; bytes that came after the head are
    /// kept for tungstenite.
    pub fn upgrade(&mut self, response: &[u8], head_len: usize, limits: Limits) {
        let State::Head { wire, buf } = std::mem::replace(&mut self.state, State::Gone) else {
            return;
        };
        let mut wire = Wire::new(wire.sock, buf[head_len..].to_vec());
        wire.out.push_raw(response);
        wire.set_control_cap(limits.out_cap);
        let ws = WebSocket::from_raw_socket(
            wire,
            tungstenite::protocol::Role::Server,
            Some(ws_config(limits.max_message)),
        );
        self.state = State::Open {
            ws: Box::new(ws),
            closing: false,
        };
        self.limits = limits;
        self.deadline = None;
        self.session = true;
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

    /// Ends the connection as `ending` says (see [`Ending`]). Returns true
    /// exactly once in its life: when it stops serving requests, so the
    /// caller retires its session in the engine.
    pub fn end(&mut self, ending: Ending, now: Instant, close_timeout: Duration) -> bool {
        match (&mut self.state, ending) {
            (State::Gone, _) => {}
            (_, Ending::Drop) => self.state = State::Gone,
            (State::Head { .. }, _) => self.state = State::Gone,
            (State::Draining { .. }, _) => {}
            (State::Open { ws, .. }, Ending::Reply) => {
                ws.get_mut().set_closing();
                // Puts tungstenite's pending close reply into the queue.
                let _ = ws.flush();
                self.start_draining(now, close_timeout);
            }
            (State::Open { ws, closing }, Ending::Close(code, reason)) => {
                if !*closing {
                    if self.overflowed {
                        // What it had not started to receive is dropped.
                        ws.get_mut().out.discard_unsent();
                    }
                    ws.get_mut().set_closing();
                    let _ = ws.close(Some(close_frame(code, reason)));
                    *closing = true;
                    self.deadline = Some(now + close_timeout);
                }
            }
            (State::Open { ws, closing }, Ending::Fail(code, reason)) => {
                if !*closing {
                    if self.overflowed {
                        ws.get_mut().out.discard_unsent();
                    }
                    ws.get_mut().set_closing();
                    let _ = ws.close(Some(close_frame(code, reason)));
                }
                self.start_draining(now, close_timeout);
            }
        }
        let retire = self.session && !self.is_open();
        if retire {
            self.session = false;
        }
        retire
    }

    fn start_draining(&mut self, now: Instant, close_timeout: Duration) {
        let wire = match std::mem::replace(&mut self.state, State::Gone) {
            State::Head { wire, .. } | State::Draining { wire, .. } => wire,
            State::Open { ws, .. } => ws.into_inner(),
            State::Gone => return,
        };
        self.state = State::Draining { wire, shut: false };
        self.deadline = Some(now + close_timeout);
    }

    /// Holds back the answer to the peer's close frame (already read)
    /// until the connection is read again: its request in progress is
    /// answered first.
    pub fn hold_close(&mut self) {
        self.peer_closed = true;
    }

    /// Writes queued bytes. A draining connection whose queue is empty
    /// shuts its socket down for writing.
    pub fn flush(&mut self) -> io::Result<Flushed> {
        let (wire, shut) = match &mut self.state {
            State::Head { wire, .. } => (wire, None),
            State::Open { ws, .. } if self.peer_closed => (ws.get_mut(), None),
            State::Open { ws, .. } => {
                // A pong or close frame tungstenite could not queue before.
                match ws.flush() {
                    Ok(()) => {}
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {}
                }
                (ws.get_mut(), None)
            }
            State::Draining { wire, shut } => (wire, Some(shut)),
            State::Gone => {
                return Ok(Flushed {
                    done: true,
                    wrote: 0,
                });
            }
        };
        let before = wire.out.len();
        let done = wire.out.write_to(&mut wire.sock)? && wire.sock.flush_pending()?;
        let wrote = before - wire.out.len();
        if let Some(shut) = shut
            && done
            && !*shut
        {
            *shut = true;
            let _ = wire.sock.shutdown_write();
        }
        Ok(Flushed { done, wrote })
    }

    /// Notes that the client took output while its reads were paused: it is
    /// alive, even though the server is not reading what it sends.
    pub fn saw_progress(&mut self, now: Instant) {
        self.last_seen = now;
        self.pinged = false;
    }

    /// Whether the current phase's deadline has passed.
    pub fn timed_out(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }
}

fn close_frame(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// tungstenite settings for a server connection whose messages may be as
/// large as `max_message`.
pub(crate) fn ws_config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(TUNGSTENITE_READ_BUFFER)
        // Frames go straight through to our own queue (see `net::wire`);
        // what tungstenite holds back itself is one control frame at most.
        .write_buffer_size(0)
        .max_write_buffer_size(1024)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}
