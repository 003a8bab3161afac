//! WebSocket framing of the server's outgoing messages (RFC 6455 §5.2).
//!
//! Notifications are framed once and the same bytes are queued for every
//! subscriber, so framing lives here, beside the encoders, rather than being
//! left to each connection. Server frames are never masked, which makes the
//! header a pure function of the payload length.

use bytes::Bytes;

/// Longest header of an unmasked frame: opcode byte, length byte, 8-byte length.
pub const MAX_HEADER: usize = 10;

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

/// A complete text frame carrying `payload`, ready to share between queues.
pub fn text_frame(payload: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(payload.len() + MAX_HEADER);
    text_header(&mut frame, payload.len());
    frame.extend_from_slice(payload);
    Bytes::from(frame)
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
    fn frame_is_header_then_payload() {
        assert_eq!(&text_frame(b"hi")[..], b"\x81\x02hi");
    }
}
