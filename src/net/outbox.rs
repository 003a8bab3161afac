//! One connection's queue of bytes waiting for the socket.
//!
//! Replies and small notifications are appended to one owned buffer, the
//! `tail`, so that everything a connection gets in a loop iteration
//! usually reaches the kernel in a single write. Large notifications are
//! queued by reference to their one shared allocation (see
//! [`crate::protocol::frame`]). A flush hands up to [`MAX_IOV`] chunks to
//! one `writev`.
//!
//! The queue does not enforce its cap itself: the connection checks
//! [`Outbox::len`] against `--max-output-buffer` before queueing.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::Deref;
use std::sync::Arc;

use crate::protocol::frame::{self, FrameRef, SHARE_ABOVE};

/// Most chunks handed to one `writev` call (well under Linux's IOV_MAX of 1024).
pub const MAX_IOV: usize = 64;

/// A tail buffer larger than this is released once written rather than
/// kept for reuse, so a burst does not pin memory on an idle connection.
const KEEP_TAIL: usize = 16 * 1024;

/// A queued chunk: a sealed tail, or a shared large frame.
#[derive(Debug)]
enum Chunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(a) => a,
        }
    }
}

/// Bytes queued for one socket, in order: `queue` then `tail`.
#[derive(Default, Debug)]
pub struct Outbox {
    queue: VecDeque<Chunk>,
    tail: Vec<u8>,
    /// Bytes of the first pending chunk (queue front, else tail) already written.
    offset: usize,
    len: usize,
    /// Unwritten bytes held in this queue's own buffers (not shared frames).
    owned: usize,
}

impl Outbox {
    /// An empty queue; allocates nothing until used.
    pub fn new() -> Self {
        Outbox::default()
    }

    /// Unwritten bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether everything has been written.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Unwritten bytes this queue holds in memory of its own: shared
    /// frames are counted where they were allocated, not in every queue.
    pub fn owned(&self) -> usize {
        self.owned
    }

    /// Queues `json` as one WebSocket text frame.
    pub fn push_text(&mut self, json: &[u8]) {
        let before = self.tail.len();
        self.tail.reserve(json.len() + frame::MAX_HEADER);
        frame::text_header(&mut self.tail, json.len());
        self.tail.extend_from_slice(json);
        self.len += self.tail.len() - before;
        self.owned += self.tail.len() - before;
    }

    /// Queues bytes that are already framed (HTTP responses, control frames).
    pub fn push_raw(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        self.len += bytes.len();
        self.owned += bytes.len();
    }

    /// Queues an already framed message: copied if it is small, else by
    /// reference to its shared allocation.
    pub fn push_frame(&mut self, frame: FrameRef) {
        match frame.shared {
            Some(shared) if shared.len() > SHARE_ABOVE => {
                self.seal_tail();
                self.queue.push_back(Chunk::Shared(shared.clone()));
                self.len += shared.len();
            }
            _ => self.push_raw(frame.bytes),
        }
    }

    /// Drops every queued byte that has not started going out. A partly
    /// written chunk is kept so the peer never sees half a frame.
    pub fn discard_unsent(&mut self) {
        if self.offset == 0 {
            self.queue.clear();
            self.tail.clear();
            self.len = 0;
            self.owned = 0;
            return;
        }
        self.seal_tail();
        self.queue.truncate(1);
        self.len = self.queue.front().map_or(0, |f| f.len() - self.offset);
        self.owned = match self.queue.front() {
            Some(Chunk::Owned(_)) => self.len,
            _ => 0,
        };
    }

