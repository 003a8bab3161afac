//! `kvws shell URL`: an interactive prompt over one connection.
//!
//! Two threads. The main thread only reads lines: with rustyline (line
//! editing, history in `~/.kvws_history`, tab completion of commands, ids
//! and keys: `complete.rs`) when stdin is a terminal, plainly line by line
//! when it is not (scripts, tests). A worker thread owns the connection (a
//! [`Subscriber`], so subscriptions survive a reconnect): it runs each line
//! it is handed, prints the reply, tells the main thread it is done, and
//! between lines prints notifications as they arrive and answers the
//! completer's questions for keys. On a terminal it prints through
//! rustyline's `ExternalPrinter`, which redraws the line being typed
//! instead of garbling it.
//!
//! History is appended to its file line by line, so a shell ended by
//! Ctrl-C while a command runs (SIGINT ends it, as it does `watch`) keeps
//! it; lines that carry a token (`auth`, `upgrade`) are never written
//! there, and are taken out of a history file that has them.
//!
//! Every server message is printed as the exact JSON text received, one
//! per line, in the order received: for a command, whatever arrived while
//! waiting for its reply (a prefix snapshot, notifications), then the
//! reply. The main thread waits for the worker before reading on, and at
//! the end of input the worker makes one last round trip and prints what
//! came before its reply, so piped input gives the same output every time.
//!
//! ```text
//! mod.rs     the command line of `kvws shell`, and handing lines to the worker
//! editor.rs  the line editor: rustyline, completion, the history file
//! worker.rs  the worker: the connection, running commands, notifications
//! out.rs     where the worker prints (stdout and stderr, or the terminal)
//! ```

mod editor;
mod out;
#[cfg(test)]
mod tests;
mod worker;

use std::io::{self, BufRead, IsTerminal};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use getopts::Options;

use super::complete::Ids;
use crate::client::command::{self, Command, HELP};
use crate::client::{Error, Subscriber};
use out::Out;
use worker::Shell;

/// How long the completer waits for keys (and the worker for the server's
/// answer to its `list`).
const LOOKUP: Duration = Duration::from_millis(500);

/// A question for keys from the completer: id, prefix, where to answer.
type Lookup = (String, String, mpsc::Sender<Option<(Vec<String>, bool)>>);

/// Runs the interactive shell; returns the exit code (0, 2 usage, 3 when
/// the server cannot be reached).
pub fn run(program: &str, args: &[String]) -> i32 {
    let name = format!("{program} shell");
    let mut o = Options::new();
    super::client::common_options(&mut o);
    o.optopt("", "id", "the default id (see 'use')", "ID");
    let m = match o.parse(args) {
        Ok(m) if m.opt_present("help") => {
            let usage = o.usage(&format!("Usage: {name} URL [OPTIONS]"));
            print!("{usage}\n{HELP}\n");
            return 0;
        }
        Ok(m) if m.free.len() == 1 => m,
        Ok(_) => return super::usage_error(&name, "expected URL"),
        Err(e) => return super::usage_error(&name, &e.to_string()),
    };
    let common = match super::client::Common::new(&m) {
        Ok(common) => common,
        Err(e) => return super::usage_error(&name, &e),
    };
    let sub = match Subscriber::connect(&m.free[0], common.options) {
        Ok(sub) => sub,
        Err(e) => {
            eprintln!("{name}: {e}");
            return if matches!(e, Error::BadInput(_)) {
                2
            } else {
                3
            };
        }
    };
    let ids = Arc::new(Mutex::new(Ids::default()));
    let id = m.opt_str("id");
    if let Some(id) = &id {
        ids.lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_current(id);
    }
    let mut shell = Shell {
        sub,
        id,
        out: Out::Plain,
        ids,
    };
    if let Some(token) = common.token {
        shell.run(Ok(Command::Auth(token)));
    }
    if io::stdin().is_terminal() {
        editor::interactive(shell, &m.free[0])
    } else {
        let lines = io::stdin().lock().lines().map_while(Result::ok);
        drive(shell, mpsc::channel().1, lines.map(Some), |_| {})
    }
}

/// Hands each line to the worker and waits until it has run; `None` lines
/// (an interrupted edit) are skipped. Returns at `quit` or end of input.
fn drive(
    shell: Shell,
    lookups: mpsc::Receiver<Lookup>,
    lines: impl Iterator<Item = Option<String>>,
    mut on_prompt: impl FnMut(String),
) -> i32 {
    let (jobs, inbox) = mpsc::channel::<(String, mpsc::Sender<String>)>();
    let worker = std::thread::spawn(move || shell.serve(inbox, lookups));
    for line in lines.flatten() {
        let line = line.trim();
        if command::parse(line, None) == Ok(Command::Quit) {
            break;
        }
        let (done, wait) = mpsc::channel();
        if jobs.send((line.to_string(), done)).is_err() {
            break;
        }
        match wait.recv() {
            Ok(prompt) => on_prompt(prompt),
            Err(_) => break,
        }
    }
    drop(jobs);
    let _ = worker.join();
    0
}
