//! One client connection, from its first byte to its last.
//!
//! ```text
//! accept ──> Head ──(GET /, upgrade)──> Open ──(close handshake)──> Draining ──> dropped
//!             │                          │                              ^
//!             └──(page, 404, 503...)─────┴──(protocol error, 1009)──────┘
//! ```
//!
//! * `Head` reads the HTTP request head (bounded in size and time).
//! * `Open` is a tungstenite WebSocket over a [`Wire`]; it yields messages to
//!   the server in batches and never writes to the socket itself.
//! * `Draining` writes what is still queued (a response, a close frame), shuts
//!   the socket down for writing and waits briefly for the peer's end, so the
//!   last bytes are not lost to a reset.
//!
//! Every step handles `WouldBlock`: a half-read head or half-written queue
//! simply resumes on the next readiness event.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::net::TcpStream;
use tungstenite::Message;
use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocket, WebSocketConfig};

use super::http::{self, HeadError, Status};
use super::wire::{InBuf, Wire};
use crate::protocol::frame::FrameRef;

/// tungstenite's own read buffer per connection. Its default (128 KiB) would
/// cost 1.3 GB at 10,000 connections. Ours is fed from the server's shared
/// buffer (see `net::wire`), so it only needs to hold a frame header and a
/// small message; larger frames grow it on demand.
const TUNGSTENITE_READ_BUFFER: usize = 512;

/// A message received from a client, borrowed from a [`Batch`].
#[derive(Debug)]
pub enum Inbound<'a> {
    /// A text frame (tungstenite has checked it is UTF-8).
    Text(&'a str),
    /// A binary frame; kvws accepts it when it is UTF-8 JSON.
    Binary(&'a [u8]),
}

/// The messages of one read round, copied out of tungstenite's buffer.
///
/// Copying a message is cheaper than keeping it: while a received payload
/// is held, tungstenite's read buffer is shared and must be reallocated on
/// its next read, and every payload costs atomic reference counting. Copied
/// into one reusable buffer, the payloads are released as they are read.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    /// (start, end, is binary) of each message in `data`.
    spans: Vec<(usize, usize, bool)>,
}

impl Batch {
    /// Messages in the batch.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn push_text(&mut self, text: &str) {
        self.push(text.as_bytes(), false);
    }

    fn push(&mut self, bytes: &[u8], binary: bool) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.spans.push((start, self.data.len(), binary));
    }

    /// The messages, in the order received.
    pub fn iter(&self) -> impl Iterator<Item = Inbound<'_>> {
        self.spans.iter().map(|&(start, end, binary)| {
            let bytes = &self.data[start..end];
            if binary {
                return Inbound::Binary(bytes);
            }
            // SAFETY: text spans are only added by `push_text`, from a `&str`
            // (tungstenite has validated it; validating again would cost as
            // much as parsing the message).
            Inbound::Text(unsafe { std::str::from_utf8_unchecked(bytes) })
        })
    }

    /// Empties the batch, keeping its buffer unless a burst made it large.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.data.clear();
        if self.data.capacity() > 1 << 20 {
            self.data = Vec::new();
        }
    }
}

/// How a read round ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadStatus {
    /// Everything available was read.
    Drained,
    /// The batch budget was reached; more may be waiting.
    More,
    /// The connection is ending; the server should [`Connection::end`] it so.
    End(Ending),
}

/// How a connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The socket failed or the peer vanished: drop it now.
    Drop,
    /// The close handshake is complete (or the peer started it): send what
    /// is queued, including our close reply, then drop.
    Finish,
    /// The peer broke the protocol or a limit: send a close frame with this
    /// code and reason, then drop.
    Fail(CloseCode, &'static str),
}

/// What [`Connection::check_idle`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Idle {
    /// Recently active, or not an open WebSocket.
    Fine,
    /// Silent for half the timeout: a ping was queued.
    Ping,
    /// Silent for the whole timeout: close it.
    Dead,
}

/// What reading a request head produced.
#[derive(Debug)]
pub enum HeadStatus {
    /// More bytes are needed.
    Waiting,
    /// A complete head.
    Complete(Box<http::Request>),
    /// An invalid or oversized head: answer with this status.
    Invalid(Status),
    /// The peer went away.
    Gone,
}

enum State {
    Head { wire: Wire, buf: Vec<u8> },
    Open { ws: Box<WebSocket<Wire>> },
    Draining { wire: Wire, shut: bool },
    Gone,
}

/// One client.
pub struct Connection {
    state: State,
    /// The client's address.
    pub peer: SocketAddr,
    /// When the current phase must be over (head, closing, draining).
    deadline: Option<Instant>,
    /// We sent a close frame and wait for the client's.
    closing: bool,
    /// Queued for flushing this iteration.
    pub dirty: bool,
    /// The queue went past its cap: the server closes the connection.
    pub overflowed: bool,
    /// WRITABLE interest is registered (only while output is pending).
    pub writable: bool,
    /// Reading is paused until the queue drains (back-pressure).
    pub read_paused: bool,
    /// The engine asked for this connection to be closed so.
    pub close_request: Option<(CloseCode, &'static str)>,
    /// When the client last sent anything (the idle timer).
    last_seen: Instant,
    /// A ping has been sent since then.
    pinged: bool,
}

impl Connection {
    /// A freshly accepted socket that has `handshake_timeout` to send its head.
    pub fn new(
        sock: TcpStream,
        peer: SocketAddr,
        now: Instant,
        handshake_timeout: Duration,
    ) -> Self {
        Connection {
            state: State::Head {
                wire: Wire::new(sock, Vec::new()),
                buf: Vec::new(),
            },
            peer,
            deadline: Some(now + handshake_timeout),
            closing: false,
            dirty: false,
            overflowed: false,
            writable: false,
            read_paused: false,
            close_request: None,
            last_seen: now,
            pinged: false,
        }
    }

