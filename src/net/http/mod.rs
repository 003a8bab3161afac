//! The HTTP side of the port: reading a request head, deciding what it is
//! (the test page, a WebSocket upgrade, or an error) and writing responses.
//!
//! Only what kvws serves is implemented: `GET`/`HEAD /` returns the embedded
//! test page, `GET`/`HEAD /kvws.js` the JavaScript client it imports, `GET /`
//! with an upgrade opens a WebSocket, everything else gets a short
//! plain-text error. Every response closes the connection, which
//! keeps the connection state machine to one request per socket.

// One file per step a request goes through: its head is read (`head`), it
// is routed (`route`), and it is answered with a built-in resource (`assets`)
// or one of the fixed responses (`responses`).
mod assets;
mod head;
mod responses;
mod route;
#[cfg(test)]
mod tests;

pub use assets::{CLIENT_JS, CLIENT_JS_PATH, PAGE, client_js, client_js_etag, page};
pub use head::{HeadError, MAX_HEAD, Request, parse_head};
pub use responses::{Status, error, forbidden, switching_protocols};
pub use route::{Route, route};
