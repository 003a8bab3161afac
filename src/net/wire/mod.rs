//! The stream tungstenite reads and writes: a socket, its outgoing queue and
//! a borrowed read buffer, with the per-round read budget.
//!
//! Writes never touch the socket: whatever tungstenite writes (pongs, close
//! frames) is appended to the connection's [`Outbox`], in order with our own
//! frames, and the server flushes every queue once per loop iteration.
//! Pongs are refused (`WouldBlock`) while the queue is full, so a client
//! that pings without reading gets no more than one pong waiting inside
//! tungstenite (which replaces a waiting pong with the newest one).
//!
//! Reads go through one large buffer that the server lends to whichever
//! connection it is reading ([`InBuf`]). A connection at rest therefore holds
//! no read buffer of its own: tungstenite's internal buffer can be small
//! (see `net::connection`) while a burst of pipelined requests still arrives
//! in one `read` system call. A round hands tungstenite at most its byte
//! budget, then `WouldBlock`, so one client's stream of bytes (data, pings,
//! pongs alike) never holds the loop.
//!
//! The wire also follows the frame boundaries in what it hands over. Once a
//! large frame starts, it hands over no more than the current frame per
//! read, so that when the message is complete tungstenite holds nothing
//! unread and the connection can give tungstenite a fresh, small buffer
//! instead of keeping the large one for the rest of its life.

use super::outbox::Outbox;
pub(crate) use super::stream::Stream;

// The struct and its small accessors live here; each side of it has a file:
// how far a read may go (`read`, with `frames` for the frame boundaries and
// `inbuf` for the lent buffer) and where tungstenite's writes go (`write`).
mod frames;
mod inbuf;
mod read;
mod write;

use frames::Frames;
pub use inbuf::{InBuf, SHARED_READ_BUFFER};

/// A frame at least this large makes the wire stop at frame boundaries (see
/// the module documentation): tungstenite's buffer grows to the frame's
/// size, and the connection releases it afterwards.
pub const LARGE_FRAME: u64 = SHARED_READ_BUFFER as u64;

/// A connection's socket, outgoing queue and unread input.
#[derive(Debug)]
pub struct Wire<S> {
    /// The client's socket (or any stream, in tests).
    pub sock: S,
    /// What waits to be written to it.
    pub out: Outbox,
    input: InBuf,
    /// The last socket read came back short, so the socket had nothing more
    /// at that moment. epoll(7) documents that a short read on a stream
    /// socket exhausts it: the next read would only return `WouldBlock`,
    /// and data arriving later raises a new edge. Skipping that read saves
    /// one system call in three on request/response traffic.
    drained: bool,
    trust_short_reads: bool,
    /// Bytes tungstenite may still be handed this round.
    budget: usize,
    budget_spent: bool,
    frames: Frames,
    /// Writes from tungstenite (pongs) are refused past this many queued
    /// bytes, unless `closing` (a close frame must go out).
    control_cap: usize,
    closing: bool,
    /// Bytes read from the socket since [`Wire::take_received`].
    received: u64,
}

impl<S: Stream> Wire<S> {
    /// Wraps a socket; `early` holds bytes already read past the HTTP head.
    pub fn new(sock: S, early: Vec<u8>) -> Self {
        Wire {
            sock,
            out: Outbox::new(),
            input: InBuf::holding(early),
            drained: false,
            trust_short_reads: false,
            budget: 0,
            budget_spent: false,
            frames: Frames::default(),
            control_cap: usize::MAX,
            closing: false,
            received: 0,
        }
    }

    /// Bytes read from the socket since the last call.
    pub fn take_received(&mut self) -> u64 {
        std::mem::take(&mut self.received)
    }

    /// Whether bytes already read from the socket wait to be parsed.
    pub fn has_buffered_input(&self) -> bool {
        !self.input.is_empty() || self.sock.holds_input()
    }

    /// Data bytes handed to tungstenite since [`Wire::message_done`]: about
    /// the size of the message it is assembling (pings and pongs, which it
    /// does not keep, are not counted).
    pub fn partial_input(&self) -> usize {
        self.frames.data_bytes
    }

    /// Notes that tungstenite completed a message. Returns true when a
    /// large frame came through and tungstenite holds no unread byte: the
    /// time to give it a fresh buffer.
    pub fn message_done(&mut self) -> bool {
        self.frames.data_bytes = 0;
        if self.frames.large && self.frames.at_boundary() {
            self.frames.large = false;
            return true;
        }
        false
    }
}
