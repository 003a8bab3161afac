//! An open WebSocket: reading one message at a time within a budget,
//! queueing output under its cap, the idle check, and the lingering reads
//! of a draining connection.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tungstenite::Message;
use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocket};

use super::head::ws_config;
use super::{Batch, Connection, Ending, State};
use crate::net::wire::{InBuf, Stream, Wire};
use crate::protocol::frame::FrameRef;

/// Most bytes read and thrown away from a connection that is draining
/// (after an HTTP error or a close): enough for what a client had in flight,
/// and a client that keeps sending after that is cut off.
pub(crate) const MAX_DISCARD: usize = 1 << 20;

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

/// What [`Connection::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// A message was added to the caller's batch.
    Message,
    /// A frame that asks nothing of the engine: a ping (answered), a pong,
    /// a message that arrived after we started closing, or bytes read and
    /// dropped while draining. It still counts against the round's budget.
    Other,
    /// Nothing more to read now: the socket is dry, or the round's byte
    /// budget is spent (see [`Connection::end_round`]).
    Blocked,
    /// The connection is ending.
    End(Ending),
}

impl<S: Stream> Connection<S> {
    /// Starts a round of reads that may take `budget` bytes from the
    /// socket. `short_read_drains`: see [`Wire::begin_round`].
    pub fn begin_round(&mut self, shared: &mut InBuf, short_read_drains: bool, budget: usize) {
        match &mut self.state {
            State::Open { ws, .. } => ws.get_mut().begin_round(shared, short_read_drains, budget),
            State::Draining { wire, .. } => wire.sock.new_turn(),
            _ => {}
        }
    }

    /// Ends the round; returns true if it stopped on its byte budget, so
    /// that more may be waiting.
    pub fn end_round(&mut self, shared: &mut InBuf) -> bool {
        match &mut self.state {
            State::Open { ws, .. } => ws.get_mut().end_round(shared),
            _ => false,
        }
    }

