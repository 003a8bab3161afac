//! A socket as a poll loop sees it: plain TCP, or TLS over it (see
//! `crate::tls`). One type for both keeps one slab of connections and one
//! code path; the TLS one is boxed, so a plain connection pays one pointer
//! for the choice. The server's accepted sockets and the load generator's
//! connections (client-side TLS) are both this type.
//!
//! Reads keep the rule both loops rely on: a read that does not fill the
//! room it was given found the socket dry (or, for TLS, stopped on its
//! turn's allowance: see [`Stream::stopped_early`]).

use std::io::{self, IoSlice, Read, Write};

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::stream::Stream;

/// Ciphertext a TLS connection may read per turn: twice the plaintext a
/// round hands over (`wire::SHARED_READ_BUFFER`), which covers the records'
/// own overhead even for small messages in records of their own.
#[cfg(feature = "tls")]
const TURN_CIPHERTEXT: usize = 2 * super::wire::SHARED_READ_BUFFER;

/// An accepted socket.
pub(crate) enum Socket {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsStream>),
}

impl Socket {
    /// The TCP socket underneath (its address, its error, `TCP_NODELAY`):
    /// the load generator's business.
    #[cfg(feature = "cli")]
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Socket::Plain(s) => s,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.tcp(),
        }
    }

    /// The TCP socket underneath, for the poller and for shutting it down.
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Socket::Plain(s) => s,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.tcp_mut(),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Socket::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Socket {
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Socket::Plain(s) => s.shutdown(std::net::Shutdown::Write),
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.shutdown_write(),
        }
    }

    fn new_turn(&mut self) {
        #[cfg(feature = "tls")]
        if let Socket::Tls(s) = self {
            s.new_turn(TURN_CIPHERTEXT);
        }
    }

    fn stopped_early(&self) -> bool {
        match self {
            Socket::Plain(_) => false,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.stopped_early(),
        }
    }

    fn holds_input(&self) -> bool {
        match self {
            Socket::Plain(_) => false,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.holds_input(),
        }
    }

    fn pending_output(&self) -> usize {
        match self {
            Socket::Plain(_) => 0,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.pending_output(),
        }
    }

    fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            Socket::Plain(_) => Ok(true),
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.flush_records(),
        }
    }

    fn can_answer(&self) -> bool {
        match self {
            Socket::Plain(_) => true,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => !s.handshaking(),
        }
    }

    fn spoke_plaintext(&self) -> bool {
        match self {
            Socket::Plain(_) => false,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.spoke_plaintext(),
        }
    }
}

impl Source for Socket {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.tcp_mut().register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.tcp_mut().reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tcp_mut().deregister(registry)
    }
}
