//! The client side of a WebSocket's opening handshake and of the frames a
//! client sends, shared by the blocking [`Client`](super::Client) and the
//! load generator (`kvws load`), so that both open connections and mask
//! frames the same way.
//!
//! The handshake is written and checked on byte buffers, without I/O: the
//! blocking client reads the answer from its socket within a deadline, the
//! load generator from a non-blocking one, and both hand what they have read
//! to [`check_response`]. The checks are RFC 6455's (section 4.1): status
//! `101`, `Upgrade: websocket`, `Connection: Upgrade`, the right
//! `Sec-WebSocket-Accept`, and no extension or subprotocol, since none is
//! asked for.
//!
//! Client frames are encoded (and masked) by tungstenite's
//! [`Frame::format`], the code the blocking client's `WebSocket` uses for
//! every frame it sends; [`encode_frame`] only lets the caller choose the
//! masking key, which the load generator fixes so that it can encode its
//! requests once.

use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::OpCode;
use tungstenite::protocol::frame::{Frame, FrameHeader};

pub use tungstenite::handshake::client::generate_key;

/// The longest response head accepted.
pub const MAX_RESPONSE_HEAD: usize = 16 << 10;

/// The HTTP request that opens a WebSocket on `path` (with its query) of
/// `authority` (`host:port`, the `Host` header) with the key `key` (from
/// [`generate_key`]).
pub fn request(authority: &str, path: &str, key: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Why a server's answer to [`request`] does not open a WebSocket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The server answered with another status (`403 Forbidden`, `503
    /// Service Unavailable`, ...): `HTTP 503 Service Unavailable`.
    Status(String),
    /// The answer is not a valid handshake response; what is wrong.
    Invalid(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Status(s) | Refused::Invalid(s) => f.write_str(s),
        }
    }
}

/// Checks the server's answer to [`request`] with key `key`: `Ok(None)`
/// while the head is incomplete, `Ok(Some(n))` once a valid `101` head of
/// `n` bytes has arrived (frames may follow it in the same buffer).
pub fn check_response(buf: &[u8], key: &str) -> Result<Option<usize>, Refused> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let invalid = |why: String| Err(Refused::Invalid(why));
    let n = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
            return invalid("handshake response head over 16 KiB".into());
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return invalid(format!("bad handshake response: {e}")),
    };
    let code = response.code.unwrap_or(0);
    if code != 101 {
        let reason = response.reason.unwrap_or("");
        return Err(Refused::Status(
            format!("HTTP {code} {reason}").trim_end().into(),
        ));
    }
    let header = |name: &str| {
        let mut values = response
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name));
        values
            .next()
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return invalid("handshake response without 'Upgrade: websocket'".into());
    }
    if !has_token("connection", "upgrade") {
        return invalid("handshake response without 'Connection: Upgrade'".into());
    }
    if header("sec-websocket-accept") != Some(derive_accept_key(key.as_bytes())) {
        return invalid("handshake response has a wrong Sec-WebSocket-Accept".into());
    }
    for unasked in ["sec-websocket-extensions", "sec-websocket-protocol"] {
        if header(unasked).is_some() {
            return invalid(format!(
                "handshake response has a {unasked} that was not asked for"
            ));
        }
    }
    Ok(Some(n))
}

/// Appends one client frame (FIN set) with `opcode` and `payload`, masked
/// with `mask`, to `out`.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    let header = FrameHeader {
        is_final: true,
        opcode: OpCode::from(opcode),
        mask: Some(mask),
        ..FrameHeader::default()
    };
    Frame::from_payload(header, payload.to_vec().into())
        .format(out)
        .expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const OK: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    #[test]
    fn the_request_names_host_path_and_key() {
        let req = String::from_utf8(request("[::1]:8080", "/kv?x=1", KEY)).unwrap();
        assert!(req.starts_with("GET /kv?x=1 HTTP/1.1\r\nHost: [::1]:8080\r\n"));
        assert!(req.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
        assert!(req.contains("Sec-WebSocket-Version: 13\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
        assert_eq!(generate_key().len(), 24);
    }

    #[test]
    fn a_response_is_complete_valid_and_measured() {
        let mut buf = OK.as_bytes().to_vec();
        assert_eq!(check_response(&buf[..20], KEY), Ok(None));
        buf.extend_from_slice(&[0x81, 0x00]);
        assert_eq!(check_response(&buf, KEY), Ok(Some(OK.len())));
        let relaxed = OK
            .replace("Upgrade: websocket", "upgrade:  WebSocket")
            .replace("Connection: Upgrade", "Connection: keep-alive, upgrade");
        assert_eq!(
            check_response(relaxed.as_bytes(), KEY),
            Ok(Some(relaxed.len()))
        );
    }

    #[test]
    fn a_response_that_does_not_open_a_websocket_is_refused() {
        let refused = "HTTP/1.1 503 Service Unavailable\r\n\r\n";
        assert_eq!(
            check_response(refused.as_bytes(), KEY),
            Err(Refused::Status("HTTP 503 Service Unavailable".into()))
        );
        for bad in [
            OK.replace("s3pP", "xxxx"),
            OK.replace("Upgrade: websocket\r\n", ""),
            OK.replace("Connection: Upgrade", "Connection: close"),
            OK.replace(
                "\r\n\r\n",
                "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            ),
            OK.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: kvws\r\n\r\n"),
            "HTTP/1.1 101 \u{1}\r\n\r\n".into(),
        ] {
            let e = check_response(bad.as_bytes(), KEY).unwrap_err();
            assert!(matches!(e, Refused::Invalid(_)), "{bad}: {e}");
        }
        let endless = vec![b'x'; MAX_RESPONSE_HEAD + 1];
        assert!(check_response(&endless, KEY).is_err());
    }

    #[test]
    fn frames_are_masked_with_the_key_given() {
        let mask = [1, 2, 3, 4];
        for len in [0, 3, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = vec![0xee];
            encode_frame(&mut out, 0x1, &payload, mask);
            let (head, length) = match len {
                0..=125 => (2, len as u8),
                126..=65535 => (4, 126),
                _ => (10, 127),
            };
            assert_eq!(&out[..3], &[0xee, 0x81, 0x80 | length]);
            assert_eq!(&out[1 + head..1 + head + 4], &mask);
            let body: Vec<u8> = out[1 + head + 4..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(body, payload);
        }
        let mut close = Vec::new();
        encode_frame(&mut close, 0x8, &1000u16.to_be_bytes(), mask);
        assert_eq!(close, [0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]);
    }
}
