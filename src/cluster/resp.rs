//! One connection to Redis on a non-blocking socket in the server's poll:
//! commands are encoded into an outgoing buffer and written when the socket
//! takes them; replies are decoded (RESP2, by `redis-protocol`) as they
//! arrive, in order. Nothing here blocks or waits: a command's reply is
//! whatever frame comes next, and the caller keeps the list of what each
//! reply is for.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::encode::encode_borrowed;
use redis_protocol::resp2::types::{BorrowedFrame, OwnedFrame};

/// Largest reply accepted: a scan batch or a batch of stream entries of the
/// largest values, with room to spare. A larger one is a protocol error.
const MAX_REPLY: usize = 256 << 20;

/// A reply from Redis.
pub(crate) type Reply = OwnedFrame;

/// A connection to Redis.
pub(crate) struct Resp {
    sock: TcpStream,
    token: Token,
    out: Vec<u8>,
    written: usize,
    input: Vec<u8>,
    /// WRITABLE interest is registered.
    writable: bool,
    /// The input is decoded again once it is this long: an unfinished
    /// reply is not parsed from its start for every chunk that arrives
    /// (a batch of large values would cost quadratic time).
    decode_at: usize,
    /// The connection is established (a connecting socket is written to
    /// only once it is).
    established: bool,
}

impl Resp {
    /// Starts connecting to `addr` (completes in the background) and
    /// registers the socket under `token`.
    pub fn connect(addr: SocketAddr, registry: &Registry, token: Token) -> io::Result<Resp> {
        let mut sock = TcpStream::connect(addr)?;
        // Commands are small and answered at once: Nagle's algorithm would
        // hold the next one back until the last is acknowledged.
        sock.set_nodelay(true)?;
        registry.register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Resp {
            sock,
            token,
            out: Vec::new(),
            written: 0,
            input: Vec::new(),
            writable: true,
            established: false,
            decode_at: 0,
        })
    }

    /// Queues one command (its arguments as bulk strings).
    pub fn send(&mut self, args: &[&[u8]]) {
        let frames: Vec<BorrowedFrame<'_>> =
            args.iter().map(|a| BorrowedFrame::BulkString(a)).collect();
        let frame = BorrowedFrame::Array(&frames);
        let at = self.out.len();
        self.out.resize(at + frame.encode_len(false), 0);
        let n = encode_borrowed(&mut self.out[at..], &frame, false).expect("sized above");
        self.out.truncate(at + n);
    }

    /// Writes what is queued; asks for WRITABLE only while some is left.
    pub fn flush(&mut self, registry: &Registry) -> io::Result<()> {
        if !self.established {
            if !self.connected()? {
                return Ok(());
            }
            self.established = true;
        }
        while self.written < self.out.len() {
            match self.sock.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            if self.out.capacity() > 1 << 20 {
                self.out = Vec::new();
            }
        }
        let want = self.written < self.out.len();
        if want != self.writable {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut self.sock, self.token, interest)?;
            self.writable = want;
        }
        Ok(())
    }

    /// Reads what has arrived and decodes the complete replies into
    /// `replies`. An error (or the end of the stream) means the connection
    /// is lost.
    pub fn read(&mut self, replies: &mut Vec<Reply>) -> io::Result<()> {
        if !self.established {
            return Ok(());
        }
        let mut chunk = [0u8; 64 * 1024];
        // Edge-triggered: read until the socket is empty, decoding as the
        // input grows so that it holds at most one unfinished reply.
        loop {
            match self.sock.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
            if self.input.len() >= self.decode_at.max(1 << 20) {
                self.decode(replies)?;
            }
        }
        if self.input.len() >= self.decode_at {
            self.decode(replies)?;
        }
        Ok(())
    }

    fn decode(&mut self, replies: &mut Vec<Reply>) -> io::Result<()> {
        let mut at = 0;
        while let Some((frame, used)) = decode(&self.input[at..]).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unreadable reply from Redis: {e:?}"),
            )
        })? {
            replies.push(frame);
            at += used;
        }
        self.input.drain(..at);
        self.decode_at = self.input.len() * 2;
        if self.input.len() > MAX_REPLY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a reply from Redis over 256 MiB",
            ));
        }
        Ok(())
    }

    /// Whether the socket has finished connecting (`Err` if it failed).
    fn connected(&mut self) -> io::Result<bool> {
        if let Some(e) = self.sock.take_error()? {
            return Err(e);
        }
        match self.sock.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stops polling the socket (before dropping it).
    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.sock);
    }
}

/// The text of a bulk or simple string reply.
pub(crate) fn text(reply: &Reply) -> Option<&str> {
    match reply {
        OwnedFrame::BulkString(b) | OwnedFrame::SimpleString(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// The integer of a reply: an integer, or a string of digits.
pub(crate) fn int(reply: &Reply) -> Option<i64> {
    match reply {
        OwnedFrame::Integer(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}
