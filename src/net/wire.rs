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

use std::io::{self, Read, Write};

use super::outbox::Outbox;
pub(crate) use super::stream::Stream;

/// Size of the server's shared read buffer: enough for a few hundred
/// pipelined requests per system call.
pub const SHARED_READ_BUFFER: usize = 64 * 1024;

/// A frame at least this large makes the wire stop at frame boundaries (see
/// the module documentation): tungstenite's buffer grows to the frame's
/// size, and the connection releases it afterwards.
pub const LARGE_FRAME: u64 = SHARED_READ_BUFFER as u64;

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

/// Where the bytes handed to tungstenite stand relative to frame boundaries.
#[derive(Default, Debug)]
struct Frames {
    header: [u8; 14],
    /// Bytes of the current frame's header seen (0: at a frame boundary).
    header_len: usize,
    /// Payload bytes of the current frame not yet handed over.
    payload_left: u64,
    /// A large frame was seen since tungstenite's buffer was last renewed.
    large: bool,
    /// The current frame carries data (not a ping, pong or close).
    data: bool,
    /// Payload bytes of data frames handed over since the connection last
    /// completed a message: about the size of the one being assembled.
    data_bytes: usize,
}

impl Frames {
    /// The header length once its first two bytes are known.
    fn header_size(&self) -> usize {
        let len_code = self.header[1] & 0x7f;
        let extended = match len_code {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
        2 + extended + mask
    }

    fn payload_len(&self) -> u64 {
        match self.header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => u64::from_be_bytes(self.header[2..10].try_into().expect("8 bytes")),
            n => u64::from(n),
        }
    }

    /// How many of `bytes` may be handed over now (all of them, unless a
    /// large frame makes the wire stop at the end of the current frame),
    /// and follows the boundaries through them.
    fn take(&mut self, bytes: &[u8]) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            // The usual case, a whole header in hand: read it in place.
            if self.payload_left == 0
                && self.header_len == 0
                && let Some((size, len)) = whole_header(&bytes[at..])
            {
                self.data = bytes[at] & 0x08 == 0;
                at += size;
                self.payload_left = len;
                if len >= LARGE_FRAME {
                    self.large = true;
                }
                if self.large && len == 0 {
                    return at;
                }
                continue;
            }
            if self.payload_left > 0 {
                let n = (bytes.len() - at).min(self.payload_left.min(usize::MAX as u64) as usize);
                at += n;
                self.payload_left -= n as u64;
                if self.data {
                    self.data_bytes = self.data_bytes.saturating_add(n);
                }
                if self.payload_left == 0 && self.large {
                    return at;
                }
                continue;
            }
            // In a header.
            let need = if self.header_len < 2 {
                2
            } else {
                self.header_size()
            };
            let n = (need - self.header_len).min(bytes.len() - at);
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[at..at + n]);
            self.header_len += n;
            at += n;
            if self.header_len < 2 || self.header_len < self.header_size() {
                if self.large {
                    return at;
                }
                continue;
            }
            // The header is complete.
            self.data = self.header[0] & 0x08 == 0;
            let len = self.payload_len();
            self.header_len = 0;
            self.payload_left = len;
            if len >= LARGE_FRAME {
                self.large = true;
            }
            if self.large && len == 0 {
                return at;
            }
        }
        at
    }

    fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.payload_left == 0
    }
}

