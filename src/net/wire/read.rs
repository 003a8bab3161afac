//! The wire's read side: a round of reads through the server's shared
//! buffer within a byte budget, and the `Read` that tungstenite calls.
//! Everything that decides when reading stops (the budget, a short read,
//! the stream's own budget, a frame boundary) meets here.

use std::io::{self, Read};

use super::{InBuf, SHARED_READ_BUFFER, Stream, Wire};

impl<S: Stream> Wire<S> {
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

fn read_retrying(sock: &mut impl Read, dst: &mut [u8]) -> io::Result<usize> {
    loop {
        match sock.read(dst) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
