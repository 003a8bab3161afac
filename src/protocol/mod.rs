//! The wire protocol: client messages in, replies and notifications out.
//!
//! Pure functions only (no sockets, no store): [`parse`] turns one text frame
//! into a [`Request`], the [`encode`] functions write replies, and [`frame`]
//! wraps them as WebSocket frames. Values stay the exact JSON text the client
//! sent ([`Json`]) from parse to store to every notification.
//!
//! The message set is a superset of the R server's: `set`, `get`, `delete`,
//! `subscribe`, `unsubscribe` and the replies `value`, `deleted`, `error` keep
//! their R shapes; everything added (`req`, `rev`, `list`, ...) is an optional
//! field or a new message type. `PROTOCOL.md` is the full reference.

use std::borrow::Cow;

pub mod encode;
mod error;
pub mod frame;
pub mod json;
mod parse;

pub use error::ErrorCode;
pub use json::Json;
pub use parse::{ParseError, ParseLimits, parse};

/// A name from a message: borrowed from the frame unless it had escapes.
pub type Name<'a> = Cow<'a, str>;

/// What a subscription watches: one key, or every key under a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic<'a> {
    /// Exactly this key.
    Key(Name<'a>),
    /// Every key starting with these bytes (`""` is the whole namespace).
    Prefix(Name<'a>),
}

/// One parsed client message: the request and its optional `req` id.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// The client's request id, echoed verbatim in the direct reply.
    pub req: Option<Json<'a>>,
    /// What the client asked for.
    pub request: Request<'a>,
}

/// Every request a client can make.
#[derive(Debug)]
pub enum Request<'a> {
    /// Store `value` under `id`/`key`.
    Set {
        /// Application namespace.
        id: Name<'a>,
        /// Key within the namespace.
        key: Name<'a>,
        /// The value, exactly as sent.
        value: Json<'a>,
        /// Apply only if the key's revision is this (`0`: only if absent).
        if_rev: Option<u64>,
        /// Expire the key after this many milliseconds.
        ttl_ms: Option<u64>,
        /// Delete the key when this connection closes.
        ephemeral: bool,
    },
    /// Read one key.
    Get {
        /// Application namespace.
        id: Name<'a>,
        /// Key within the namespace.
        key: Name<'a>,
    },
    /// Remove one key.
    Delete {
        /// Application namespace.
        id: Name<'a>,
        /// Key within the namespace.
        key: Name<'a>,
        /// Apply only if the key's revision is this.
        if_rev: Option<u64>,
    },
    /// Start receiving changes.
    Subscribe {
        /// Application namespace.
        id: Name<'a>,
        /// Key or prefix to watch.
        topic: Topic<'a>,
        /// Replay changes after this revision first.
        since: Option<u64>,
    },
    /// Stop receiving changes.
    Unsubscribe {
        /// Application namespace.
        id: Name<'a>,
        /// Key or prefix given to `subscribe`.
        topic: Topic<'a>,
    },
    /// Page through the keys of a namespace in byte order.
    List {
        /// Application namespace.
        id: Name<'a>,
        /// Only keys starting with this.
        prefix: Name<'a>,
        /// Only keys after this one (exclusive).
        after: Option<Name<'a>>,
        /// Most keys in the reply.
        limit: Option<u64>,
    },
    /// Present a token.
    Auth {
        /// The signed token.
        token: Name<'a>,
    },
    /// Present a manager token to raise the connection's role.
    Upgrade {
        /// The signed manager token.
        token: Name<'a>,
    },
    /// A message type the core does not know; embedders may handle it.
    Other {
        /// The message's `type`.
        kind: Name<'a>,
        /// The whole message text.
        text: &'a str,
    },
}
