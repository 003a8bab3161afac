//! [`InBuf`]: bytes read from a socket and not yet handed to tungstenite,
//! and the size of the one large buffer the server lends to every
//! connection it reads (see the `wire` module documentation). Kept apart
//! from the [`Wire`](super::Wire) that borrows it: the buffer is also what
//! the server owns between rounds.

/// Size of the server's shared read buffer: enough for a few hundred
/// pipelined requests per system call.
pub const SHARED_READ_BUFFER: usize = 64 * 1024;

/// Bytes read from a socket and not yet handed to tungstenite.
#[derive(Default, Debug)]
pub struct InBuf {
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
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

    pub(super) fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}
