//! Tab completion in `kvws shell`: command names, the ids this session has
//! used (the protocol has no way to list ids), and the keys of an id, asked
//! of the server with `list`.
//!
//! Completion runs on the thread that reads lines, while the connection
//! belongs to the worker thread (see `shell.rs`), so keys come through a
//! [`KeySource`]: the shell's hands the question to the worker and waits a
//! moment for the answer. It stays cheap: an answer is one page of at most
//! [`KEYS`] keys, it is kept for [`KEEP`] (holding Tab asks once), and a
//! prefix whose keys all fitted in one answer serves the longer prefixes
//! typed after it without asking again.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::client::command::{self, COMMANDS, Completion};

/// Most keys asked for at once.
pub const KEYS: usize = 200;
/// How long an answer is used before the server is asked again.
pub const KEEP: Duration = Duration::from_secs(2);
/// Answers kept at once.
const ANSWERS: usize = 16;
/// Ids remembered.
const IDS: usize = 256;

/// The ids of a session: the one in use and the ones used, most recent
/// last. The worker records them; the completer offers them.
#[derive(Debug, Default)]
pub struct Ids {
    current: Option<String>,
    used: VecDeque<String>,
}

impl Ids {
    /// `id` is now the one in use (`use ID`, `--id`).
    pub fn set_current(&mut self, id: &str) {
        self.current = Some(id.to_string());
        self.used(id);
    }

    /// The id in use.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// `id` was used by a command.
    pub fn used(&mut self, id: &str) {
        self.used.retain(|i| i != id);
        if self.used.len() == IDS {
            self.used.pop_front();
        }
        self.used.push_back(id.to_string());
    }

    fn starting_with(&self, prefix: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .used
            .iter()
            .filter(|i| i.starts_with(prefix))
            .cloned()
            .collect();
        ids.sort();
        ids
    }
}

/// Asks for the keys of `id` starting with `prefix`: at most [`KEYS`], and
/// whether there are more; `None` when they cannot be had now.
pub type KeySource = Box<dyn Fn(&str, &str) -> Option<(Vec<String>, bool)>>;

/// One answer of the key source.
struct Answer {
    id: String,
    prefix: String,
    at: Instant,
    keys: Vec<String>,
    /// Every key with the prefix is there.
    complete: bool,
}

/// The shell's line helper: completion, nothing else.
pub struct Completions {
    ids: Arc<Mutex<Ids>>,
    source: KeySource,
    answers: RefCell<VecDeque<Answer>>,
}

impl Completions {
    /// Completes with the ids in `ids` and the keys from `source`.
    pub fn new(ids: Arc<Mutex<Ids>>, source: KeySource) -> Completions {
        Completions {
            ids,
            source,
            answers: RefCell::new(VecDeque::new()),
        }
    }

    /// Where the word before `pos` in `line` starts, and what it may be.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let typed = &line[..pos];
        // Let go of the ids before asking for keys: the worker records ids.
        let (start, what, ids) = {
            let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
            let (start, what) = command::completion(typed, ids.current());
            (start, what, ids.starting_with(&typed[start..]))
        };
        let word = &typed[start..];
        let names = match what {
            Completion::Command => {
                let names = COMMANDS.iter().filter(|c| c.starts_with(word));
                names.map(|c| c.to_string()).collect()
            }
            Completion::Id => ids,
            Completion::Key(id) => self.keys(&id, word),
            Completion::Nothing => Vec::new(),
        };
        (start, names)
    }

    /// The keys of `id` starting with `prefix` that can be typed as one
    /// word: from an answer still fresh, else from the source.
    fn keys(&self, id: &str, prefix: &str) -> Vec<String> {
        let mut answers = self.answers.borrow_mut();
        answers.retain(|a| a.at.elapsed() < KEEP);
        let known = answers.iter().find(|a| {
            a.id == id && (a.prefix == prefix || (a.complete && prefix.starts_with(&a.prefix)))
        });
        let keys = match known {
            Some(answer) => &answer.keys,
            None => {
                let Some((keys, more)) = (self.source)(id, prefix) else {
                    return Vec::new();
                };
                if answers.len() == ANSWERS {
                    answers.pop_front();
                }
                answers.push_back(Answer {
                    id: id.to_string(),
                    prefix: prefix.to_string(),
                    at: Instant::now(),
                    keys,
                    complete: !more,
                });
                &answers.back().expect("just pushed").keys
            }
        };
        keys.iter()
            .filter(|k| k.starts_with(prefix) && !k.contains(char::is_whitespace))
            .cloned()
            .collect()
    }
}

