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

use crate::metrics::{Exposition, Kind};
use crate::net::connection::Ending;
use crate::protocol::ErrorCode;

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

    /// Writes the shell's families.
    pub fn write(&self, out: &mut Exposition) {
        out.counter(
            "kvws_connections_accepted_total",
            "TCP connections accepted.",
            self.accepted,
        );
        out.counters(
            "kvws_connections_refused_total",
            "Connections refused before becoming a WebSocket, by reason.",
            "reason",
            REFUSED.iter().copied().zip(self.refused),
        );
        out.counters(
            "kvws_http_requests_total",
            "HTTP requests by route (websocket: an upgrade, accepted or not).",
            "route",
            ROUTES.iter().copied().zip(self.routes),
        );
        out.counter(
            "kvws_websockets_opened_total",
            "WebSocket handshakes completed.",
            self.websockets_opened,
        );
        out.counters(
            "kvws_ws_messages_sent_total",
            "WebSocket messages queued for clients, by type (a notification to N subscribers counts N).",
            "type",
            SENT.iter().copied().zip(self.sent),
        );
        let codes = ERROR_CODES.iter().map(|c| c.as_str()).chain(["other"]);
        out.counters(
            "kvws_ws_errors_sent_total",
            "Error replies sent, by code.",
            "code",
            codes.zip(self.errors),
        );
        out.counter(
            "kvws_received_bytes_total",
            "Bytes read from clients' sockets (HTTP and WebSocket).",
            self.bytes_in,
        );
        out.counter(
            "kvws_sent_bytes_total",
            "Bytes written to clients' sockets (HTTP and WebSocket).",
            self.bytes_out,
        );
        let name = "kvws_ws_closes_total";
        out.family(
            name,
            Kind::Counter,
            "WebSockets that stopped serving, by reason and close code (client: the client closed first; embedder: the embedding program closed it; lost: no close handshake).",
        );
        for (&(reason, code, _), n) in SERVER_CLOSES.iter().zip(self.server_closes) {
            out.sample(name, &[("reason", reason), ("code", &code.to_string())], n);
        }
        for (reason, counts) in [
            ("client", &self.client_closes),
            ("embedder", &self.embedder_closes),
        ] {
            for (i, &n) in counts.iter().enumerate() {
                // A series per code only once it happened: 18 zeros per
                // reason would drown the page.
                if n > 0 {
                    out.sample(name, &[("reason", reason), ("code", &code_label(i))], n);
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

fn code_label(i: usize) -> String {
    match i {
        CHOSEN_CODES => "other".into(),
        i if i > CHOSEN_CODES => "1005".into(),
        i => (1000 + i).to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame;
    use tungstenite::protocol::frame::coding::CloseCode;

    #[test]
    fn messages_are_counted_by_type_and_errors_by_code() {
        let mut c = Counters::default();
        c.sent(br#"{"type":"value","id":"a","key":"k","value":1,"rev":2}"#);
        c.sent(br#"{"type":"error","code":"store_full","message":"x"}"#);
        c.sent(br#"{"type":"error","code":"made_up","message":"x"}"#);
        c.sent(br#"{"type":"valuesque"}"#);
        c.sent(br#"  {"type":"value"}"#);
        let mut framed = Vec::new();
        frame::text_frame_into(
            &mut framed,
            br#"{"type":"deleted","id":"a","key":"k","rev":3}"#,
        );
        c.sent_frame(&framed);
        let mut big = Vec::new();
        let long = format!(r#"{{"type":"keys","pad":"{}"}}"#, "x".repeat(70_000));
        frame::text_frame_into(&mut big, long.as_bytes());
        c.sent_frame(&big);
        c.sent_frame(&[0x81]);
        assert_eq!(c.sent, [1, 1, 0, 0, 1, 0, 2, 3]);
        assert_eq!(c.errors[9], 1); // store_full
        assert_eq!(c.errors[12], 1); // not a code kvws sends
    }

    #[test]
    fn closes_are_told_apart_by_reason() {
        let mut c = Counters::default();
        c.closed(
            &Ending::Close(CloseCode::Policy, "output buffer limit"),
            None,
        );
        c.closed(
            &Ending::Close(CloseCode::Policy, "too many failed authentication attempts"),
            None,
        );
        c.closed(&Ending::Fail(CloseCode::Size, "message too large"), None);
        c.closed(
            &Ending::Close(CloseCode::Policy, "a hook's own reason"),
            None,
        );
        c.closed(&Ending::Close(CloseCode::from(4000), "custom"), None);
        c.closed(&Ending::Reply, Some(1000));
        c.closed(&Ending::Reply, None);
        c.closed(&Ending::Drop, None);
        assert_eq!(c.server_closes, [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!((c.client_closes[0], c.client_closes[17]), (1, 1));
        assert_eq!((c.embedder_closes[8], c.embedder_closes[16]), (1, 1));
        let mut page = Exposition::new();
        c.write(&mut page);
        let page = page.finish();
        assert!(page.contains("kvws_ws_closes_total{reason=\"slow_consumer\",code=\"1008\"} 1\n"));
        assert!(page.contains("kvws_ws_closes_total{reason=\"client\",code=\"1005\"} 1\n"));
        assert!(page.contains("kvws_ws_closes_total{reason=\"embedder\",code=\"other\"} 1\n"));
    }
}
