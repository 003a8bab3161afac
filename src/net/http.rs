//! The HTTP side of the port: reading a request head, deciding what it is
//! (the test page, a WebSocket upgrade, or an error) and writing responses.
//!
//! Only what kvws serves is implemented: `GET`/`HEAD /` returns the embedded
//! test page, `GET /` with an upgrade opens a WebSocket, everything else gets
//! a short plain-text error. Every response closes the connection, which
//! keeps the connection state machine to one request per socket.

use std::fmt::Write as _;

/// Largest request head accepted, in bytes. Browsers send well under 2 KiB;
/// 8 KiB matches common servers' defaults and bounds what a client can make
/// us buffer before it is even a WebSocket.
pub const MAX_HEAD: usize = 8 * 1024;

/// Most header lines parsed in one request head.
const MAX_HEADERS: usize = 48;

/// The test page, embedded in the binary.
pub const PAGE: &str = include_str!("page.html");

/// The subprotocol kvws answers to when a client asks for it by name.
pub const SUBPROTOCOL: &str = "kvws";

/// A parsed request head.
#[derive(Clone, Debug)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Header names and values in the order received.
    pub headers: Vec<(String, String)>,
    /// Length of the head in bytes, including the blank line.
    pub head_len: usize,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether header `name` holds `token` in its comma-separated list.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The path without its query string.
    pub fn route_path(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }
}

/// Why a request head could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Over [`MAX_HEAD`] bytes or 48 header lines.
    TooLarge,
    /// Not HTTP/1.x.
    Malformed,
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Request>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(head_len)) => Ok(Some(Request {
            method: req.method.unwrap_or_default().to_string(),
            path: req.path.unwrap_or_default().to_string(),
            headers: req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            head_len,
        })),
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Malformed),
    }
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Serve the test page (`head_only` for `HEAD`).
    Page {
        /// Send headers without the body.
        head_only: bool,
    },
    /// Accept the WebSocket upgrade.
    Upgrade {
        /// The `Sec-WebSocket-Accept` value.
        accept: String,
        /// The subprotocol to confirm, if the client offered ours.
        protocol: Option<&'static str>,
    },
    /// Answer with an error status and close.
    Reject(Status),
}

/// An HTTP error response kvws sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 400: not a valid request or handshake.
    BadRequest(&'static str),
    /// 404: only `/` exists.
    NotFound,
    /// 405: only `GET` and `HEAD`.
    MethodNotAllowed,
    /// 408: the head did not arrive in time.
    RequestTimeout,
    /// 426: a WebSocket version other than 13.
    UpgradeRequired,
    /// 431: the head is too large.
    HeadTooLarge,
    /// 503: the server is at its connection limit or shutting down.
    Unavailable,
}

/// Decides what a request is.
pub fn route(req: &Request) -> Route {
    let upgrade = req.has_token("upgrade", "websocket");
    if req.route_path() != "/" {
        return Route::Reject(Status::NotFound);
    }
    if !upgrade {
        return match req.method.as_str() {
            "GET" => Route::Page { head_only: false },
            "HEAD" => Route::Page { head_only: true },
            _ => Route::Reject(Status::MethodNotAllowed),
        };
    }
    if req.method != "GET" {
        return Route::Reject(Status::MethodNotAllowed);
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Route::Reject(Status::UpgradeRequired);
    }
    if !req.has_token("connection", "upgrade") {
        return Route::Reject(Status::BadRequest("missing 'Connection: Upgrade'"));
    }
    let Some(key) = req
        .header("sec-websocket-key")
        .map(str::trim)
        .filter(|k| valid_key(k))
    else {
        return Route::Reject(Status::BadRequest("missing or invalid Sec-WebSocket-Key"));
    };
    let protocol = req
        .has_token("sec-websocket-protocol", SUBPROTOCOL)
        .then_some(SUBPROTOCOL);
    Route::Upgrade {
        accept: tungstenite::handshake::derive_accept_key(key.as_bytes()),
        protocol,
    }
}

