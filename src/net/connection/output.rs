//! Output: how much a connection has queued, and writing that queue to its
//! socket once per loop iteration (the only place that writes to it; see
//! `net::wire`). A draining connection's socket is shut down for writing
//! here once its queue is empty.

use std::io;
use std::time::Instant;

use super::{Connection, State};
use crate::net::wire::Stream;

/// What one call to [`Connection::flush`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Flushed {
    /// Nothing is left to write.
    pub done: bool,
    /// Bytes the socket took.
    pub wrote: usize,
}

impl<S: Stream> Connection<S> {
    /// Bytes waiting to be written (in its queue, and in its stream's own
    /// buffer: TLS records).
    pub fn queued(&self) -> usize {
        self.wire()
            .map_or(0, |w| w.out.len() + w.sock.pending_output())
    }

    /// Queued bytes held in its own buffers (shared frames not counted).
    pub fn owned_output(&self) -> usize {
        self.wire()
            .map_or(0, |w| w.out.owned() + w.sock.pending_output())
    }

    /// Writes queued bytes. A draining connection whose queue is empty
    /// shuts its socket down for writing.
    pub fn flush(&mut self) -> io::Result<Flushed> {
        let (wire, shut) = match &mut self.state {
            State::Head { wire, .. } => (wire, None),
            State::Open { ws, .. } if self.peer_closed => (ws.get_mut(), None),
            State::Open { ws, .. } => {
                // A pong or close frame tungstenite could not queue before.
                match ws.flush() {
                    Ok(()) => {}
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {}
                }
                (ws.get_mut(), None)
            }
            State::Draining { wire, shut } => (wire, Some(shut)),
            State::Gone => {
                return Ok(Flushed {
                    done: true,
                    wrote: 0,
                });
            }
        };
        let before = wire.out.len();
        let done = wire.out.write_to(&mut wire.sock)? && wire.sock.flush_pending()?;
        let wrote = before - wire.out.len();
        if let Some(shut) = shut
            && done
            && !*shut
        {
            *shut = true;
            let _ = wire.sock.shutdown_write();
        }
        Ok(Flushed { done, wrote })
    }

    /// Notes that the client took output while its reads were paused: it is
    /// alive, even though the server is not reading what it sends.
    pub fn saw_progress(&mut self, now: Instant) {
        self.last_seen = now;
        self.pinged = false;
    }
}
