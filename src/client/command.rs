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

use super::request::{SetOptions, Topic, json_or_string};
use crate::units::parse_duration;

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

/// Parses one line; `default_id` is the id set with `use`. The error is a
/// message for the person typing (the command's usage, or that no id is in
/// use when the line would do with one).
pub fn parse(line: &str, default_id: Option<&str>) -> Result<Command, String> {
    let parsed = parse_line(line, default_id);
    if parsed.is_err() && default_id.is_none() && parse_line(line, Some("")).is_ok() {
        let name = canonical(word(line).0);
        return Err(format!(
            "no id in use: type 'use ID' first, or give the id ({})",
            usage(name)
        ));
    }
    parsed
}

fn parse_line(line: &str, default_id: Option<&str>) -> Result<Command, String> {
    let (word0, rest) = word(line);
    let name = canonical(word0);
    let usage = || usage(name);
    let id = |rest| -> Result<(String, &str), String> {
        match (default_id, word(rest)) {
            (Some(id), _) => Ok((id.to_string(), rest)),
            (None, ("", _)) => Err(usage()),
            (None, (id, _)) if id.starts_with("--") => Err(usage()),
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
            let (key, rest) = word(rest);
            let (options, value) = set_options(rest)?;
            if key.is_empty() || value.is_empty() {
                return Err(usage());
            }
            Command::Set {
                id,
                key: key.to_string(),
                value: json_or_string(value.trim_end()),
                options,
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

/// The options at the start of `text` (up to the value, or `--`) and the
/// rest of it.
fn set_options(mut text: &str) -> Result<(SetOptions, &str), String> {
    let mut options = SetOptions::new();
    loop {
        let (flag, after) = word(text);
        let (arg, after_arg) = word(after);
        match flag {
            "--ttl" => {
                let ttl = parse_duration(arg).map_err(|e| format!("--ttl: {e}"))?;
                options = options.ttl(ttl);
                text = after_arg;
            }
            "--if-rev" => {
                let rev = arg
                    .parse()
                    .map_err(|_| format!("--if-rev: '{arg}' is not a revision"))?;
                options = options.if_rev(rev);
                text = after_arg;
            }
            "--ephemeral" => {
                options = options.ephemeral(true);
                text = after;
            }
            "--" => return Ok((options, after)),
            _ => return Ok((options, text)),
        }
    }
}

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

/// What the word being typed at the end of a line is, for completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// A command name.
    Command,
    /// An id (of `use`, or of a command when no id is in use).
    Id,
    /// A key (or a prefix of keys) of this id.
    Key(String),
    /// Something else (a value, an option, a token).
    Nothing,
}

/// Where the word being typed at the end of `typed` (the line up to the
/// cursor) starts, and what it is; `default_id` is the id set with `use`.
pub fn completion(typed: &str, default_id: Option<&str>) -> (usize, Completion) {
    let start = typed.rfind(char::is_whitespace).map_or(0, |i| {
        i + typed[i..].chars().next().map_or(1, char::len_utf8)
    });
    let before: Vec<&str> = typed[..start].split_whitespace().collect();
    let Some((&command, args)) = before.split_first() else {
        return (start, Completion::Command);
    };
    if typed[start..].starts_with('-') {
        return (start, Completion::Nothing);
    }
    let name = canonical(command);
    if name == "use" {
        let what = if args.is_empty() {
            Completion::Id
        } else {
            Completion::Nothing
        };
        return (start, what);
    }
    if !matches!(name, "get" | "delete" | "list" | "set" | "sub" | "unsub") {
        return (start, Completion::Nothing);
    }
    // The id, and the words typed after it.
    let (id, args) = match (default_id, args) {
        (Some(id), args) => (id, args),
        (None, []) => return (start, Completion::Id),
        (None, [id, rest @ ..]) => (*id, rest),
    };
    let what = match (name, args) {
        (_, []) | ("sub" | "unsub", ["--prefix" | "-p"]) => Completion::Key(id.to_string()),
        _ => Completion::Nothing,
    };
    (start, what)
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
                value: r#""hello  world""#.into(),
                options: SetOptions::new(),
            }
        );
        assert_eq!(
            ok(r#"set a k {"n": 1}"#, None),
            Command::Set {
                id: "a".into(),
                key: "k".into(),
                value: r#"{"n": 1}"#.into(),
                options: SetOptions::new(),
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
    fn set_takes_options_between_its_key_and_its_value() {
        let set = |line: &str| match ok(line, Some("a")) {
            Command::Set {
                key,
                value,
                options,
                ..
            } => (key, value, options),
            other => panic!("{line}: {other:?}"),
        };
        let ten = std::time::Duration::from_secs(10);
        assert_eq!(
            set("set k --ttl 10s --ephemeral hello  world"),
            (
                "k".into(),
                r#""hello  world""#.into(),
                SetOptions::new().ttl(ten).ephemeral(true)
            )
        );
        assert_eq!(
            set("put k --if-rev 0 {\"n\": 1}"),
            (
                "k".into(),
                r#"{"n": 1}"#.into(),
                SetOptions::new().if_rev(0)
            )
        );
        // After the value, or after '--', an option is part of the value.
        assert_eq!(set("set k 1 --ttl 10s").1, r#""1 --ttl 10s""#);
        assert_eq!(set("set k -- --ttl").1, r#""--ttl""#);
        assert_eq!(set("set k --flag").1, r#""--flag""#);
        assert_eq!(
            parse("set k --ttl soon x", Some("a")).unwrap_err(),
            "--ttl: 'soon' is not a duration"
        );
        assert!(parse("set k --if-rev x 1", Some("a")).is_err());
        assert_eq!(
            parse("set k --ttl 5s", Some("a")).unwrap_err(),
            "usage: set [ID] KEY [OPTIONS] VALUE"
        );
    }

    #[test]
    fn commands_that_need_an_id_say_so_before_use() {
        for line in [
            "get k",
            "delete k",
            "list",
            "set k 1",
            "sub k",
            "sub --prefix p",
        ] {
            let e = parse(line, None).unwrap_err();
            assert!(
                e.starts_with("no id in use: type 'use ID' first"),
                "{line}: {e}"
            );
            assert!(parse(line, Some("a")).is_ok(), "{line}");
        }
        assert_eq!(
            parse("get k", None).unwrap_err(),
            "no id in use: type 'use ID' first, or give the id (usage: get [ID] KEY)"
        );
        // Wrong with or without an id: the usage.
        assert_eq!(parse("get", None).unwrap_err(), "usage: get [ID] KEY");
        assert!(parse("get a k", None).is_ok());
    }

    #[test]
    fn completion_knows_commands_ids_and_keys() {
        let c = |typed: &str, id: Option<&str>| completion(typed, id);
        let key = |id: &str| Completion::Key(id.into());
        assert_eq!(c("", None), (0, Completion::Command));
        assert_eq!(c("ge", None), (0, Completion::Command));
        assert_eq!(c("use ", None), (4, Completion::Id));
        assert_eq!(c("use a", Some("b")), (4, Completion::Id));
        assert_eq!(c("get ", None), (4, Completion::Id));
        assert_eq!(c("get ap", None), (4, Completion::Id));
        assert_eq!(c("get app k", None), (8, key("app")));
        assert_eq!(c("get k", Some("app")), (4, key("app")));
        assert_eq!(c("get k x", Some("app")), (6, Completion::Nothing));
        assert_eq!(c("del  ro", Some("app")), (5, key("app")));
        assert_eq!(c("list room/", Some("app")), (5, key("app")));
        assert_eq!(c("set k", Some("app")), (4, key("app")));
        assert_eq!(c("set k v", Some("app")), (6, Completion::Nothing));
        assert_eq!(c("set app k", None), (8, key("app")));
        assert_eq!(c("sub --prefix ro", Some("app")), (13, key("app")));
        assert_eq!(c("sub app --prefix ro", None), (17, key("app")));
        assert_eq!(c("sub app k", None), (8, key("app")));
        assert_eq!(c("sub --pre", Some("app")), (4, Completion::Nothing));
        assert_eq!(c("auth ", None), (5, Completion::Nothing));
        assert_eq!(c("raw {", None), (4, Completion::Nothing));
    }

    #[test]
    fn lines_with_tokens_are_secret() {
        for line in [
            "auth eyJhbGciOiJIUzI1NiJ9.e30.x",
            "  upgrade t",
            r#"raw {"type":"auth","token":"t"}"#,
        ] {
            assert!(carries_secret(line), "{line}");
        }
        for line in [
            "get a k",
            "author x",
            "set a auth 1",
            r#"raw {"type":"ping"}"#,
            "",
        ] {
            assert!(!carries_secret(line), "{line}");
        }
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
            parse("put k", Some("a")).unwrap_err(),
            "usage: set [ID] KEY [OPTIONS] VALUE"
        );
        for line in [
            "sub",
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
