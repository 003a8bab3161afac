//! What the shell counts: connections accepted and refused, HTTP requests
//! by route, WebSocket messages sent by type, error replies by code, bytes
//! each way, and how WebSockets ended.
//!
//! Every label value comes from a fixed table here. A message's type and
//! an error's code are read from the first bytes of what the engine
//! encoded (every message it sends starts `{"type":"NAME"`, and an error
//! continues `,"code":"CODE"`), which costs a few byte comparisons per
//! message and keeps counting out of the engine's many reply paths; a
//! type the table does not know (an embedding program's own messages) is
//! counted as `other`.

//!
//! Writing them to the `/metrics` page is in [`render`].

use crate::net::connection::Ending;
use crate::protocol::ErrorCode;

mod render;
#[cfg(test)]
mod tests;

/// Why a connection was refused before it became a WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// At `--max-connections`: answered 503.
    Limit,
    /// Far over the limit: closed without reading.
    Overload,
    /// A browser page from an origin not allowed (403).
    Origin,
    /// A `Host` not allowed (403).
    Host,
    /// The request head did not arrive within `--handshake-timeout` (408).
    HandshakeTimeout,
    /// Not a valid HTTP request or WebSocket handshake (400, 405, 426, 431).
    BadHandshake,
    /// The embedding program's `on_open` said no (403).
    Embedder,
    /// Cluster mode, the store still loading from Redis (503).
    Loading,
    /// The server is shutting down (503).
    ShuttingDown,
}

const REFUSED: [&str; 9] = [
    "limit",
    "overload",
    "origin",
    "host",
    "handshake_timeout",
    "bad_handshake",
    "embedder",
    "loading",
    "shutting_down",
];

/// What an HTTP request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Page,
    ClientJs,
    Metrics,
    Healthz,
    Readyz,
    /// Answered by the embedding program's `on_http`.
    Embedder,
    /// A WebSocket handshake (accepted or not).
    WebSocket,
    /// Anything else (404, 405, ...).
    Other,
}

const ROUTES: [&str; 8] = [
    "page",
    "client_js",
    "metrics",
    "healthz",
    "readyz",
    "embedder",
    "websocket",
    "other",
];

/// The `type` values of messages sent, as the engine encodes them.
const SENT: [&str; 8] = [
    "value",
    "deleted",
    "subscribed",
    "unsubscribed",
    "keys",
    "authenticated",
    "error",
    "other",
];
const SENT_ERROR: usize = 6;
const SENT_OTHER: usize = 7;

const ERROR_CODES: [ErrorCode; 12] = [
    ErrorCode::BadRequest,
    ErrorCode::Conflict,
    ErrorCode::TooLarge,
    ErrorCode::TooManyKeys,
    ErrorCode::TooManySubscriptions,
    ErrorCode::Unauthenticated,
    ErrorCode::InvalidToken,
    ErrorCode::TokenExpired,
    ErrorCode::Forbidden,
    ErrorCode::StoreFull,
    ErrorCode::StorageFailed,
    ErrorCode::Unavailable,
];

/// How a WebSocket ended when the server closed it: the reason's label,
/// the close code, and the reason text the server sends with it (the one
/// place these are told apart: the same code can have several causes).
const SERVER_CLOSES: [(&str, u16, &str); 11] = [
    ("slow_consumer", 1008, "output buffer limit"),
    (
        "auth_failures",
        1008,
        "too many failed authentication attempts",
    ),
    ("slow_replay", 1008, "too slow to catch up"),
    ("too_big", 1009, "message too large"),
    ("invalid_utf8", 1007, "text message is not valid UTF-8"),
    ("protocol_error", 1002, "WebSocket protocol error"),
    ("client_memory", 1013, "server busy"),
    ("idle", 1000, "idle timeout"),
    ("shutdown", 1001, "server shutting down"),
    ("store_reset", 1012, "store reloading"),
    // The socket failed or the peer vanished without a close handshake
    // (1006 is the code RFC 6455 reserves to say so; it is never sent).
    ("lost", 1006, ""),
];
const LOST: usize = 10;

/// Close codes a client or an embedding program may choose that are
/// counted by value (1000 to 1015); others are counted as `other`.
const CHOSEN_CODES: usize = 16;

/// The shell's counters (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub accepted: u64,
    pub websockets_opened: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    refused: [u64; REFUSED.len()],
    routes: [u64; ROUTES.len()],
    sent: [u64; SENT.len()],
    /// Error replies by [`ERROR_CODES`], and one for a code not listed.
    errors: [u64; ERROR_CODES.len() + 1],
    server_closes: [u64; SERVER_CLOSES.len()],
    /// Closes begun by the client, by its code (1000..=1015, then
    /// `other`, then none given: 1005).
    client_closes: [u64; CHOSEN_CODES + 2],
    /// Closes the embedding program asked for, by code as above.
    embedder_closes: [u64; CHOSEN_CODES + 2],
}

