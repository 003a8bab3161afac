//! The HTTP side of the port: reading a request head, deciding what it is
//! (the test page, a WebSocket upgrade, or an error) and writing responses.
//!
//! Only what kvws serves is implemented: `GET`/`HEAD /` returns the embedded
//! test page, `GET`/`HEAD /kvws.js` the JavaScript client it imports, `GET /`
//! with an upgrade opens a WebSocket, everything else gets a short
//! plain-text error. Every response closes the connection, which
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

/// Where the JavaScript client is served.
pub const CLIENT_JS_PATH: &str = "/kvws.js";

/// The JavaScript client (`clients/js/kvws.js`), embedded in the binary: the
/// test page imports it, and so may any page on the same host.
pub const CLIENT_JS: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/clients/js/kvws.js"));

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
    /// Serve the JavaScript client.
    ClientJs {
        /// Send headers without the body.
        head_only: bool,
        /// The client already has this version (`If-None-Match`): 304.
        not_modified: bool,
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

/// Decides what a request is.
pub fn route(req: &Request) -> Route {
    let upgrade = req.has_token("upgrade", "websocket");
    if req.route_path() == CLIENT_JS_PATH && !upgrade {
        return client_js_route(req);
    }
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

fn client_js_route(req: &Request) -> Route {
    let head_only = match req.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => return Route::Reject(Status::MethodNotAllowed),
    };
    let not_modified = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("if-none-match"))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == client_js_etag());
    Route::ClientJs {
        head_only,
        not_modified,
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

/// The JavaScript client's `ETag`: the start of its SHA-256, quoted.
pub fn client_js_etag() -> &'static str {
    static ETAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ETAG.get_or_init(|| {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(CLIENT_JS.as_bytes());
        format!("\"{}\"", data_encoding::HEXLOWER.encode(&hash[..16]))
    })
}

/// How long a browser may keep the JavaScript client: it asks again every
/// time (`no-cache`), and an unchanged one is answered with a bodiless 304
/// by its `ETag`. A page and the module it imports so always come from the
/// same server version, even right after an upgrade.
const CLIENT_JS_CACHE: &str = "no-cache";

/// The JavaScript client response, or `304 Not Modified` when the browser
/// has it already.
pub fn client_js(head_only: bool, not_modified: bool) -> Vec<u8> {
    let etag = client_js_etag();
    if not_modified {
        return format!(
            "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nCache-Control: {CLIENT_JS_CACHE}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
    }
    response(
        "200 OK",
        "text/javascript; charset=utf-8",
        CLIENT_JS.as_bytes(),
        &[
            ("Cache-Control", CLIENT_JS_CACHE),
            ("ETag", etag),
            ("X-Content-Type-Options", "nosniff"),
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
    fn routes_the_javascript_client() {
        let get = |text: &str| route(&req(text));
        assert_eq!(
            get("GET /kvws.js HTTP/1.1\r\n\r\n"),
            Route::ClientJs {
                head_only: false,
                not_modified: false
            }
        );
        assert_eq!(
            get("GET /kvws.js?v=2 HTTP/1.1\r\n\r\n"),
            Route::ClientJs {
                head_only: false,
                not_modified: false
            }
        );
        assert_eq!(
            get("HEAD /kvws.js HTTP/1.1\r\n\r\n"),
            Route::ClientJs {
                head_only: true,
                not_modified: false
            }
        );
        assert_eq!(
            get("POST /kvws.js HTTP/1.1\r\n\r\n"),
            Route::Reject(Status::MethodNotAllowed)
        );
        // Only the exact path; the WebSocket is at / only.
        for other in ["/kvws.js/", "/KVWS.js", "/clients/js/kvws.js", "/kvws.d.ts"] {
            assert_eq!(
                get(&format!("GET {other} HTTP/1.1\r\n\r\n")),
                Route::Reject(Status::NotFound),
                "{other}"
            );
        }
        let upgrade = UPGRADE.replace("GET / ", "GET /kvws.js ");
        assert_eq!(get(&upgrade), Route::Reject(Status::NotFound));
    }

    #[test]
    fn the_javascript_client_is_revalidated_by_its_etag() {
        let etag = client_js_etag();
        assert!(etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'));
        let with = |inm: &str| {
            route(&req(&format!(
                "GET /kvws.js HTTP/1.1\r\nIf-None-Match: {inm}\r\n\r\n"
            )))
        };
        let fresh = Route::ClientJs {
            head_only: false,
            not_modified: true,
        };
        let stale = Route::ClientJs {
            head_only: false,
            not_modified: false,
        };
        assert_eq!(with(etag), fresh);
        assert_eq!(with(&format!("W/{etag}")), fresh);
        assert_eq!(with(&format!("\"old\", {etag}")), fresh);
        assert_eq!(with("*"), fresh);
        assert_eq!(with("\"old\""), stale);
        assert_eq!(with(etag.trim_matches('"')), stale);

        let full = String::from_utf8(client_js(false, false)).unwrap();
        let (head, body) = full.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, CLIENT_JS);
        assert!(body.contains("export async function connect("));
        for line in [
            "HTTP/1.1 200 OK",
            "Content-Type: text/javascript; charset=utf-8",
            &format!("Content-Length: {}", CLIENT_JS.len()),
            "Cache-Control: no-cache",
            &format!("ETag: {etag}"),
            "X-Content-Type-Options: nosniff",
            "Connection: close",
        ] {
            assert!(head.split("\r\n").any(|l| l == line), "{line} in {head}");
        }
        let head_only = String::from_utf8(client_js(true, false)).unwrap();
        assert_eq!(head_only, format!("{head}\r\n\r\n"));
        assert_eq!(
            String::from_utf8(client_js(false, true)).unwrap(),
            format!(
                "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
            )
        );
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
