//! The load generator's side of the WebSocket protocol (RFC 6455), on byte
//! slices.
//!
//! The load generator does not use tungstenite's `WebSocket`: that owns a
//! blocking-style stream and allocates a `Message` for every incoming
//! frame, and the point here is to send pre-encoded frames with a `memcpy`
//! and to look at replies in place. What it shares with the client library
//! is what does not cost it anything at run time: the opening handshake
//! (the request, and the checks of the answer) and the encoding and masking
//! of client frames, both in [`crate::client::websocket`]. Server frames are
//! decoded here, in place, by [`decode_frame`] (see there for why).
//!
//! **The mask key is fixed** ([`MASK`]). RFC 6455 requires client frames to
//! be masked, and servers unmask them whatever the key; the key exists to
//! stop a hostile page in a browser from steering the bytes an intermediary
//! sees. The load tool is not a browser, so one constant key lets every
//! request frame be encoded once at start-up.

use std::ops::Range;

use crate::client::websocket::{self, Refused};

pub use crate::client::websocket::{generate_key, request as handshake_request};

/// The masking key of every frame this client sends.
pub const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x9e];
/// Opcode of a text frame.
pub const TEXT: u8 = 0x1;
/// Opcode of a close frame.
pub const CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const PONG: u8 = 0xA;
/// Largest server frame accepted (a guard against a corrupt length field
/// making the read buffer grow without bound).
pub const MAX_FRAME: usize = 64 << 20;

/// Checks the server's answer to [`handshake_request`]: `Ok(None)` while
/// the head is incomplete, `Ok(Some(n))` once a valid `101` head of `n`
/// bytes has arrived (frames may follow it in the same buffer).
pub fn handshake_response(buf: &[u8], key: &str) -> Result<Option<usize>, String> {
    websocket::check_response(buf, key).map_err(|e| match e {
        Refused::Status(status) => format!("handshake refused: {status}"),
        Refused::Invalid(why) => why,
    })
}

/// Appends one client frame (FIN set) with `payload`, masked with [`MASK`],
/// to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    websocket::encode_frame(out, opcode, payload, MASK);
}

/// Unmasks a payload masked with [`MASK`], as a server does.
#[cfg(test)]
pub fn unmask(payload: &mut [u8]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= MASK[i & 3];
    }
}

/// One server frame found at the start of a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The final fragment of a message.
    pub fin: bool,
    /// The opcode (0 for a continuation).
    pub opcode: u8,
    /// Where the payload lies in the buffer.
    pub payload: Range<usize>,
}

/// Decodes the frame at the start of `buf`: `Ok(None)` if it is not complete
/// yet, else the frame (its payload range ends where the next frame starts).
/// Server frames must not be masked and use no extensions.
///
/// This runs once per reply, the load generator's innermost loop, which is
/// why it is not tungstenite's `FrameHeader::parse` (what the client
/// library's `WebSocket` reads headers with): that reads through a `Cursor`
/// and `io::Read`, logs at trace level, and took twice as long per frame
/// (about 20 ns against 9 in a release build, 100-byte replies), and the
/// checks below would still be needed on top of it.
pub fn decode_frame(buf: &[u8]) -> Result<Option<Frame>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(format!("frame with reserved bits set (0x{b0:02x})"));
    }
    if b1 & 0x80 != 0 {
        return Err("masked frame from the server".into());
    }
    let opcode = b0 & 0x0f;
    let (len, header) = match b1 & 0x7f {
        126 if buf.len() < 4 => return Ok(None),
        126 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() < 10 => return Ok(None),
        127 => (
            u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")),
            10,
        ),
        n => (u64::from(n), 2),
    };
    if opcode >= 0x8 && (len > 125 || b0 & 0x80 == 0) {
        return Err("control frame fragmented or over 125 bytes".into());
    }
    if len > MAX_FRAME as u64 {
        return Err(format!("frame of {len} bytes (limit {MAX_FRAME})"));
    }
    let end = header + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Frame {
        fin: b0 & 0x80 != 0,
        opcode,
        payload: header..end,
    }))
}

/// Describes a close frame's payload: its code and reason.
pub fn describe_close(payload: &[u8]) -> String {
    match payload {
        [a, b, reason @ ..] => format!(
            "close frame {} {}",
            u16::from_be_bytes([*a, *b]),
            String::from_utf8_lossy(reason)
        ),
        _ => "close frame without a code".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame (unmasked).
    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n <= 0xffff => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn decodes_every_length_form_and_waits_for_more() {
        for len in [0, 5, 125, 126, 1000, 65535, 65536, 200_000] {
            let payload = vec![b'x'; len];
            let mut buf = server_frame(true, TEXT, &payload);
            buf.extend_from_slice(b"next");
            let f = decode_frame(&buf).unwrap().unwrap();
            assert!(f.fin);
            assert_eq!(f.opcode, TEXT);
            assert_eq!(&buf[f.payload.clone()], &payload[..]);
            assert_eq!(&buf[f.payload.end..], b"next");
            for cut in [0, 1, f.payload.start - 1, f.payload.end - 1] {
                if cut < f.payload.end {
                    assert_eq!(decode_frame(&buf[..cut]).unwrap(), None, "{len} cut {cut}");
                }
            }
        }
    }

    #[test]
    fn rejects_what_a_server_must_not_send() {
        assert!(decode_frame(&[0x81, 0x81, 0, 0, 0, 0, b'x']).is_err()); // masked
        assert!(decode_frame(&[0xc1, 0x00]).is_err()); // RSV1
        assert!(decode_frame(&[0x09, 0x00]).is_err()); // fragmented ping
        let mut huge = vec![0x81, 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(decode_frame(&huge).is_err());
        let f = decode_frame(&server_frame(false, TEXT, b"part"))
            .unwrap()
            .unwrap();
        assert!(!f.fin);
    }

    #[test]
    fn client_frames_are_masked_and_round_trip() {
        for len in [3, 126, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_frame(&mut out, TEXT, &payload);
            assert_eq!(out[0], 0x81);
            assert_eq!(out[1] & 0x80, 0x80);
            // Unmask and decode as a server would.
            let header = match len {
                3 => 2,
                126 => 4,
                _ => 10,
            };
            assert_eq!(&out[header..header + 4], &MASK);
            let mut body = out[header + 4..].to_vec();
            unmask(&mut body);
            assert_eq!(body, payload);
        }
    }

    #[test]
    fn the_handshake_is_the_client_librarys() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let req = String::from_utf8(handshake_request("127.0.0.1:1", "/", key)).unwrap();
        assert!(req.starts_with("GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"));
        let refused = "HTTP/1.1 503 Service Unavailable\r\n\r\n";
        let e = handshake_response(refused.as_bytes(), key).unwrap_err();
        assert_eq!(e, "handshake refused: HTTP 503 Service Unavailable");
    }

    #[test]
    fn close_descriptions() {
        assert_eq!(
            describe_close(&[0x03, 0xf0, b'b', b'y']),
            "close frame 1008 by"
        );
        assert_eq!(describe_close(&[]), "close frame without a code");
    }
}