impl Counters {
    pub fn refused(&mut self, why: Refused) {
        self.refused[why as usize] += 1;
    }

    pub fn route(&mut self, route: Route) {
        self.routes[route as usize] += 1;
    }

    /// Counts a JSON message queued for a client.
    #[inline]
    pub fn sent(&mut self, json: &[u8]) {
        let i = sent_type(json);
        self.sent[i] += 1;
        if i == SENT_ERROR {
            self.error_sent(json);
        }
    }

    #[cold]
    fn error_sent(&mut self, json: &[u8]) {
        self.errors[error_code(json)] += 1;
    }

    /// Counts a framed text message queued for a client.
    #[inline]
    pub fn sent_frame(&mut self, frame: &[u8]) {
        self.sent(payload(frame));
    }

    /// Counts a WebSocket that stopped serving: `ending` is how, `peer`
    /// the code of the client's close frame if it sent one.
    pub fn closed(&mut self, ending: &Ending, peer: Option<u16>) {
        match *ending {
            Ending::Drop => self.server_closes[LOST] += 1,
            Ending::Reply => self.client_closes[chosen(peer)] += 1,
            Ending::Close(code, reason) | Ending::Fail(code, reason) => {
                let code = u16::from(code);
                match SERVER_CLOSES
                    .iter()
                    .position(|&(_, c, text)| c == code && text == reason)
                {
                    Some(i) => self.server_closes[i] += 1,
                    None => self.embedder_closes[chosen(Some(code))] += 1,
                }
            }
        }
    }
}

/// The index of a chosen close code: 1000..=1015 by value, then `other`,
/// then none (1005).
fn chosen(code: Option<u16>) -> usize {
    match code {
        Some(c @ 1000..=1015) => usize::from(c - 1000),
        Some(_) => CHOSEN_CODES,
        None => CHOSEN_CODES + 1,
    }
}

/// The payload of a server's (unmasked) frame.
fn payload(frame: &[u8]) -> &[u8] {
    let skip = match frame.get(1).map(|b| b & 0x7f) {
        Some(126) => 4,
        Some(127) => 10,
        Some(_) => 2,
        None => return &[],
    };
    frame.get(skip..).unwrap_or(&[])
}

/// What every message the engine encodes starts with.
const TYPE_PREFIX: [u8; 9] = *b"{\"type\":\"";

/// Whether `bytes` starts with `name` and a closing quote. Fixed-size
/// comparisons compile to a few integer compares (slices would call
/// `memcmp`).
#[inline(always)]
fn names<const N: usize>(bytes: &[u8], name: &[u8; N]) -> bool {
    bytes.get(..N).is_some_and(|head| head == name) && bytes.get(N) == Some(&b'"')
}

/// The index in [`SENT`] of the message's type. On the path of every
/// message sent, so it looks at one byte to pick the only name that can
/// match, then compares that name and the quote after it: a few dozen
/// instructions (a search through the table with slice comparisons cost
/// 140 per message in callgrind).
#[inline]
fn sent_type(json: &[u8]) -> usize {
    if json.get(..9).is_none_or(|head| head != TYPE_PREFIX) {
        return SENT_OTHER;
    }
    let rest = &json[9..];
    let known = match rest.first() {
        Some(b'v') => names(rest, b"value").then_some(0),
        Some(b'd') => names(rest, b"deleted").then_some(1),
        Some(b's') => names(rest, b"subscribed").then_some(2),
        Some(b'u') => names(rest, b"unsubscribed").then_some(3),
        Some(b'k') => names(rest, b"keys").then_some(4),
        Some(b'a') => names(rest, b"authenticated").then_some(5),
        Some(b'e') => names(rest, b"error").then_some(SENT_ERROR),
        _ => None,
    };
    known.unwrap_or(SENT_OTHER)
}

/// The index in [`ERROR_CODES`] of an error message's code (off the hot
/// path: errors are few), or one past the end for a code not listed.
fn error_code(json: &[u8]) -> usize {
    let code = json
        .strip_prefix(b"{\"type\":\"error\",\"code\":\"".as_slice())
        .and_then(|rest| {
            rest.iter()
                .take(32)
                .position(|&b| b == b'"')
                .map(|end| &rest[..end])
        });
    code.and_then(|code| {
        ERROR_CODES
            .iter()
            .position(|c| c.as_str().as_bytes() == code)
    })
    .unwrap_or(ERROR_CODES.len())
}