    /// The socket, for (de)registration with the poller.
    pub fn socket(&mut self) -> Option<&mut TcpStream> {
        Some(&mut self.wire_mut()?.sock)
    }

    fn wire_mut(&mut self) -> Option<&mut Wire> {
        match &mut self.state {
            State::Head { wire, .. } | State::Draining { wire, .. } => Some(wire),
            State::Open { ws } => Some(ws.get_mut()),
            State::Gone => None,
        }
    }

    /// Whether the connection is an open WebSocket that still takes requests.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. }) && !self.closing
    }

    /// Whether it is still reading its request head.
    pub fn in_head(&self) -> bool {
        matches!(self.state, State::Head { .. })
    }

    /// Bytes waiting to be written.
    pub fn queued(&self) -> usize {
        match &self.state {
            State::Head { wire, .. } | State::Draining { wire, .. } => wire.out.len(),
            State::Open { ws } => ws.get_ref().out.len(),
            State::Gone => 0,
        }
    }

    /// Reads the request head until it is complete or the socket is dry.
    pub fn read_head(&mut self) -> HeadStatus {
        let State::Head { wire, buf } = &mut self.state else {
            return HeadStatus::Waiting;
        };
        let mut chunk = [0u8; 2048];
        loop {
            let want = chunk
                .len()
                .min(http::MAX_HEAD + 1 - buf.len().min(http::MAX_HEAD));
            match wire.sock.read(&mut chunk[..want]) {
                Ok(0) => return HeadStatus::Gone,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return HeadStatus::Waiting,
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

    /// Answers with a plain HTTP response and starts closing.
    pub fn respond(&mut self, response: &[u8], now: Instant, close_timeout: Duration) {
        if let Some(wire) = self.wire_mut() {
            wire.out.push_raw(response);
        }
        self.start_draining(now, close_timeout);
    }

    /// Completes the WebSocket handshake with `response` (the 101) and opens
    /// the connection; bytes that came after the head are kept for tungstenite.
    pub fn upgrade(&mut self, response: &[u8], head_len: usize, config: WebSocketConfig) {
        let State::Head { wire, buf } = std::mem::replace(&mut self.state, State::Gone) else {
            return;
        };
        let mut wire = Wire::new(wire.sock, buf[head_len..].to_vec());
        wire.out.push_raw(response);
        let ws = WebSocket::from_raw_socket(wire, Role::Server, Some(config));
        self.state = State::Open { ws: Box::new(ws) };
        self.deadline = None;
    }

    /// Reads messages into `batch` until the socket is dry, the connection
    /// ends or `budget` messages are waiting.
    pub fn read_messages(
        &mut self,
        shared: &mut InBuf,
        batch: &mut Batch,
        budget: usize,
        now: Instant,
    ) -> ReadStatus {
        let State::Open { ws } = &mut self.state else {
            return self.read_discard();
        };
        ws.get_mut().lend(shared);
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

    /// Starts the close handshake: sends a close frame and waits (up to
    /// `timeout`) for the client's. A connection that overflowed its queue
    /// first loses what it had not started receiving.
    pub fn close(
        &mut self,
        code: CloseCode,
        reason: &'static str,
        now: Instant,
        timeout: Duration,
    ) {
        let State::Open { ws } = &mut self.state else {
            return;
        };
        if self.closing {
            return;
        }
        if self.overflowed {
            ws.get_mut().out.discard_unsent();
        }
        let _ = ws.close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        self.closing = true;
        self.deadline = Some(now + timeout);
    }

    /// Ends the connection as `ending` says; returns `false` when it should be
    /// dropped right away.
    pub fn end(&mut self, ending: Ending, now: Instant, close_timeout: Duration) -> bool {
        match ending {
            Ending::Drop => return false,
            Ending::Finish => {
                if let State::Open { ws } = &mut self.state {
                    // Puts tungstenite's pending close reply into the queue.
                    let _ = ws.flush();
                }
            }
            Ending::Fail(code, reason) => {
                if let State::Open { ws } = &mut self.state {
                    let _ = ws.close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    }));
                }
            }
        }
        self.start_draining(now, close_timeout);
        true
    }

    fn start_draining(&mut self, now: Instant, close_timeout: Duration) {
        let wire = match std::mem::replace(&mut self.state, State::Gone) {
            State::Head { wire, .. } | State::Draining { wire, .. } => wire,
            State::Open { ws } => ws.into_inner(),
            State::Gone => return,
        };
        self.state = State::Draining { wire, shut: false };
        self.deadline = Some(now + close_timeout);
    }

    /// Writes queued bytes: `Ok(true)` when nothing is left. A draining
    /// connection whose queue is empty shuts its socket down for writing.
    pub fn flush(&mut self) -> io::Result<bool> {
        let (wire, shut) = match &mut self.state {
            State::Head { wire, .. } => (wire, None),
            State::Open { ws } => (ws.get_mut(), None),
            State::Draining { wire, shut } => (wire, Some(shut)),
            State::Gone => return Ok(true),
        };
        let done = wire.out.write_to(&mut wire.sock)?;
        if let Some(shut) = shut
            && done
            && !*shut
        {
            *shut = true;
            let _ = wire.sock.shutdown(Shutdown::Write);
        }
        Ok(done)
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

    /// Whether the current phase's deadline has passed.
    pub fn timed_out(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
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

/// tungstenite settings for a server connection with our limits.
pub fn ws_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(TUNGSTENITE_READ_BUFFER)
        // Frames go straight through to our own queue (see `net::wire`).
        .write_buffer_size(0)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}
