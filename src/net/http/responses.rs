//! The fixed HTTP responses kvws writes: the `101` that completes a
//! WebSocket handshake, the error statuses and `403`, and the one function
//! that lays out a response. Every response closes the connection. (Not to
//! be confused with `net::response`, the response a hook answers with.)

use std::fmt::Write as _;

/// An HTTP error response kvws sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 400: not a valid request or handshake.
    BadRequest(&'static str),
    /// 404: only `/`, `/kvws.js`, `/healthz`, `/readyz` and `/metrics` exist.
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

/// The response for an error status.
pub fn error(status: Status) -> Vec<u8> {
    let (line, body, extra): (&str, &str, &[(&str, &str)]) = match status {
        Status::BadRequest(why) => ("400 Bad Request", why, &[]),
        Status::NotFound => (
            "404 Not Found",
            "kvws serves its test page and WebSocket at /, its JavaScript client at /kvws.js, and /healthz, /readyz, /metrics",
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

pub(super) fn response(
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
