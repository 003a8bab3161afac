//! The little command language of `kvws shell`, parsed without any I/O so
//! it can be tested (and reused by another front end).
//!
//! A line is a command word and its arguments, split on whitespace, except
//! that a `set` value is the rest of the line, taken as JSON when it parses
//! and as a string otherwise (`set a k hello world` stores
//! `"hello world"`); the options of a `set` come between its key and its
//! value, where they cannot be taken for part of it. The `ID` argument is
//! left out once a default id is set with `use ID`: `get KEY` then means
//! `get ID KEY`. Keeping the rule that simple (never guessing from the
//! number of words) keeps `set KEY VALUE WITH SPACES` unambiguous; an id
//! never starts with `--`, so an option is never taken for one.
//!
//! [`completion`] says what the word being typed is (a command, an id, a
//! key of which id), for a front end that completes it.
//!
//! ```text
//! mod.rs       the words: command names and their aliases, HELP, Command
//! parse.rs     a line into a Command, or the usage of what was meant
//! complete.rs  what the word being typed is, for completion
//! ```

mod complete;
mod parse;
#[cfg(test)]
mod tests;

pub use complete::{Completion, completion};
pub use parse::parse;

use super::request::{SetOptions, Topic};

/// The command words, for completion.
pub const COMMANDS: [&str; 15] = [
    "auth", "delete", "exit", "get", "help", "list", "put", "q", "quit", "raw", "set", "sub",
    "unsub", "upgrade", "use",
];

/// What `help` prints; also the source of the usage messages.
pub const HELP: &str = "\
commands ([ID] is left out once 'use ID' has set a default id):
  get [ID] KEY                  print the value of KEY
  set [ID] KEY [OPTIONS] VALUE  store VALUE (the rest of the line; JSON if it parses, else a string)
                                OPTIONS: --ttl TIME (expire after TIME: 10s, 5m), --ephemeral
                                (delete it when this connection closes), --if-rev N (only if
                                the key's revision is N; 0: only if it does not exist)
  put [ID] KEY [OPTIONS] VALUE  the same as set
  delete [ID] KEY               delete KEY
  sub [ID] KEY [--since REV]    subscribe to KEY; its changes print as they come
  sub [ID] --prefix P [--since REV]   subscribe to every key starting with P
  unsub [ID] KEY | unsub [ID] --prefix P
  list [ID] [PREFIX]            list the keys (every page)
  auth TOKEN | upgrade TOKEN    authenticate, or raise the connection's role
  use ID                        set the default id
  raw JSON                      send any request (a req is added) and print the reply
  help | quit (q, exit)
Tab completes commands, the ids used in this session and keys; Ctrl-C clears the line,
Ctrl-D leaves.";

/// One parsed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// A blank line.
    Empty,
    /// `help`.
    Help,
    /// `quit`, `q`, `exit`.
    Quit,
    /// `use ID`: set the default id.
    Use(String),
    /// `get [ID] KEY`.
    Get {
        /// Namespace.
        id: String,
        /// Key.
        key: String,
    },
    /// `set|put [ID] KEY [--ttl TIME] [--ephemeral] [--if-rev N] VALUE`.
    Set {
        /// Namespace.
        id: String,
        /// Key.
        key: String,
        /// The value as JSON text.
        value: String,
        /// TTL, ephemeral, compare-and-set.
        options: SetOptions,
    },
    /// `delete|del [ID] KEY`.
    Delete {
        /// Namespace.
        id: String,
        /// Key.
        key: String,
    },
    /// `sub [ID] (KEY | --prefix P) [--since REV]`.
    Subscribe {
        /// Namespace.
        id: String,
        /// Key or prefix.
        topic: Topic,
        /// Resume after this revision.
        since: Option<u64>,
    },
    /// `unsub [ID] (KEY | --prefix P)`.
    Unsubscribe {
        /// Namespace.
        id: String,
        /// Key or prefix.
        topic: Topic,
    },
    /// `list [ID] [PREFIX]`.
    List {
        /// Namespace.
        id: String,
        /// Only keys starting with this.
        prefix: String,
    },
    /// `auth TOKEN`.
    Auth(String),
    /// `upgrade TOKEN`.
    Upgrade(String),
    /// `raw JSON`: any request.
    Raw(String),
}

impl Command {
    /// The id the command is about, if it is about one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Command::Use(id)
            | Command::Get { id, .. }
            | Command::Set { id, .. }
            | Command::Delete { id, .. }
            | Command::Subscribe { id, .. }
            | Command::Unsubscribe { id, .. }
            | Command::List { id, .. } => Some(id),
            _ => None,
        }
    }
}

// Beside the words rather than in parse.rs: it looks at the command word
// only, so that even a line that does not parse is kept out of history.

/// Whether `line` carries a token (`auth`, `upgrade`, or a `raw` request
/// with a `token` field), and so must not be kept in a history file.
pub fn carries_secret(line: &str) -> bool {
    let (command, rest) = word(line);
    match canonical(command) {
        "auth" => true,
        "raw" => rest.contains("\"token\""),
        _ => false,
    }
}

/// The main name of a command word (aliases folded; `upgrade` shares
/// `auth`'s usage line).
fn canonical(word: &str) -> &str {
    match word {
        "put" => "set",
        "del" | "rm" => "delete",
        "subscribe" => "sub",
        "unsubscribe" => "unsub",
        "ls" => "list",
        "upgrade" => "auth",
        "q" | "exit" => "quit",
        "?" => "help",
        w => w,
    }
}

/// The first word of `text` and the rest after it.
fn word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}
