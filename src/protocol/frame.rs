//! WebSocket framing of the server's outgoing messages (RFC 6455 §5.2).
//!
//! Notifications are framed once and the same bytes go to every
//! subscriber, so framing lives here, beside the encoders, rather than being
//! left to each connection. Server frames are never masked, which makes the
//! header a pure function of the payload length.
//!
//! How the bytes of one frame reach many queues depends on its size. A small
//! frame (most notifications) is copied into each connection's buffer:
//! copying a hundred bytes costs less than an allocation and an atomic
//! reference count, and it lets a connection's whole output leave in one
//! contiguous write. A large frame is allocated once ([`Arc`]) and queued
//! by reference, so a 100 KB value fanned out to a thousand subscribers is
//! 100 KB of memory, not 100 MB.

use std::sync::Arc;

/// Longest header of an unmasked frame: opcode byte, length byte, 8-byte length.
pub const MAX_HEADER: usize = 10;

/// Frames longer than this are shared between queues instead of copied.
pub const SHARE_ABOVE: usize = 2048;

/// Appends the header of a final, unmasked text frame of `len` payload bytes.
pub fn text_header(out: &mut Vec<u8>, len: usize) {
    out.push(0x81);
    if len < 126 {
        out.push(len as u8);
    } else if len <= 0xffff {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Writes the complete text frame of `payload` into `out` (cleared first).
pub fn text_frame_into(out: &mut Vec<u8>, payload: &[u8]) {
    out.clear();
    out.reserve(payload.len() + MAX_HEADER);
    text_header(out, payload.len());
    out.extend_from_slice(payload);
}

/// A complete frame, borrowed for as long as it is being queued; large
/// frames also carry their shared allocation.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef<'a> {
    /// The frame's bytes.
    pub bytes: &'a [u8],
    /// The same bytes, shareable (frames over [`SHARE_ABOVE`] only).
    pub shared: Option<&'a Arc<[u8]>>,
}

impl<'a> FrameRef<'a> {
    /// A frame that queues copy.
    pub fn copied(bytes: &'a [u8]) -> Self {
        FrameRef {
            bytes,
            shared: None,
        }
    }

    /// A frame in a shared allocation.
    pub fn shared(frame: &'a Arc<[u8]>) -> Self {
        FrameRef {
            bytes: frame,
            shared: Some(frame),
        }
    }

    /// The frame's payload, without the header.
    pub fn payload(&self) -> &'a [u8] {
        let skip = match self.bytes.get(1) {
            Some(126) => 4,
            Some(127) => 10,
            _ => 2,
        };
        &self.bytes[skip.min(self.bytes.len())..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths_follow_rfc6455() {
        let mut out = Vec::new();
        text_header(&mut out, 125);
        assert_eq!(out, [0x81, 125]);
        out.clear();
        text_header(&mut out, 126);
        assert_eq!(out, [0x81, 126, 0, 126]);
        out.clear();
        text_header(&mut out, 65_536);
        assert_eq!(out, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn frames_are_header_then_payload() {
        let mut out = vec![1, 2, 3];
        text_frame_into(&mut out, b"hi");
        assert_eq!(out, b"\x81\x02hi");
        assert_eq!(FrameRef::copied(&out).payload(), b"hi");
        let big = vec![b'x'; 70_000];
        text_frame_into(&mut out, &big);
        assert_eq!(FrameRef::copied(&out).payload(), &big[..]);
    }
}
