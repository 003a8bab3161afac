//! Reading a line into a [`Command`]: the arguments of each command word,
//! the options of `set`, the topic of `sub` and `unsub`, and the usage
//! message for a line that does not fit.

use super::{Command, HELP, canonical, word};
use crate::client::request::{SetOptions, Topic, json_or_string};
use crate::units::parse_duration;

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

/// The usage of `name`, from its line in [`HELP`].
fn usage(name: &str) -> String {
    let line = HELP
        .lines()
        .map(str::trim)
        .find(|l| word(l).0 == name)
        .map_or(name, |l| l.split("  ").next().unwrap_or(l));
    format!("usage: {line}")
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
