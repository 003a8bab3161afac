//! What can go wrong talking to a server, as one error type a caller can
//! match on.
//!
//! The variants follow what a caller does about them: [`Error::Connect`] and
//! [`Error::ConnectionLost`] mean "reconnect (later)", [`Error::Timeout`]
//! means "the server did not answer in time", [`Error::Server`] is the
//! server's own `error` reply (its stable `code` is what a program should
//! look at), [`Error::Protocol`] is a server that broke the protocol, and
//! [`Error::BadInput`] is a request this client refused to send.

use std::fmt;

/// Result of a client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a client call failed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// No connection could be opened: the name did not resolve, the TCP
    /// connection was refused or timed out, or the WebSocket handshake
    /// failed (an HTTP error such as `503`, or a server that did not answer).
    Connect {
        /// The URL that was tried.
        url: String,
        /// What went wrong, for people.
        reason: String,
    },
    /// The connection ended: the server closed it (with `code`, e.g. 1001
    /// when it shuts down, 1008 for a client that fell too far behind) or
    /// the socket failed. Every later call on the same client fails the
    /// same way; open a new one (or let a
    /// [`Subscriber`](super::Subscriber) do it).
    ConnectionLost {
        /// The close code the server sent, if it sent a close frame.
        code: Option<u16>,
        /// What happened, for people.
        reason: String,
    },
    /// No reply arrived within the request timeout. The connection stays
    /// usable; a late reply is recognised by its `req` and dropped.
    Timeout,
    /// The server answered with an `error` message.
    Server {
        /// The stable error code (`bad_request`, `conflict`, ...).
        code: String,
        /// The server's message, for people.
        message: String,
        /// For a `conflict`: the key's current revision.
        rev: Option<u64>,
        /// The error message exactly as received.
        text: String,
    },
    /// The server sent something the protocol does not allow here (not
    /// JSON, a reply of the wrong type).
    Protocol(String),
    /// The request was not sent because it is malformed (a value that is
    /// not JSON, a URL this client cannot use, ...).
    BadInput(String),
}

impl Error {
    /// True for errors about the connection itself (could not connect,
    /// lost, or no answer in time): retrying on a new connection may help.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Timeout
        )
    }

    /// The server's error code, when this is a server error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn lost(reason: impl Into<String>) -> Self {
        Error::ConnectionLost {
            code: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { url, reason } => write!(f, "cannot connect to {url}: {reason}"),
            Error::ConnectionLost {
                code: Some(code),
                reason,
            } => write!(f, "connection lost (close code {code}): {reason}"),
            Error::ConnectionLost { code: None, reason } => {
                write!(f, "connection lost: {reason}")
            }
            Error::Timeout => f.write_str("timed out waiting for the server's reply"),
            Error::Server { code, message, .. } => write!(f, "{code}: {message}"),
            Error::Protocol(what) => write!(f, "protocol error: {what}"),
            Error::BadInput(what) => write!(f, "bad input: {what}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_classes() {
        let e = Error::Server {
            code: "conflict".into(),
            message: "rev mismatch".into(),
            rev: Some(7),
            text: String::new(),
        };
        assert_eq!(e.to_string(), "conflict: rev mismatch");
        assert_eq!(e.code(), Some("conflict"));
        assert!(!e.is_connection());
        let lost = Error::ConnectionLost {
            code: Some(1001),
            reason: "server shutting down".into(),
        };
        assert_eq!(
            lost.to_string(),
            "connection lost (close code 1001): server shutting down"
        );
        assert!(lost.is_connection());
        assert!(Error::Timeout.is_connection());
        assert_eq!(Error::lost("eof").code(), None);
    }
}
