//! What the client hands out: [`Event`]s and the typed replies.
//!
//! Values are JSON text (`String`), exactly as the server sent them; each
//! type also keeps the message's full text (`text`), for callers that print
//! or forward it (`kvws watch` prints nothing else).

use super::error::{Error, Result};
use super::request::Topic;

/// A message that is not the reply to a request: a notification, an entry
/// of a prefix snapshot, a replayed change (or the reply to a raw request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The message's `type`: `value`, `deleted`, `subscribed`, ...
    pub kind: String,
    /// The namespace.
    pub id: Option<String>,
    /// The key the message is about.
    pub key: Option<String>,
    /// The prefix (of a `subscribed` message).
    pub prefix: Option<String>,
    /// The value, as the exact JSON text received (`"null"` for a JSON null).
    pub value: Option<String>,
    /// The revision of the change.
    pub rev: Option<u64>,
    /// Why a key was deleted: `expired`, `disconnected`, or `None` for a delete.
    pub reason: Option<String>,
    /// The server asks the client to drop what it holds and resync.
    pub resync: bool,
    /// The `req` as JSON text (only on direct replies).
    pub req: Option<String>,
    /// The whole message exactly as received.
    pub text: String,
}

/// A key's value and revision (reply to `get` and `set`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The namespace.
    pub id: String,
    /// The key.
    pub key: String,
    /// The value as exact JSON text; `"null"` when the key does not exist.
    pub value: String,
    /// The key's revision; `0` when it does not exist.
    pub rev: u64,
    /// Set on the reply to a key subscription that had to resync.
    pub resync: bool,
    /// The reply exactly as received.
    pub text: String,
}

impl Entry {
    /// True when the key exists (a stored `null` exists too).
    pub fn exists(&self) -> bool {
        self.rev != 0
    }

    /// Decodes the value into `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.value)
            .map_err(|e| Error::BadInput(format!("cannot decode the value of '{}': {e}", self.key)))
    }
}

/// Reply to `delete`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    /// The namespace.
    pub id: String,
    /// The key.
    pub key: String,
    /// The revision of the deletion; `0` when there was nothing to delete.
    pub rev: u64,
    /// The reply exactly as received.
    pub text: String,
}

/// Reply to `subscribe`. Snapshot entries and replayed changes that came
/// before it are queued as [`Event`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribed {
    /// What was subscribed to.
    pub topic: Topic,
    /// For a plain key subscription, the key's revision; otherwise (prefix,
    /// or `since`) the store's revision at the time of the reply.
    pub rev: u64,
    /// The current value, when the reply was a key's `value` message.
    pub value: Option<String>,
    /// The server could not replay from `since`: drop what you hold for
    /// this subscription and take what came with the reply as the truth.
    pub resync: bool,
    /// The reply exactly as received.
    pub text: String,
}

/// One page of `list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// Keys in byte order.
    pub keys: Vec<String>,
    /// More keys follow the last one.
    pub more: bool,
    /// The reply exactly as received.
    pub text: String,
}

/// Reply to `auth` and `upgrade`: what the connection may now do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// The connection's role (`guest`, `manager`).
    pub role: String,
    /// The namespaces the token grants (`["*"]`: all of them).
    pub ids: Vec<String>,
    /// The access granted (`read`, `readwrite`): the string itself, or the
    /// JSON text of a value of another kind.
    pub access: Option<String>,
    /// When the token expires, in seconds since the Unix epoch.
    pub expires: Option<u64>,
    /// The reply exactly as received.
    pub text: String,
}
