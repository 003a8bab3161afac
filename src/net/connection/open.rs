//! An open WebSocket: reading messages, queueing output, idle checks.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tungstenite::Message;
use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;

use super::{Batch, Connection, Ending, Idle, ReadStatus, State};
use crate::net::wire::{InBuf, Wire};
use crate::protocol::frame::FrameRef;

impl Connection {
    /// Reads messages into `batch` until the socket is dry, the connection
    /// ends or `budget` messages are waiting. `short_read_drains`: see
    /// [`Wire::lend`].
    pub fn read_messages(
        &mut self,
        shared: &mut InBuf,
        batch: &mut Batch,
        budget: usize,
        now: Instant,
        short_read_drains: bool,
    ) -> ReadStatus {
        let State::Open { ws } = &mut self.state else {
            return self.read_discard();
        };
        ws.get_mut().lend(shared, short_read_drains);
        let status = loop {
            if batch.len() >= budget {
                break ReadStatus::More;
            }
            let message = ws.read();
            if message.is_ok() {
                self.last_seen = now;
                self.pinged = false;
            }
            match message {
                // Requests that arrive after we started closing are not served.
                Ok(Message::Text(t)) if !self.closing => batch.push_text(t.as_str()),
                Ok(Message::Binary(b)) if !self.closing => batch.push(&b, true),
                // Stop before tungstenite queues its close reply, so that replies
                // to the requests read so far go out ahead of it.
                Ok(Message::Close(_)) => break ReadStatus::End(Ending::Finish),
                Ok(_) => {}
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    break ReadStatus::Drained;
                }
                Err(e) => break ReadStatus::End(ending_for(&e)),
            }
        };
        ws.get_mut().give_back(shared);
        status
    }

    /// Lingering close: read and discard until the peer's end of stream.
    fn read_discard(&mut self) -> ReadStatus {
        let Some(wire) = self.wire_mut() else {
            return ReadStatus::End(Ending::Drop);
        };
        let mut sink = [0u8; 1024];
        loop {
            match wire.sock.read(&mut sink) {
                Ok(0) => return ReadStatus::End(Ending::Drop),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadStatus::Drained,
                Err(_) => return ReadStatus::End(Ending::Drop),
            }
        }
    }

    /// Queues a reply; returns `false` (and queues nothing) past `cap` bytes.
    pub fn send_text(&mut self, json: &[u8], cap: usize) -> bool {
        match self.open_wire(json.len(), cap) {
            Some(wire) => {
                wire.out.push_text(json);
                true
            }
            None => false,
        }
    }

    /// Queues a framed notification; returns `false` (and queues nothing)
    /// past `cap` bytes.
    pub fn send_frame(&mut self, frame: FrameRef, cap: usize) -> bool {
        match self.open_wire(frame.bytes.len(), cap) {
            Some(wire) => {
                wire.out.push_frame(frame);
                true
            }
            None => false,
        }
    }

    fn open_wire(&mut self, adding: usize, cap: usize) -> Option<&mut Wire> {
        if self.closing || self.overflowed {
            return None;
        }
        let State::Open { ws } = &mut self.state else {
            return None;
        };
        let wire = ws.get_mut();
        if wire.out.len() + adding > cap {
            self.overflowed = true;
            return None;
        }
        Some(wire)
    }

    /// Keeps an open, idle connection honest: returns `Idle::Ping` once half
    /// of `timeout` has passed in silence (and sends the ping), and
    /// `Idle::Dead` when all of it has.
    pub fn check_idle(&mut self, now: Instant, timeout: Duration) -> Idle {
        let State::Open { ws } = &mut self.state else {
            return Idle::Fine;
        };
        if self.closing {
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

    /// Whether the socket already holds input read ahead of tungstenite.
    pub fn has_buffered_input(&self) -> bool {
        match &self.state {
            State::Open { ws } => ws.get_ref().has_buffered_input(),
            _ => false,
        }
    }
}

/// Maps a tungstenite read error to how the connection ends.
fn ending_for(e: &WsError) -> Ending {
    match e {
        WsError::ConnectionClosed => Ending::Finish,
        WsError::Capacity(_) => Ending::Fail(CloseCode::Size, "message too large"),
        WsError::Utf8(_) => Ending::Fail(CloseCode::Invalid, "text message is not valid UTF-8"),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Ending::Drop,
        WsError::Protocol(_) => Ending::Fail(CloseCode::Protocol, "WebSocket protocol error"),
        _ => Ending::Drop,
    }
}
