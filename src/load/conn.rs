//! One client connection: its socket, its buffers, and what it waits for.
//!
//! The read buffer is a flat byte array with a start and an end: bytes are
//! read in at the end, messages are looked at in place and consumed from the
//! start, and the rest is moved to the front only when the free space runs
//! low. It grows only when a single message does not fit. The write buffer
//! is appended to and drained by `write`; both keep their memory, so a
//! connection that has reached its working size allocates nothing more.
//!
//! Sockets are registered for both readiness kinds once (mio is
//! edge-triggered), so the loop drains the socket on every event (see
//! [`Io::fill`]) and never re-registers.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use super::requests::{Op, Proto};
use super::resp;
use super::verify::Msg;
use super::ws::{self, CLOSE, PING, PONG};
use crate::net::socket::Socket;
use crate::net::stream::Stream;

/// Where a connection is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The TCP connect has not completed.
    Connecting,
    /// The WebSocket upgrade request was sent with this key.
    Handshaking(String),
    /// Requests may be sent.
    Open,
    /// Lost; no longer polled.
    Closed,
}

/// What a connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends requests and checks replies (reqresp, pipeline).
    Client,
    /// The fan-out publisher.
    Publisher,
    /// A fan-out subscriber: checks every value arrives, in order.
    Subscriber,
    /// A conns-mode connection: subscribes, then waits.
    Holder,
}

/// The socket and its buffers.
pub struct Io {
    /// The socket.
    pub stream: Socket,
    /// What this connection speaks.
    proto: Proto,
    /// Where it is in the handshake.
    pub phase: Phase,
    rbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes to send; appended to, drained by [`Io::flush`].
    pub wbuf: Vec<u8>,
    wpos: usize,
    /// A fragmented message being reassembled (kvws does not fragment;
    /// this is for other servers, and allocates only if used).
    frag: Vec<u8>,
    in_frag: bool,
    frag_done: bool,
}

/// A connection: the I/O half and the bookkeeping half, separate so that a
/// message borrowed from the read buffer can be handled against the rest.
pub struct Conn {
    /// Socket and buffers.
    pub io: Io,
    /// Requests in flight and the role's state.
    pub flow: Flow,
}

/// What a connection waits for.
pub struct Flow {
    /// What the connection is for.
    pub role: Role,
    /// Requests sent and not yet answered, oldest first, each with the time
    /// it was sent (nanoseconds since the load's epoch).
    pub pending: VecDeque<(Op, u64)>,
    /// Requests to send once the connection is open (set-up).
    pub initial: Vec<Op>,
    /// A subscriber's next expected sequence number.
    pub next_seq: u64,
    /// Whether the connection has finished its set-up.
    pub ready: bool,
}

impl Conn {
    /// A connection whose TCP connect has been started.
    pub fn new(
        stream: Socket,
        proto: Proto,
        role: Role,
        initial: Vec<Op>,
        window: usize,
        read_size: usize,
    ) -> Conn {
        Conn {
            io: Io {
                stream,
                proto,
                phase: Phase::Connecting,
                rbuf: vec![0; read_size],
                start: 0,
                end: 0,
                wbuf: Vec::with_capacity(match role {
                    Role::Client | Role::Publisher => 16 << 10,
                    Role::Subscriber | Role::Holder => 256,
                }),
                wpos: 0,
                frag: Vec::new(),
                in_frag: false,
                frag_done: false,
            },
            flow: Flow {
                role,
                pending: VecDeque::with_capacity(window),
                initial,
                next_seq: 1,
                ready: false,
            },
        }
    }
}

impl Io {
    /// Whether the TCP connect has completed (`Err` if it failed).
    pub fn connected(&mut self) -> io::Result<bool> {
        if let Some(e) = self.stream.tcp().take_error()? {
            return Err(e);
        }
        match self.stream.tcp().peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads once into the free end of the read buffer: the bytes read and
    /// whether the socket may hold more (the read filled all the room it
    /// had); `Ok((0, _))` at the end of the stream, `Err(WouldBlock)` when
    /// nothing was there.
    ///
    /// A read that does not fill the room means the socket's receive queue
    /// is empty, and on Linux new data raises a new edge, so the caller
    /// need not read again to get `WouldBlock` (Tokio relies on the same):
    /// that saves a system call per event.
    pub fn fill(&mut self) -> io::Result<(usize, bool)> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        let len = self.rbuf.len();
        if len - self.end < len / 4 {
            if self.start > 0 {
                self.rbuf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            }
            if len - self.end < len / 4 {
                self.rbuf.resize(len * 2, 0);
            }
        }
        let room = self.rbuf.len() - self.end;
        let n = self.stream.read(&mut self.rbuf[self.end..])?;
        self.end += n;
        Ok((n, n == room))
    }

    /// Consumes the server's handshake answer once it is complete.
    pub fn finish_handshake(&mut self) -> Result<bool, String> {
        let Phase::Handshaking(key) = &self.phase else {
            return Ok(true);
        };
        match ws::handshake_response(&self.rbuf[self.start..self.end], key)? {
            None => Ok(false),
            Some(n) => {
                self.start += n;
                self.phase = Phase::Open;
                Ok(true)
            }
        }
    }

    /// The next complete message in the read buffer, consuming it. Pings
    /// are answered (into the write buffer) and skipped, as are pongs; a
    /// close frame or a malformed frame is an `Err`.
    pub fn next_message(&mut self) -> Result<Option<Msg<'_>>, String> {
        if self.frag_done {
            self.frag.clear();
            self.frag_done = false;
        }
        if self.proto == Proto::Resp {
            return Ok(match resp::parse(&self.rbuf[self.start..self.end])? {
                None => None,
                Some((reply, used)) => {
                    self.start += used;
                    Some(Msg::Resp(reply))
                }
            });
        }
        loop {
            let Some(frame) = ws::decode_frame(&self.rbuf[self.start..self.end])? else {
                return Ok(None);
            };
            let payload = self.start + frame.payload.start..self.start + frame.payload.end;
            self.start = payload.end;
            match frame.opcode {
                PING => {
                    let body = self.rbuf[payload].to_vec();
                    ws::encode_frame(&mut self.wbuf, PONG, &body);
                }
                PONG => {}
                CLOSE => {
                    return Err(format!(
                        "server sent a {}",
                        ws::describe_close(&self.rbuf[payload])
                    ));
                }
                0x1 | 0x2 if !self.in_frag => {
                    if frame.fin {
                        return Ok(Some(Msg::Text(&self.rbuf[payload])));
                    }
                    self.frag.extend_from_slice(&self.rbuf[payload]);
                    self.in_frag = true;
                }
                0x0 if self.in_frag => {
                    self.frag.extend_from_slice(&self.rbuf[payload]);
                    if frame.fin {
                        (self.in_frag, self.frag_done) = (false, true);
                        return Ok(Some(Msg::Text(&self.frag)));
                    }
                }
                op => return Err(format!("unexpected frame (opcode {op}) from the server")),
            }
        }
    }

    /// Writes as much of the write buffer as the socket takes (with TLS,
    /// what the TLS layer holds too).
    pub fn flush(&mut self) -> io::Result<()> {
        self.stream.flush_pending()?;
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    /// Sends a close frame (1000) if the WebSocket is open, without waiting.
    pub fn say_goodbye(&mut self) {
        if self.proto == Proto::Ws && self.phase == Phase::Open {
            ws::encode_frame(&mut self.wbuf, CLOSE, &1000u16.to_be_bytes());
            let _ = self.flush();
        }
    }
}
