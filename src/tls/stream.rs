//! TLS over a non-blocking socket that a poll loop drives: plaintext in and
//! out through `Read` and `Write`, as if it were the socket itself.
//!
//! **Reading** takes the plaintext rustls has decrypted; when there is none
//! it reads the socket once into rustls (`read_tls`), lets it process the
//! records (`process_new_packets`) and sends at once whatever that produced
//! (handshake messages, alerts), then looks again. It stops when the
//! caller's buffer is full, when the socket has nothing more (a short read
//! or `WouldBlock`: the same rule as a plain socket, so that a short read
//! still means "dry" to the caller), or when the turn's ciphertext
//! allowance is spent. The allowance exists because ciphertext and
//! plaintext need not be alike in size: a peer can pad each record to
//! 16 KiB around one byte of content, and bounding only the plaintext
//! would let it keep the loop decrypting for as long as it likes.
//!
//! **Writing** first sends what rustls already holds, then hands rustls as
//! much plaintext as its send buffer takes ([`SEND_BUFFER`]: one full
//! record), and sends again. It says `WouldBlock` only when rustls's
//! buffer is full and the socket takes nothing, so a caller's queue keeps
//! the rest and waits for the socket, as with a plain socket. Reads never
//! wait for writes (a blocked write must not keep a connection from being
//! read: rustls issue 2556).
//!
//! **Not TLS.** A server's stream looks at the first byte before anything
//! else: a TLS connection starts with a handshake record (0x16). Anything
//! else (typically `GET / HTTP/1.1` sent to an https port) makes the first
//! read fail with [`TlsStream::spoke_plaintext`] true; from then on bytes
//! pass as they are, so that the server can answer with a plain HTTP error
//! that says what went wrong instead of an alert no HTTP client shows.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::{Connection, ServerConfig, ServerConnection};

/// Most bytes rustls holds for the socket (encrypted records, and plaintext
/// written before the handshake ends): one record of the largest size.
/// What does not fit stays in the caller's queue, where it is counted.
pub(crate) const SEND_BUFFER: usize = 16 * 1024;

/// Most ciphertext a peer may send before the handshake is done. rustls
/// keeps a handshake message until it is whole, up to 64 KiB, and a peer
/// could send all but its last byte and wait, on every connection. A
/// client's part of a handshake is a ClientHello (under 2 KiB even with a
/// post-quantum key share) and a few hundred bytes more (no client
/// certificates are asked for), so 16 KiB leaves room to spare and holds
/// what an unfinished handshake pins to 16 KiB and one read.
pub(crate) const HANDSHAKE_INPUT_MAX: usize = 16 * 1024;

/// The content type of a TLS handshake record, a ClientHello's first byte.
const HANDSHAKE_RECORD: u8 = 0x16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A server's stream before its first byte.
    Detect,
    Tls,
    /// The client spoke something else: bytes pass as they are.
    Plain,
}

/// A TLS connection over a non-blocking socket (see the module docs).
pub(crate) struct TlsStream {
    tcp: TcpStream,
    conn: Connection,
    mode: Mode,
    /// Ciphertext this turn may still read.
    allowance: usize,
    /// The last read stopped on the allowance, not on a dry socket.
    stopped_early: bool,
    /// Bytes of records rustls held for the socket when it last blocked.
    pending: usize,
    /// The last read filled the caller's buffer: more may wait in rustls
    /// or in the socket.
    filled: bool,
    /// Ciphertext read while the handshake was in progress.
    handshake_read: usize,
}

impl TlsStream {
    /// A server's side of an accepted socket.
    pub fn server(tcp: TcpStream, config: Arc<ServerConfig>) -> Result<TlsStream, rustls::Error> {
        let conn = ServerConnection::new(config)?;
        Ok(TlsStream::new(tcp, conn.into(), Mode::Detect))
    }