    /// Reads the next frame that completes something. A message is added
    /// to `batch`; see [`Next`]. A draining connection reads and drops up
    /// to `budget` bytes instead.
    pub fn next(&mut self, batch: &mut Batch, now: Instant, budget: usize) -> Next {
        let (ws, closing) = match &mut self.state {
            State::Open { ws, closing } => (ws, *closing),
            State::Draining { .. } => return self.discard(budget),
            State::Head { .. } => return Next::Blocked,
            State::Gone => return Next::End(Ending::Drop),
        };
        if self.peer_closed {
            return Next::End(Ending::Reply);
        }
        let next = match ws.read() {
            Ok(message) => {
                self.last_seen = now;
                self.pinged = false;
                match message {
                    Message::Close(frame) => {
                        self.peer_code = frame.map(|f| u16::from(f.code));
                        return Next::End(Ending::Reply);
                    }
                    // Requests that arrive after we started closing are not served.
                    Message::Text(_) | Message::Binary(_) if closing => Next::Other,
                    Message::Text(t) => {
                        batch.push_text(t.as_str());
                        Next::Message
                    }
                    Message::Binary(b) => {
                        match std::str::from_utf8(&b) {
                            Ok(t) => batch.push_text(t),
                            Err(_) => batch.push_bad_binary(),
                        }
                        Next::Message
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Next::Other,
                }
            }
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return Next::Blocked,
            Err(e) => return Next::End(ending_for(&e)),
        };
        if ws.get_mut().message_done() {
            self.renew_reader();
        }
        next
    }

    /// Gives tungstenite a fresh, small read buffer after a large message
    /// (the wire made sure it holds no unread byte).
    fn renew_reader(&mut self) {
        let State::Open { ws, closing } = std::mem::replace(&mut self.state, State::Gone) else {
            return;
        };
        let mut ws = *ws;
        let _ = ws.flush();
        let wire = ws.into_inner();
        let ws = WebSocket::from_raw_socket(
            wire,
            Role::Server,
            Some(ws_config(self.limits.max_message)),
        );
        self.state = State::Open {
            ws: Box::new(ws),
            closing,
        };
        #[cfg(test)]
        {
            self.renewals += 1;
        }
    }

    /// Lingering close: reads and drops up to `budget` bytes, until the
    /// peer's end of stream; a peer that sends more than [`MAX_DISCARD`]
    /// is dropped.
    fn discard(&mut self, budget: usize) -> Next {
        let State::Draining { wire, .. } = &mut self.state else {
            return Next::End(Ending::Drop);
        };
        let mut sink = [0u8; 4096];
        let mut taken = 0;
        while taken < budget {
            match wire.sock.read(&mut sink) {
                Ok(0) => return Next::End(Ending::Drop),
                Ok(n) => {
                    taken += n;
                    self.discarded += n;
                    self.received += n as u64;
                    if self.discarded > MAX_DISCARD {
                        return Next::End(Ending::Drop);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The stream's own budget: the round goes on to its end,
                // and the connection is read again after the others.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && wire.sock.stopped_early() => {
                    return Next::Other;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Blocked,
                Err(_) => return Next::End(Ending::Drop),
            }
        }
        Next::Other
    }

    /// Queues a reply; returns the bytes it added to the queue (all held
    /// in the queue's own memory), or `None` (and queues nothing) if it is
    /// not open or its queue would pass its cap (it is then marked
    /// overflowed).
    pub fn send_text(&mut self, json: &[u8]) -> Option<usize> {
        let wire = self.open_wire(json.len())?;
        let before = wire.out.len();
        wire.out.push_text(json);
        Some(wire.out.len() - before)
    }

    /// Queues a framed notification, as [`Connection::send_text`]; returns
    /// the bytes added and how many of them the queue holds itself (none
    /// for a large frame, which is shared).
    pub fn send_frame(&mut self, frame: FrameRef) -> Option<(usize, usize)> {
        let wire = self.open_wire(frame.bytes.len())?;
        let owned = wire.out.owned();
        wire.out.push_frame(frame);
        Some((frame.bytes.len(), wire.out.owned() - owned))
    }

    fn open_wire(&mut self, adding: usize) -> Option<&mut Wire<S>> {
        if self.overflowed {
            return None;
        }
        let State::Open { ws, closing: false } = &mut self.state else {
            return None;
        };
        let wire = ws.get_mut();
        if wire.out.len() + adding > self.limits.out_cap {
            self.overflowed = true;
            return None;
        }
        Some(wire)
    }

    /// Keeps an open, idle connection honest: returns `Idle::Ping` once half
    /// of `timeout` has passed in silence (and queues the ping), and
    /// `Idle::Dead` when all of it has. A zero timeout turns this off.
    pub fn check_idle(&mut self, now: Instant, timeout: Duration) -> Idle {
        let State::Open { ws, closing: false } = &mut self.state else {
            return Idle::Fine;
        };
        if timeout.is_zero() {
            return Idle::Fine;
        }
        let silent = now.saturating_duration_since(self.last_seen);
        if silent >= timeout {
            return Idle::Dead;
        }
        if silent >= timeout / 2 && !self.pinged {
            self.pinged = true;
            let _ = ws.write(Message::Ping(Bytes::from_static(b"kvws")));
            return Idle::Ping;
        }
        Idle::Fine
    }

    /// Messages read in an earlier round and not handled yet (it stopped
    /// for back-pressure or a job): moved to the end of `batch`, to be
    /// handled before anything newer.
    pub fn take_stash(&mut self, batch: &mut Batch) {
        if !self.stash.is_empty() {
            self.stash.move_from(0, batch);
            self.stash.clear();
        }
    }

    /// Keeps the messages of `batch` from `from` on for the next round.
    pub fn stash(&mut self, batch: &Batch, from: usize) {
        batch.move_from(from, &mut self.stash);
    }

    /// Whether bytes already read from the socket wait to be parsed.
    pub fn has_buffered_input(&self) -> bool {
        match &self.state {
            State::Open { ws, .. } => ws.get_ref().has_buffered_input() || !self.stash.is_empty(),
            _ => false,
        }
    }
}

/// Maps a tungstenite read error to how the connection ends.
fn ending_for(e: &WsError) -> Ending {
    match e {
        WsError::ConnectionClosed => Ending::Reply,
        WsError::Capacity(_) => Ending::Fail(CloseCode::Size, "message too large"),
        WsError::Utf8(_) => Ending::Fail(CloseCode::Invalid, "text message is not valid UTF-8"),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Ending::Drop,
        WsError::Protocol(_) => Ending::Fail(CloseCode::Protocol, "WebSocket protocol error"),
        _ => Ending::Drop,
    }
}
