//! Ending a connection: the close the engine or the server asks for, the
//! [`Ending`] it is ended with, and the move to `Closing` or `Draining`.
//! Kept together because [`Connection::end`] is the one way out of `Open`
//! and the one place that says when the engine's session is retired.

use std::time::{Duration, Instant};

use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use super::{Connection, State};
use crate::net::wire::Stream;

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

impl<S: Stream> Connection<S> {
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

    pub(super) fn start_draining(&mut self, now: Instant, close_timeout: Duration) {
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
}

fn close_frame(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}