    /// A client's side of a socket connecting to `name` (the load
    /// generator's).
    #[cfg(feature = "cli")]
    pub fn client(
        tcp: TcpStream,
        config: Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> Result<TlsStream, rustls::Error> {
        let conn = rustls::ClientConnection::new(config, name)?;
        Ok(TlsStream::new(tcp, conn.into(), Mode::Tls))
    }

    fn new(tcp: TcpStream, mut conn: Connection, mode: Mode) -> TlsStream {
        conn.set_buffer_limit(Some(SEND_BUFFER));
        TlsStream {
            tcp,
            conn,
            mode,
            allowance: usize::MAX,
            stopped_early: false,
            pending: 0,
            filled: false,
            handshake_read: 0,
        }
    }

    /// The socket underneath.
    #[cfg(feature = "cli")]
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The socket underneath, for the poller.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// Starts a turn that may read up to `allowance` bytes of ciphertext.
    pub fn new_turn(&mut self, allowance: usize) {
        self.allowance = allowance;
    }

    /// Whether decrypted bytes (or unread ones in the socket) may be left
    /// after the last read.
    pub fn holds_input(&self) -> bool {
        self.filled
    }

    /// Whether the last read stopped on the turn's allowance rather than on
    /// a dry socket (more may be waiting, and no edge will say so).
    pub fn stopped_early(&self) -> bool {
        self.stopped_early
    }

    /// Bytes of TLS records waiting for the socket.
    pub fn pending_output(&self) -> usize {
        if self.conn.wants_write() {
            self.pending
        } else {
            0
        }
    }

    /// Whether the handshake is still going on (nothing can be answered
    /// over it yet).
    pub fn handshaking(&self) -> bool {
        match self.mode {
            Mode::Detect => true,
            Mode::Tls => self.conn.is_handshaking(),
            Mode::Plain => false,
        }
    }

    /// Whether the peer sent something other than TLS (see the module docs).
    pub fn spoke_plaintext(&self) -> bool {
        self.mode == Mode::Plain
    }

    /// Writes the records rustls holds: `Ok(true)` when none are left.
    pub fn flush_records(&mut self) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Only rustls knows how much it holds, and it says so
                    // through the state `process_new_packets` returns. Every
                    // record read has been processed already, so this call
                    // decrypts nothing new.
                    self.pending = self
                        .conn
                        .process_new_packets()
                        .map_or(SEND_BUFFER, |s| s.tls_bytes_to_write());
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        self.pending = 0;
        Ok(true)
    }

    /// Ends the writing side: a `close_notify` after what is queued, then
    /// the socket's own shutdown.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if self.mode == Mode::Tls && !self.conn.is_handshaking() {
            self.conn.send_close_notify();
            let _ = self.flush_records();
        }
        self.tcp.shutdown(Shutdown::Write)
    }

    /// Looks at the first byte: TLS or not.
    fn detect(&mut self) -> io::Result<bool> {
        let mut first = [0u8; 1];
        if self.tcp.peek(&mut first)? == 0 {
            return Ok(false);
        }
        if first[0] == HANDSHAKE_RECORD {
            self.mode = Mode::Tls;
            return Ok(true);
        }
        self.mode = Mode::Plain;
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the client does not speak TLS",
        ))
    }
}

impl Read for TlsStream {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        self.stopped_early = false;
        self.filled = false;
        if dst.is_empty() {
            return Ok(0);
        }
        let mode = self.mode;
        match mode {
            Mode::Plain => return self.tcp.read(dst),
            Mode::Detect if !self.detect()? => return Ok(0),
            Mode::Detect | Mode::Tls => {}
        }
        let mut got = 0;
        let mut dry = false;
        loop {
            match self.conn.reader().read(&mut dst[got..]) {
                // The peer's close_notify: the end, after what we have.
                Ok(0) => return Ok(got),
                Ok(n) => {
                    got += n;
                    if got == dst.len() {
                        self.filled = true;
                        return Ok(got);
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without a close_notify. WebSocket and
                // HTTP responses have ends of their own, so a cut cannot
                // pass for a complete message: an end like any other.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(got),
                Err(e) => return Err(e),
            }
            if dry {
                return some_or_would_block(got);
            }
            if self.allowance == 0 {
                self.stopped_early = true;
                return some_or_would_block(got);
            }
            let mut src = Metered {
                tcp: &mut self.tcp,
                left: self.allowance,
                dry: false,
            };
            match self.conn.read_tls(&mut src) {
                Ok(n) => {
                    self.allowance -= n;
                    if self.conn.is_handshaking() {
                        self.handshake_read += n;
                        if self.handshake_read > HANDSHAKE_INPUT_MAX {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "over 16 KiB sent before the TLS handshake was done",
                            ));
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => dry = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            dry |= src.dry;
            if let Err(e) = self.conn.process_new_packets() {
                // Its alert, if it has one, goes out before the socket closes.
                let _ = self.flush_records();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if self.conn.wants_write() {
                // Handshake messages and other answers go out now: the peer
                // waits for them, and no queue of ours holds them.
                self.flush_records()?;
            }
        }
    }
}

fn some_or_would_block(got: usize) -> io::Result<usize> {
    if got > 0 {
        Ok(got)
    } else {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.mode == Mode::Plain {
            return self.tcp.write_vectored(bufs);
        }
        // What rustls holds goes first, and makes room.
        self.flush_records()?;
        let n = self.conn.writer().write_vectored(bufs)?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.flush_records()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The socket as rustls reads it: at most `left` bytes, and a note when a
/// read came back short (the socket is dry: epoll(7)).
struct Metered<'a> {
    tcp: &'a mut TcpStream,
    left: usize,
    dry: bool,
}

impl Read for Metered<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.left);
        let n = self.tcp.read(&mut buf[..want])?;
        self.dry = n < want;
        Ok(n)
    }
}
