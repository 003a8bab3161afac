//! A load connection's socket: plain TCP, or TLS over it for `wss://`,
//! driven by the load's poll loop like the server's own (see `crate::tls`).
//!
//! Reads keep the rule `conn.rs` relies on: a read that does not fill the
//! room it was given found the socket dry.

use std::io::{self, Read, Write};

use mio::net::TcpStream;

/// A connection's socket.
pub enum Socket {
    /// `ws://` and `redis://`.
    Plain(TcpStream),
    /// `wss://`.
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::TlsStream>),
}

impl Socket {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Socket::Plain(s) => s,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.tcp(),
        }
    }

    /// The TCP socket underneath, for the poller.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Socket::Plain(s) => s,
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.tcp_mut(),
        }
    }

    /// Writes what the TLS layer holds (records, handshake messages);
    /// `Ok(false)` if the socket would not take all of it.
    pub fn flush_records(&mut self) -> io::Result<bool> {
        match self {
            Socket::Plain(_) => Ok(true),
            #[cfg(feature = "tls")]
            Socket::Tls(s) => s.flush_records(),
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

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
