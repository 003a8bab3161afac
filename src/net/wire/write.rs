//! The wire's write side: tungstenite's own writes (pongs, close frames)
//! go into the connection's queue, never to the socket, under a cap that
//! a close frame may pass. The queue itself is [`Outbox`](crate::net::outbox::Outbox).

use std::io::{self, Write};

use super::{Stream, Wire};

impl<S: Stream> Wire<S> {
    /// Sets the queue size past which tungstenite's own writes (pongs) wait.
    pub fn set_control_cap(&mut self, cap: usize) {
        self.control_cap = cap;
    }

    /// Lets tungstenite's writes through whatever is queued: a close frame
    /// is about to be written and must not wait.
    pub fn set_closing(&mut self) {
        self.closing = true;
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
