//! What a connection needs of its socket (see [`Stream`]): a plain TCP
//! socket, a TLS stream over one (`net::socket`), or an in-memory stream in
//! tests.

use std::io::{self, Read, Write};

/// What a connection needs of its stream: bytes both ways, and a way to end
/// the writing side (a socket's `shutdown`) while still reading.
///
/// The other methods are for a stream with a layer of its own between the
/// socket and the connection (TLS): a plain socket keeps their defaults.
pub(crate) trait Stream: Read + Write {
    /// Says the last byte has been written.
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// Starts a turn of reads: a stream with a budget of its own renews it.
    fn new_turn(&mut self) {}

    /// Whether the last read stopped on the stream's own budget rather than
    /// finding the socket dry: more may be waiting, and no readiness event
    /// will say so.
    fn stopped_early(&self) -> bool {
        false
    }

    /// Whether the stream may hold input it has read from the socket and
    /// not yet handed over.
    fn holds_input(&self) -> bool {
        false
    }

    /// Bytes the stream itself holds for the socket (encrypted records).
    fn pending_output(&self) -> usize {
        0
    }

    /// Writes those: `Ok(true)` when none are left.
    fn flush_pending(&mut self) -> io::Result<bool> {
        Ok(true)
    }

    /// Whether an HTTP response can be sent over it yet (not while a TLS
    /// handshake is in progress).
    fn can_answer(&self) -> bool {
        true
    }

    /// Whether the peer spoke plain HTTP where TLS was expected.
    fn spoke_plaintext(&self) -> bool {
        false
    }
}
