//! What the word being typed at the end of a line is, so that a front end
//! can complete it: a command, an id, or a key of which id.
//!
//! Apart from parsing because it reads an unfinished line: it never fails,
//! it only says what could come next.

use super::canonical;

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
