//! The little command language of `kvws shell`, parsed without any I/O so
//! it can be tested (and reused by another front end).
//!
//! A line is a command word and its arguments, split on whitespace, except
//! that a `set` value is the rest of the line, taken as JSON when it parses
//! and as a string otherwise (`set a k hello world` stores
//! `"hello world"`). The `ID` argument is left out once a default id is
//! set with `use ID`: `get KEY` then means `get ID KEY`. Keeping the rule
//! that simple (never guessing from the number of words) keeps `set KEY
//! VALUE WITH SPACES` unambiguous.

use super::request::{Topic, json_or_string};

/// The command words, for completion.
pub const COMMANDS: [&str; 15] = [
    "auth", "delete", "exit", "get", "help", "list", "put", "q", "quit", "raw", "set", "sub",
    "unsub", "upgrade", "use",
];

/// What `help` prints; also the source of the usage messages.
pub const HELP: &str = "\
commands ([ID] is left out once 'use ID' has set a default id):
  get [ID] KEY                  print the value of KEY
  set [ID] KEY VALUE            store VALUE (the rest of the line; JSON if it parses, else a string)
  put [ID] KEY VALUE            the same as set
  delete [ID] KEY               delete KEY
  sub [ID] KEY [--since REV]    subscribe to KEY; its changes print as they come
  sub [ID] --prefix P [--since REV]   subscribe to every key starting with P
  unsub [ID] KEY | unsub [ID] --prefix P
  list [ID] [PREFIX]            list the keys (every page)
  auth TOKEN | upgrade TOKEN    authenticate, or raise the connection's role
  use ID                        set the default id
  raw JSON                      send any request (a req is added) and print the reply
  help | quit (q, exit)";

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
    /// `set|put [ID] KEY VALUE`.
    Set {
        /// Namespace.
        id: String,
        /// Key.
        key: String,
        /// The value as JSON text.
        value: String,
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

/// Parses one line; `default_id` is the id set with `use`. The error is a
/// message for the person typing (the command's usage).
pub fn parse(line: &str, default_id: Option<&str>) -> Result<Command, String> {
    let (word0, rest) = word(line);
    let name = canonical(word0);
    let usage = || usage(name);
    let id = |rest| -> Result<(String, &str), String> {
        match (default_id, word(rest)) {
            (Some(id), _) => Ok((id.to_string(), rest)),
            (None, ("", _)) => Err(usage()),
            (None, (id, rest)) => Ok((id.to_string(), rest)),
        }
    };
    let one = |rest| match word(rest) {
        (w, "") if !w.is_empty() => Ok(w.to_string()),
        _ => Err(usage()),
    };
    Ok(match name {
        "" => Command::Empty,
        "help" => Command::Help,
        "quit" => Command::Quit,
        "use" => Command::Use(one(rest)?),
        "auth" if word0 == "upgrade" => Command::Upgrade(one(rest)?),
        "auth" => Command::Auth(one(rest)?),
        "raw" if rest.is_empty() => return Err(usage()),
        "raw" => Command::Raw(rest.to_string()),
        "get" | "delete" => {
            let (id, rest) = id(rest)?;
            let key = one(rest)?;
            match name {
                "get" => Command::Get { id, key },
                _ => Command::Delete { id, key },
            }
        }
        "set" => {
            let (id, rest) = id(rest)?;
            match word(rest) {
                (key, value) if !key.is_empty() && !value.is_empty() => Command::Set {
                    id,
                    key: key.to_string(),
                    value: json_or_string(value.trim_end()),
                },
                _ => return Err(usage()),
            }
        }
        "sub" | "unsub" => {
            let (id, rest) = id(rest)?;
            match (name, topic(rest).ok_or_else(usage)?) {
                ("sub", (topic, since)) => Command::Subscribe { id, topic, since },
                (_, (topic, None)) => Command::Unsubscribe { id, topic },
                _ => return Err(usage()),
            }
        }
        "list" => {
            let (id, rest) = id(rest)?;
            match word(rest) {
                (prefix, "") => Command::List {
                    id,
                    prefix: prefix.to_string(),
                },
                _ => return Err(usage()),
            }
        }
        other => return Err(format!("unknown command '{other}' (try 'help')")),
    })
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

/// The usage of `name`, from its line in [`HELP`].
fn usage(name: &str) -> String {
    let line = HELP
        .lines()
        .map(str::trim)
        .find(|l| word(l).0 == name)
        .map_or(name, |l| l.split("  ").next().unwrap_or(l));
    format!("usage: {line}")
}

/// The first word of `text` and the rest after it.
fn word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

/// `KEY [--since REV]` or `--prefix [P] [--since REV]`.
fn topic(text: &str) -> Option<(Topic, Option<u64>)> {
    let mut words = text.split_whitespace().peekable();
    let topic = match words.next()? {
        "--prefix" | "-p" => match words.peek() {
            Some(&w) if w != "--since" => Topic::prefix(words.next().unwrap_or(w)),
            _ => Topic::prefix(""),
        },
        key if !key.starts_with("--") => Topic::key(key),
        _ => return None,
    };
    let since = match (words.next(), words.next(), words.next()) {
        (None, ..) => None,
        (Some("--since"), Some(rev), None) => Some(rev.parse().ok()?),
        _ => return None,
    };
    Some((topic, since))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str, id: Option<&str>) -> Command {
        parse(line, id).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn commands_with_and_without_a_default_id() {
        let get = Command::Get {
            id: "a".into(),
            key: "k".into(),
        };
        assert_eq!(ok("get a k", None), get);
        assert_eq!(ok("  get   k ", Some("a")), get);
        assert_eq!(
            ok("put k hello  world ", Some("a")),
            Command::Set {
                id: "a".into(),
                key: "k".into(),
                value: r#""hello  world""#.into()
            }
        );
        assert_eq!(
            ok(r#"set a k {"n": 1}"#, None),
            Command::Set {
                id: "a".into(),
                key: "k".into(),
                value: r#"{"n": 1}"#.into()
            }
        );
        assert_eq!(
            ok("sub a --prefix room/ --since 7", None),
            Command::Subscribe {
                id: "a".into(),
                topic: Topic::prefix("room/"),
                since: Some(7)
            }
        );
        assert_eq!(
            ok("sub --prefix", Some("a")),
            Command::Subscribe {
                id: "a".into(),
                topic: Topic::prefix(""),
                since: None
            }
        );
        assert_eq!(
            ok("unsub a k", None),
            Command::Unsubscribe {
                id: "a".into(),
                topic: Topic::key("k")
            }
        );
        assert_eq!(
            ok("ls", Some("a")),
            Command::List {
                id: "a".into(),
                prefix: String::new()
            }
        );
        assert_eq!(ok("upgrade t", None), Command::Upgrade("t".into()));
        assert_eq!(ok("auth t", None), Command::Auth("t".into()));
        assert_eq!(ok("use b", None), Command::Use("b".into()));
        assert_eq!(ok("raw {}", None), Command::Raw("{}".into()));
        assert_eq!(ok("", None), Command::Empty);
        assert_eq!(ok("q", None), Command::Quit);
    }

    #[test]
    fn mistakes_get_the_usage_line() {
        assert_eq!(parse("get", None).unwrap_err(), "usage: get [ID] KEY");
        assert_eq!(parse("get a", Some("a")).map(|_| ()), Ok(()));
        assert_eq!(
            parse("get a b", Some("a")).unwrap_err(),
            "usage: get [ID] KEY"
        );
        assert_eq!(
            parse("put a k", None).unwrap_err(),
            "usage: set [ID] KEY VALUE"
        );
        for line in [
            "sub a",
            "sub a k --since x",
            "sub a k extra",
            "unsub a k --since 1",
        ] {
            assert!(
                parse(line, None).unwrap_err().starts_with("usage: "),
                "{line}"
            );
        }
        assert_eq!(
            parse("upgrade", None).unwrap_err(),
            "usage: auth TOKEN | upgrade TOKEN"
        );
        assert_eq!(
            parse("bogus", None).unwrap_err(),
            "unknown command 'bogus' (try 'help')"
        );
    }
}
