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
            if self.input.len() >= 1 << 20 {
                self.decode(replies)?;
            }
        }
        self.decode(replies)
    }

    /// Decodes the complete replies in the input. Whether one is complete
    /// is found first by walking its headers only (a bulk string is
    /// skipped by its length): an unfinished reply of many large values is
    /// not parsed again from its start for every chunk that arrives.
    fn decode(&mut self, replies: &mut Vec<Reply>) -> io::Result<()> {
        let mut at = 0;
        while complete_len(&self.input[at..]).is_some() {
            let Some((frame, used)) = decode(&self.input[at..]).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unreadable reply from Redis: {e:?}"),
                )
            })?
            else {
                break;
            };
            replies.push(frame);
            at += used;
        }
        self.input.drain(..at);
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

/// The length of the RESP2 frame at the start of `buf` if it is complete,
/// walking only its headers (`None`: incomplete; a malformed header counts
/// as complete, so that the decoder reports it).
fn complete_len(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    // Frames still expected at each open array level.
    let mut pending: u64 = 1;
    while pending > 0 {
        let line_end = at + buf.get(at..)?.iter().position(|&b| b == b'\n')?;
        let kind = buf[at];
        let number = || -> Option<i64> {
            std::str::from_utf8(buf.get(at + 1..line_end)?.strip_suffix(b"\r")?)
                .ok()?
                .parse()
                .ok()
        };
        pending -= 1;
        match kind {
            b'+' | b'-' | b':' => at = line_end + 1,
            b'$' => {
                let Some(len) = number() else {
                    return Some(at);
                };
                at = line_end + 1;
                if len >= 0 {
                    at += len as usize + 2;
                    if at > buf.len() {
                        return None;
                    }
                }
            }
            b'*' => {
                let Some(len) = number() else {
                    return Some(at);
                };
                at = line_end + 1;
                pending += len.max(0) as u64;
            }
            _ => return Some(at),
        }
    }
    Some(at)
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

#[cfg(test)]
mod tests {
    use super::complete_len;

    #[test]
    fn a_reply_is_complete_only_when_all_of_it_is_there() {
        let reply = b"*2\r\n$5\r\nhello\r\n*3\r\n:1\r\n+OK\r\n$-1\r\n";
        assert_eq!(complete_len(reply), Some(reply.len()));
        for cut in 0..reply.len() {
            assert_eq!(complete_len(&reply[..cut]), None, "cut at {cut}");
        }
        assert_eq!(complete_len(b"*-1\r\n"), Some(5));
        assert_eq!(complete_len(b"-ERR x\r\n+OK\r\n"), Some(8));
        // A malformed header is left to the decoder to report.
        assert_eq!(complete_len(b"?\r\n"), Some(0));
    }
}