/// A `Sec-WebSocket-Key` is 16 bytes in base64: 22 characters and `==`.
fn valid_key(key: &str) -> bool {
    key.len() == 24
        && key.ends_with("==")
        && key[..22]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The `101 Switching Protocols` response completing a handshake.
pub fn switching_protocols(accept: &str, protocol: Option<&str>) -> Vec<u8> {
    let mut head = String::with_capacity(160);
    head.push_str(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    let _ = write!(head, "Sec-WebSocket-Accept: {accept}\r\n");
    if let Some(p) = protocol {
        let _ = write!(head, "Sec-WebSocket-Protocol: {p}\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// The test page response.
pub fn page(head_only: bool) -> Vec<u8> {
    response(
        "200 OK",
        "text/html; charset=utf-8",
        PAGE.as_bytes(),
        &[
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ],
        head_only,
    )
}

/// The response for an error status.
pub fn error(status: Status) -> Vec<u8> {
    let (line, body, extra): (&str, &str, &[(&str, &str)]) = match status {
        Status::BadRequest(why) => ("400 Bad Request", why, &[]),
        Status::NotFound => (
            "404 Not Found",
            "kvws serves its test page and WebSocket at /",
            &[],
        ),
        Status::MethodNotAllowed => (
            "405 Method Not Allowed",
            "use GET",
            &[("Allow", "GET, HEAD")],
        ),
        Status::RequestTimeout => ("408 Request Timeout", "the request head took too long", &[]),
        Status::UpgradeRequired => (
            "426 Upgrade Required",
            "kvws speaks WebSocket version 13",
            &[("Sec-WebSocket-Version", "13")],
        ),
        Status::HeadTooLarge => (
            "431 Request Header Fields Too Large",
            "request head too large",
            &[],
        ),
        Status::Unavailable => (
            "503 Service Unavailable",
            "server busy; try again later",
            &[],
        ),
    };
    let body = format!("{line}: {body}\n");
    response(
        line,
        "text/plain; charset=utf-8",
        body.as_bytes(),
        extra,
        false,
    )
}

/// `403 Forbidden` with `reason` (flattened to one line) as the body.
pub fn forbidden(reason: &str) -> Vec<u8> {
    let line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let body = format!("403 Forbidden: {line}\n");
    response(
        "403 Forbidden",
        "text/plain; charset=utf-8",
        body.as_bytes(),
        &[],
        false,
    )
}

fn response(
    status: &str,
    content_type: &str,
    body: &[u8],
    extra: &[(&str, &str)],
    head_only: bool,
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Request {
        parse_head(text.as_bytes()).unwrap().unwrap()
    }

    const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

    #[test]
    fn partial_heads_wait_and_oversize_heads_fail() {
        assert!(
            parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n")
                .unwrap()
                .is_none()
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse_head(big.as_bytes()).unwrap_err(), HeadError::TooLarge);
        assert_eq!(
            parse_head(b"\x16\x03\x01garbage\r\n\r\n").unwrap_err(),
            HeadError::Malformed
        );
    }

    #[test]
    fn routes_pages_errors_and_upgrades() {
        assert_eq!(
            route(&req("GET / HTTP/1.1\r\n\r\n")),
            Route::Page { head_only: false }
        );
        assert_eq!(
            route(&req("GET /?x=1 HTTP/1.1\r\n\r\n")),
            Route::Page { head_only: false }
        );
        assert_eq!(
            route(&req("HEAD / HTTP/1.1\r\n\r\n")),
            Route::Page { head_only: true }
        );
        assert_eq!(
            route(&req("GET /x HTTP/1.1\r\n\r\n")),
            Route::Reject(Status::NotFound)
        );
        assert_eq!(
            route(&req("POST / HTTP/1.1\r\n\r\n")),
            Route::Reject(Status::MethodNotAllowed)
        );
        // The RFC 6455 example key and its accept value.
        assert_eq!(
            route(&req(UPGRADE)),
            Route::Upgrade {
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
                protocol: None
            }
        );
        let old = UPGRADE.replace("Version: 13", "Version: 8");
        assert_eq!(route(&req(&old)), Route::Reject(Status::UpgradeRequired));
        let nokey = UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
        assert!(matches!(
            route(&req(&nokey)),
            Route::Reject(Status::BadRequest(_))
        ));
    }

    #[test]
    fn offers_our_subprotocol_only_when_asked() {
        let with = UPGRADE.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat, kvws\r\n\r\n");
        assert!(matches!(
            route(&req(&with)),
            Route::Upgrade {
                protocol: Some("kvws"),
                ..
            }
        ));
        let other = UPGRADE.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n");
        assert!(matches!(
            route(&req(&other)),
            Route::Upgrade { protocol: None, .. }
        ));
    }

    #[test]
    fn responses_close_and_have_lengths() {
        let r = String::from_utf8(error(Status::NotFound)).unwrap();
        assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(r.contains("Connection: close\r\n"));
        let head = String::from_utf8(page(true)).unwrap();
        assert!(head.contains(&format!("Content-Length: {}\r\n", PAGE.len())));
        assert!(head.ends_with("\r\n\r\n"));
    }
}
