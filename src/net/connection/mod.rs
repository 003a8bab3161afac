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

use mio::net::TcpStream;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocket, WebSocketConfig};

use super::http::{self, HeadError, Status};

mod batch;
mod open;

use super::wire::Wire;
pub use batch::{Batch, Inbound};

/// tungstenite's own read buffer per connection. Its default (128 KiB) would
/// cost 1.3 GB at 10,000 connections. Ours is fed from the server's shared
/// buffer (see `net::wire`), so it only needs to hold a frame header and a
/// small message; larger frames grow it on demand.
const TUNGSTENITE_READ_BUFFER: usize = 512;

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

    /// Whether the current phase's deadline has passed.
    pub fn timed_out(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
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