/// The size and payload length of the frame header at the start of `b`,
/// if all of it is there.
fn whole_header(b: &[u8]) -> Option<(usize, u64)> {
    let code = b.get(1)? & 0x7f;
    let masked = b[1] & 0x80 != 0;
    let (ext, len) = match code {
        126 => (
            2,
            u64::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?)),
        ),
        127 => (8, u64::from_be_bytes(b.get(2..10)?.try_into().ok()?)),
        n => (0, u64::from(n)),
    };
    let size = 2 + ext + if masked { 4 } else { 0 };
    (b.len() >= size).then_some((size, len))
}

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

    /// Sets the queue size past which tungstenite's own writes (pongs) wait.
    pub fn set_control_cap(&mut self, cap: usize) {
        self.control_cap = cap;
    }

    /// Lets tungstenite's writes through whatever is queued: a close frame
    /// is about to be written and must not wait.
    pub fn set_closing(&mut self) {
        self.closing = true;
    }

    /// Starts a round of reads that may hand tungstenite `budget` bytes,
    /// through the server's read buffer (`shared`). Bytes of our own left
    /// from an earlier round are moved into it first.
    ///
    /// A round starts on a readiness event (or a resumed budget), which may
    /// mean new data: an earlier short read no longer says the socket is dry.
    /// `short_read_drains` is false when the socket may hold an end of stream
    /// or an error that raised no edge of its own (the event said so, or the
    /// round has no event behind it): then only `WouldBlock` ends the round.
    pub fn begin_round(&mut self, shared: &mut InBuf, short_read_drains: bool, budget: usize) {
        self.drained = false;
        self.trust_short_reads = short_read_drains;
        self.budget = budget;
        self.budget_spent = false;
        self.sock.new_turn();
        let own = std::mem::take(&mut self.input);
        self.input = std::mem::take(shared);
        if self.input.buf.len() < SHARED_READ_BUFFER {
            // Lent elsewhere (a round inside a round): a buffer of our own.
            self.input = InBuf::with_size(SHARED_READ_BUFFER);
        }
        let left = own.pending();
        self.input.buf[..left.len()].copy_from_slice(left);
        self.input.start = 0;
        self.input.end = left.len();
    }

    /// Ends the round: gives the shared buffer back (bytes left unread in
    /// it are copied into a buffer of our own) and says whether the round
    /// stopped because its budget was spent (more may be waiting).
    pub fn end_round(&mut self, shared: &mut InBuf) -> bool {
        self.budget = 0;
        let leftover = if self.input.is_empty() {
            InBuf::default()
        } else {
            InBuf::holding(self.input.pending().to_vec())
        };
        *shared = std::mem::replace(&mut self.input, leftover);
        shared.start = 0;
        shared.end = 0;
        std::mem::take(&mut self.budget_spent)
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

    fn hand_over(&mut self, dst: &mut [u8]) -> usize {
        let pending = self.input.pending();
        let n = pending.len().min(dst.len()).min(self.budget);
        let n = self.frames.take(&pending[..n]);
        dst[..n].copy_from_slice(&pending[..n]);
        self.input.start += n;
        self.budget -= n;
        n
    }
}

impl<S: Stream> Read for Wire<S> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if self.budget == 0 {
            // Outside a round the budget is zero too: nothing is read then.
            self.budget_spent = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if self.input.is_empty() {
            if std::mem::take(&mut self.drained) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let read = read_retrying(&mut self.sock, &mut self.input.buf);
            if self.sock.stopped_early() {
                // Its own budget ran out, not the socket: read again later
                // in the step, as when ours runs out.
                self.budget_spent = true;
                self.drained = true;
            }
            let n = read?;
            self.received += n as u64;
            if !self.sock.stopped_early() {
                self.drained = self.trust_short_reads && n > 0 && n < self.input.buf.len();
            }
            self.input.start = 0;
            self.input.end = n;
            if n == 0 {
                return Ok(0);
            }
        }
        Ok(self.hand_over(dst))
    }
}

impl<S: Stream> Write for Wire<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.closing && self.out.len() >= self.control_cap {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.out.push_raw(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn read_retrying(sock: &mut impl Read, dst: &mut [u8]) -> io::Result<usize> {
    loop {
        match sock.read(dst) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked frame header for a payload of `len` bytes.
    fn header(len: usize) -> Vec<u8> {
        let mut h = vec![0x81];
        match len {
            n if n < 126 => h.push(0x80 | n as u8),
            n if n <= 0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                h.push(0x80 | 127);
                h.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        h.extend_from_slice(&[0; 4]);
        h
    }

    #[test]
    fn small_frames_pass_in_one_piece() {
        let mut f = Frames::default();
        let mut bytes = header(3);
        bytes.extend_from_slice(b"abc");
        bytes.extend(header(1));
        bytes.push(b'd');
        assert_eq!(f.take(&bytes), bytes.len());
        assert!(f.at_boundary() && !f.large);
    }

    #[test]
    fn a_large_frame_is_handed_over_up_to_its_end_only() {
        let mut f = Frames::default();
        let big = LARGE_FRAME as usize;
        let mut bytes = header(big);
        let h = bytes.len();
        bytes.resize(h + big, b'x');
        bytes.extend(header(1));
        bytes.push(b'y');
        // Split at arbitrary points, as reads would.
        let mut handed = 0;
        for chunk in [5usize, 1000, 70_000] {
            let end = (handed + chunk).min(bytes.len());
            handed += f.take(&bytes[handed..end]);
        }
        assert_eq!(handed, h + big, "stops at the large frame's end");
        assert!(f.large && f.at_boundary());
        // Then the next frame, up to its end and no further.
        let pieces: Vec<usize> = (0..3)
            .map(|_| {
                let n = f.take(&bytes[handed..]);
                handed += n;
                n
            })
            .collect();
        assert_eq!(pieces, [7, 0, 0]);
        assert_eq!(handed, bytes.len());
    }

    #[test]
    fn headers_split_across_reads_are_followed() {
        let mut f = Frames::default();
        let mut bytes = header(300);
        bytes.resize(bytes.len() + 300, b'z');
        let mut handed = 0;
        for chunk in [1, 1, 1, 1, 1, 1, 1000] {
            let end = (handed + chunk).min(bytes.len());
            handed += f.take(&bytes[handed..end]);
        }
        assert_eq!(handed, bytes.len());
        assert!(f.at_boundary() && !f.large);
    }
}