impl Helper for Completions {}
impl Highlighter for Completions {}
impl Validator for Completions {}
impl Hinter for Completions {
    type Hint = String;
}

impl Completer for Completions {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, names) = self.candidates(line, pos);
        let pairs = names.into_iter().map(|name| Pair {
            replacement: format!("{name} "),
            display: name,
        });
        Ok((start, pairs.collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A completer over the keys `keys` of every id, answering at most
    /// `page` at a time in byte order (as the server does); counts the
    /// questions.
    fn completer(keys: &[&str], page: usize) -> (Completions, Arc<Mutex<Ids>>, Rc<Cell<usize>>) {
        let ids = Arc::new(Mutex::new(Ids::default()));
        let asked = Rc::new(Cell::new(0));
        let count = Rc::clone(&asked);
        let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        keys.sort();
        let source: KeySource = Box::new(move |_id: &str, prefix: &str| {
            count.set(count.get() + 1);
            let all: Vec<String> = keys
                .iter()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            let more = all.len() > page;
            Some((all.into_iter().take(page).collect(), more))
        });
        (Completions::new(Arc::clone(&ids), source), ids, asked)
    }

    #[test]
    fn commands_then_ids_then_keys() {
        let (c, ids, _) = completer(&["room/a", "room/b", "other", "with space"], 100);
        assert_eq!(c.candidates("su", 2), (0, vec!["sub".to_string()]));
        assert_eq!(c.candidates("get ", 4), (4, vec![]), "no id used yet");
        ids.lock().unwrap().used("app");
        ids.lock().unwrap().used("bench");
        assert_eq!(c.candidates("get ", 4).1, ["app", "bench"]);
        assert_eq!(c.candidates("use b", 5).1, ["bench"]);
        assert_eq!(
            c.candidates("get app ro", 10),
            (8, vec!["room/a".into(), "room/b".into()])
        );
        ids.lock().unwrap().set_current("app");
        assert_eq!(c.candidates("get ", 4).1, ["other", "room/a", "room/b"]);
        assert_eq!(
            c.candidates("sub --prefix room/", 18).1,
            ["room/a", "room/b"]
        );
        assert_eq!(c.candidates("set other 1", 11).1, Vec::<String>::new());
        // The cursor, not the end of the line, decides.
        assert_eq!(
            c.candidates("get ro xyz", 6),
            (4, vec!["room/a".into(), "room/b".into()])
        );
    }

    #[test]
    fn answers_are_kept_and_narrowed_without_asking_again() {
        let (c, ids, asked) = completer(&["room/a", "room/b", "other"], 100);
        ids.lock().unwrap().set_current("app");
        c.candidates("get ", 4);
        assert_eq!(asked.get(), 1);
        c.candidates("get ", 4);
        assert_eq!(asked.get(), 1, "kept");
        assert_eq!(c.candidates("get room/b", 10).1, ["room/b"]);
        assert_eq!(asked.get(), 1, "narrowed from the complete answer");
        ids.lock().unwrap().set_current("other-id");
        c.candidates("get ", 4);
        assert_eq!(asked.get(), 2, "another id is asked for");
    }

    #[test]
    fn a_partial_answer_is_not_narrowed() {
        let (c, ids, asked) = completer(&["a1", "a2", "a3", "b1"], 2);
        ids.lock().unwrap().set_current("app");
        assert_eq!(c.candidates("get ", 4).1, ["a1", "a2"]);
        assert_eq!(c.candidates("get b", 5).1, ["b1"]);
        assert_eq!(asked.get(), 2);
    }

    #[test]
    fn ids_are_bounded_and_most_recent_is_kept() {
        let mut ids = Ids::default();
        for n in 0..IDS + 10 {
            ids.used(&format!("id{n}"));
        }
        ids.used("id5");
        assert_eq!(ids.used.len(), IDS);
        assert_eq!(ids.used.back().map(String::as_str), Some("id5"));
        assert!(ids.starting_with("id0").is_empty(), "the oldest went");
    }
}