    /// Writes as much as `w` takes: `Ok(true)` when the queue is empty,
    /// `Ok(false)` when `w` would block with bytes left.
    pub fn write_to(&mut self, w: &mut impl Write) -> io::Result<bool> {
        while self.len > 0 {
            let n = {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let mut count = 0;
                let mut skip = self.offset;
                for chunk in self
                    .queue
                    .iter()
                    .map(|b| &b[..])
                    .chain(std::iter::once(&self.tail[..]))
                {
                    if count == MAX_IOV {
                        break;
                    }
                    if chunk.len() > skip {
                        slices[count] = IoSlice::new(&chunk[skip..]);
                        count += 1;
                    }
                    skip = 0;
                }
                match w.write_vectored(&slices[..count]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Later pushes must not grow a buffer that is half out.
                        if self.queue.is_empty() && self.offset > 0 {
                            self.seal_tail();
                        }
                        return Ok(false);
                    }
                    Err(e) => return Err(e),
                }
            };
            self.consume(n);
        }
        Ok(true)
    }

    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(front) = self.queue.front() else {
                self.offset += n;
                self.owned -= n;
                break;
            };
            let left = front.len() - self.offset;
            let own = matches!(front, Chunk::Owned(_));
            if n < left {
                self.offset += n;
                if own {
                    self.owned -= n;
                }
                return;
            }
            if own {
                self.owned -= left;
            }
            n -= left;
            self.offset = 0;
            self.queue.pop_front();
        }
        if self.queue.is_empty() && self.offset == self.tail.len() {
            self.offset = 0;
            if self.tail.capacity() > KEEP_TAIL {
                self.tail = Vec::new();
            } else {
                self.tail.clear();
            }
        }
        if self.len == 0 && self.queue.capacity() > MAX_IOV {
            self.queue = VecDeque::new();
        }
    }

    /// Moves the tail into the queue so that what is pushed next comes after it.
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.queue
                .push_back(Chunk::Owned(std::mem::take(&mut self.tail)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `limit` bytes per call, then blocks.
    struct Pipe {
        got: Vec<u8>,
        per_call: usize,
        budget: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.per_call).min(self.budget);
            self.got.extend_from_slice(&buf[..n]);
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn pipe(per_call: usize, budget: usize) -> Pipe {
        Pipe {
            got: Vec::new(),
            per_call,
            budget,
        }
    }

    /// A framed message: shared when `n` makes it large.
    fn framed(byte: u8, n: usize) -> Arc<[u8]> {
        let mut f = Vec::new();
        frame::text_frame_into(&mut f, &vec![byte; n]);
        f.into()
    }

    fn expected(frames: &[&Arc<[u8]>]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.iter().copied()).collect()
    }

    #[test]
    fn keeps_order_across_copied_and_shared_frames() {
        let (small, big) = (framed(b's', 10), framed(b'B', SHARE_ABOVE + 1));
        let mut o = Outbox::new();
        o.push_text(b"a");
        o.push_frame(FrameRef::shared(&big));
        o.push_frame(FrameRef::shared(&small)); // small: copied, not queued
        o.push_text(b"c");
        assert_eq!(o.queue.len(), 2, "the tail was sealed before the big frame");
        let mut p = pipe(usize::MAX, usize::MAX);
        assert!(o.write_to(&mut p).unwrap());
        let mut want = b"\x81\x01a".to_vec();
        want.extend(expected(&[&big, &small]));
        want.extend(b"\x81\x01c");
        assert_eq!(p.got, want);
        assert!(o.is_empty());
    }

    #[test]
    fn resumes_after_would_block_mid_chunk() {
        let big = framed(b'w', SHARE_ABOVE + 5);
        let mut o = Outbox::new();
        o.push_text(b"hello");
        o.push_frame(FrameRef::shared(&big));
        let mut p = pipe(3, 4);
        assert!(!o.write_to(&mut p).unwrap());
        assert_eq!(o.len(), 7 + big.len() - 4);
        o.push_text(b"!");
        p.budget = usize::MAX;
        assert!(o.write_to(&mut p).unwrap());
        let mut want = b"\x81\x05hello".to_vec();
        want.extend(big.iter());
        want.extend(b"\x81\x01!");
        assert_eq!(p.got, want);
    }

    #[test]
    fn discard_keeps_the_partly_written_frame() {
        let (first, second) = (framed(b'1', SHARE_ABOVE + 1), framed(b'2', SHARE_ABOVE + 1));
        let mut o = Outbox::new();
        o.push_frame(FrameRef::shared(&first));
        o.push_frame(FrameRef::shared(&second));
        o.push_text(b"jkl");
        let mut p = pipe(usize::MAX, 3);
        assert!(!o.write_to(&mut p).unwrap());
        o.discard_unsent();
        assert_eq!(o.len(), first.len() - 3);
        o.push_raw(b"\x88\x00");
        p.budget = usize::MAX;
        assert!(o.write_to(&mut p).unwrap());
        let mut want = first.to_vec();
        want.extend(b"\x88\x00");
        assert_eq!(p.got, want);
    }

    #[test]
    fn discard_with_nothing_written_empties_the_queue() {
        let big = framed(b'y', SHARE_ABOVE + 1);
        let mut o = Outbox::new();
        o.push_text(b"x");
        o.push_frame(FrameRef::shared(&big));
        o.discard_unsent();
        assert!(o.is_empty());
        let mut p = pipe(usize::MAX, usize::MAX);
        assert!(o.write_to(&mut p).unwrap());
        assert!(p.got.is_empty());
    }

    #[test]
    fn many_chunks_take_several_writes() {
        let big = framed(b'z', SHARE_ABOVE + 1);
        let mut o = Outbox::new();
        for _ in 0..MAX_IOV * 2 + 5 {
            o.push_frame(FrameRef::shared(&big));
        }
        let mut p = pipe(usize::MAX, usize::MAX);
        assert!(o.write_to(&mut p).unwrap());
        assert_eq!(p.got.len(), (MAX_IOV * 2 + 5) * big.len());
    }
}
