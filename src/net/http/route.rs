//! Deciding what a request is: the test page, the JavaScript client, a
//! WebSocket upgrade (with its handshake checks), or an error [`Status`].
//! Nothing here writes bytes; the caller turns a [`Route`] into a response.

use super::assets::{CLIENT_JS_PATH, client_js_etag};
use super::{Request, Status};

/// The subprotocol kvws answers to when a client asks for it by name.
pub const SUBPROTOCOL: &str = "kvws";

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
