//! The stream tungstenite reads and writes: a socket, its outgoing queue and
//! a borrowed read buffer.
//!
//! Writes never touch the socket: whatever tungstenite writes (pongs, close
//! frames) is appended to the connection's [`Outbox`], in order with our own
//! frames, and the server flushes every queue once per loop iteration.
//!
//! Reads go through one large buffer that the server lends to whichever
//! connection it is reading ([`InBuf`]). A connection at rest therefore holds
//! no read buffer of its own: tungstenite's internal buffer can be small
//! (see `net::connection`) while a burst of pipelined requests still arrives
//! in one `read` system call.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

use super::outbox::Outbox;

/// Size of the server's shared read buffer: enough for a few hundred
/// pipelined requests per system call.
pub const SHARED_READ_BUFFER: usize = 64 * 1024;

/// Bytes read from a socket and not yet handed to tungstenite.
#[derive(Default, Debug)]
pub struct InBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl InBuf {
    /// A buffer that can take `size` bytes per read.
    pub fn with_size(size: usize) -> Self {
        InBuf {
            buf: vec![0; size],
            start: 0,
            end: 0,
        }
    }

    /// A buffer holding exactly `bytes` (bytes that arrived early).
    pub fn holding(bytes: Vec<u8>) -> Self {
        let end = bytes.len();
        InBuf {
            buf: bytes,
            start: 0,
            end,
        }
    }

    /// Whether every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

/// A connection's socket, outgoing queue and unread input.
#[derive(Debug)]
pub struct Wire {
    /// The client's socket.
    pub sock: TcpStream,
    /// What waits to be written to it.
    pub out: Outbox,
    input: InBuf,
    lent: bool,
    /// The last socket read came back short, so the socket had nothing more
    /// at that moment. epoll(7) documents that a short read on a stream
    /// socket exhausts it: the next read would only return `WouldBlock`,
    /// and data arriving later raises a new edge. Skipping that read saves
    /// one system call in three on request/response traffic.
    drained: bool,
    trust_short_reads: bool,
}

impl Wire {
    /// Wraps a socket; `early` holds bytes already read past the HTTP head.
    pub fn new(sock: TcpStream, early: Vec<u8>) -> Self {
        Wire {
            sock,
            out: Outbox::new(),
            input: InBuf::holding(early),
            lent: false,
            drained: false,
            trust_short_reads: false,
        }
    }

    /// Lends the server's read buffer for one round of reads, unless bytes
    /// of our own are still waiting (those are read first).
    ///
    /// A round starts on a readiness event (or a resumed budget), which may
    /// mean new data: an earlier short read no longer says the socket is dry.
    /// `short_read_drains` is false when the socket may hold an end of stream
    /// or an error that raised no edge of its own (the event said so, or the
    /// round has no event behind it): then only `WouldBlock` ends the round.
    pub fn lend(&mut self, shared: &mut InBuf, short_read_drains: bool) {
        self.drained = false;
        self.trust_short_reads = short_read_drains;
        if self.input.is_empty() {
            std::mem::swap(&mut self.input, shared);
            self.lent = true;
        }
    }

    /// Gives the shared buffer back. Bytes left unread in it (the read was
    /// cut short) are copied into a buffer of our own.
    pub fn give_back(&mut self, shared: &mut InBuf) {
        if !self.lent {
            return;
        }
        self.lent = false;
        let leftover = if self.input.is_empty() {
            InBuf::default()
        } else {
            InBuf::holding(self.input.pending().to_vec())
        };
        *shared = std::mem::replace(&mut self.input, leftover);
        shared.start = 0;
        shared.end = 0;
    }

    /// Whether bytes already read from the socket wait to be parsed.
    pub fn has_buffered_input(&self) -> bool {
        !self.input.is_empty()
    }
}

impl Read for Wire {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            if std::mem::take(&mut self.drained) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if self.input.buf.len() < dst.len() {
                // No shared buffer lent: read straight into the caller's.
                let n = read_retrying(&mut self.sock, dst)?;
                self.drained = self.trust_short_reads && n > 0 && n < dst.len();
                return Ok(n);
            }
            let n = read_retrying(&mut self.sock, &mut self.input.buf)?;
            self.drained = self.trust_short_reads && n > 0 && n < self.input.buf.len();
            self.input.start = 0;
            self.input.end = n;
            if n == 0 {
                return Ok(0);
            }
        }
        let pending = self.input.pending();
        let n = pending.len().min(dst.len());
        dst[..n].copy_from_slice(&pending[..n]);
        self.input.start += n;
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.push_raw(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn read_retrying(sock: &mut TcpStream, dst: &mut [u8]) -> io::Result<usize> {
    loop {
        match sock.read(dst) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
