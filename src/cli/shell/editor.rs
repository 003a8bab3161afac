//! The line editor of an interactive shell: rustyline with completion,
//! the history file (never with a token in it), and the completer's way of
//! asking the worker for keys.
//!
//! Only used when stdin is a terminal; piped input skips all of it, so a
//! script's output does not depend on a terminal.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use rustyline::Editor;
use rustyline::error::ReadlineError;
use rustyline::history::History;

use super::out::Out;
use super::worker::Shell;
use super::{LOOKUP, Lookup, drive};
use crate::cli::complete::{Completions, KeySource};
use crate::client::command;

/// Reads lines with rustyline, completion and history.
pub(super) fn interactive(mut shell: Shell, url: &str) -> i32 {
    let mut editor = match Editor::<Completions, _>::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("cannot set up the terminal: {e}");
            return 1;
        }
    };
    let (ask, lookups) = mpsc::channel::<Lookup>();
    let keys = key_source(ask);
    editor.set_helper(Some(Completions::new(Arc::clone(&shell.ids), keys)));
    if let Ok(printer) = editor.create_external_printer() {
        shell.out = Out::Tty(Box::new(printer));
    }
    let history = std::env::var_os("HOME").map(|h| Path::new(&h).join(".kvws_history"));
    if let Some(path) = &history {
        load_history(&mut editor, path);
    }
    println!("connected to {url}; 'help' lists the commands");
    let prompt = std::cell::RefCell::new(shell.prompt());
    let lines = std::iter::from_fn(|| match editor.readline(prompt.borrow().as_str()) {
        Ok(line) => {
            if !command::carries_secret(&line) {
                let _ = editor.add_history_entry(line.as_str());
                if let Some(path) = &history {
                    let _ = editor.append_history(path);
                }
            }
            Some(Some(line))
        }
        Err(ReadlineError::Interrupted) => Some(None),
        Err(_) => None,
    });
    drive(shell, lookups, lines, |p| *prompt.borrow_mut() = p)
}

/// Keys for the completer: asked of the worker through `ask`, waiting at
/// most [`LOOKUP`] for the answer.
pub(super) fn key_source(ask: mpsc::Sender<Lookup>) -> KeySource {
    Box::new(move |id, prefix| {
        let (answer, answered) = mpsc::channel();
        ask.send((id.to_string(), prefix.to_string(), answer))
            .ok()?;
        answered.recv_timeout(LOOKUP).ok().flatten()
    })
}

/// Loads the history file, and rewrites it without any line that carries
/// a token (written there before such lines were left out).
fn load_history(editor: &mut Editor<Completions, rustyline::history::FileHistory>, path: &Path) {
    if editor.load_history(path).is_err() {
        return;
    }
    let history = editor.history();
    let kept: Vec<String> = history
        .iter()
        .filter(|line| !command::carries_secret(line))
        .cloned()
        .collect();
    if kept.len() == history.len() {
        return;
    }
    let _ = editor.clear_history();
    for line in kept {
        let _ = editor.add_history_entry(line);
    }
    let _ = editor.save_history(path);
}
