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

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use getopts::Options;
use rustyline::error::ReadlineError;
use rustyline::history::History;
use rustyline::{Editor, ExternalPrinter};

use super::complete::{Completions, Ids, KEYS, KeySource};
use crate::client::command::{self, Command, HELP};
use crate::client::{Error, ListOptions, Notice, Subscriber};

/// How long the worker listens between looking for a new command.
const POLL: Duration = Duration::from_millis(20);
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
        interactive(shell, &m.free[0])
    } else {
        let lines = io::stdin().lock().lines().map_while(Result::ok);
        drive(shell, mpsc::channel().1, lines.map(Some), |_| {})
    }
}

/// Reads lines with rustyline, completion and history.
fn interactive(mut shell: Shell, url: &str) -> i32 {
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
fn key_source(ask: mpsc::Sender<Lookup>) -> KeySource {
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

/// Where the worker prints.
enum Out {
    /// Straight to stdout (server messages) and stderr (everything else).
    Plain,
    /// Through rustyline, above the line being edited.
    Tty(Box<dyn ExternalPrinter + Send>),
    /// Nowhere.
    #[cfg(test)]
    Quiet,
}

impl Out {
    fn message(&mut self, text: &str) {
        match self {
            Out::Plain => drop(writeln!(io::stdout(), "{text}")),
            Out::Tty(p) => drop(p.print(format!("{text}\n"))),
            #[cfg(test)]
            Out::Quiet => {}
        }
    }

    fn note(&mut self, text: &str) {
        match self {
            Out::Plain => eprintln!("{text}"),
            Out::Tty(p) => drop(p.print(format!("{text}\n"))),
            #[cfg(test)]
            Out::Quiet => {}
        }
    }
}

/// The worker's state: the connection, the default id, the output, and
/// the ids used, for completion.
struct Shell {
    sub: Subscriber,
    id: Option<String>,
    out: Out,
    ids: Arc<Mutex<Ids>>,
}

impl Shell {
    fn prompt(&self) -> String {
        match &self.id {
            Some(id) => format!("kvws {id}> "),
            None => "kvws> ".to_string(),
        }
    }

    /// Runs commands as they come; prints notifications and answers
    /// questions for keys in between.
    fn serve(
        mut self,
        inbox: mpsc::Receiver<(String, mpsc::Sender<String>)>,
        lookups: mpsc::Receiver<Lookup>,
    ) {
        loop {
            while let Ok((id, prefix, answer)) = lookups.try_recv() {
                let _ = answer.send(self.keys(&id, &prefix));
            }
            match inbox.try_recv() {
                Ok((line, done)) => {
                    self.run(command::parse(&line, self.id.as_deref()));
                    let _ = done.send(self.prompt());
                }
                Err(TryRecvError::Disconnected) => {
                    // The end of input: a last round trip makes sure that
                    // everything sent before it has arrived, and printed.
                    if let Ok(c) = self.sub.client() {
                        let _ = c.get("kvws", "shell");
                    }
                    while let Some(notice) = self.sub.queued() {
                        self.show(notice);
                    }
                    return;
                }
                Err(TryRecvError::Empty) => match self.sub.next(Some(POLL)) {
                    Ok(Some(notice)) => self.show(notice),
                    Ok(None) => {}
                    Err(e) => self.out.note(&format!("error: {e}")),
                },
            }
        }
    }

    fn show(&mut self, notice: Notice) {
        match notice {
            Notice::Event(e) => self.out.message(&e.text),
            Notice::Lost(e) => self.out.note(&format!("{e}; reconnecting")),
            Notice::RetryFailed { error, retry_in } => {
                self.out.note(&format!("{error}; retrying in {retry_in:?}"));
            }
            Notice::Reconnected => self.out.note("reconnected"),
            Notice::Resumed { since, reply, .. } => {
                let how = if reply.resync { "resync" } else { "replayed" };
                self.out.note(&format!("resumed after rev {since} ({how})"));
                self.out.message(&reply.text);
            }
            Notice::Refused { topic, error, .. } => {
                self.out.note(&format!("{topic:?} not resumed: {error}"));
            }
        }
    }

    /// The first keys of `id` starting with `prefix`, for completion, and
    /// whether there are more; `None` when they cannot be had now.
    fn keys(&mut self, id: &str, prefix: &str) -> Option<(Vec<String>, bool)> {
        let c = self.sub.client().ok()?;
        let timeout = c.options().request_timeout;
        c.set_request_timeout(LOOKUP);
        let page = c.list(id, &ListOptions::prefix(prefix).limit(KEYS as u64));
        c.set_request_timeout(timeout);
        page.ok().map(|page| (page.keys, page.more))
    }

    /// Runs one parsed line; prints what arrived before the reply, then
    /// the reply.
    fn run(&mut self, parsed: Result<Command, String>) {
        if let Some(id) = parsed.as_ref().ok().and_then(Command::id) {
            self.ids.lock().unwrap_or_else(|e| e.into_inner()).used(id);
        }
        let result = match parsed {
            Ok(command) => self.execute(command),
            Err(usage) => Err(Error::BadInput(usage)),
        };
        while let Some(notice) = self.sub.queued() {
            self.show(notice);
        }
        match result {
            Ok(Some(reply)) => self.out.message(&reply),
            Ok(None) => {}
            Err(Error::Server { text, .. }) => self.out.message(&text),
            Err(Error::BadInput(what)) => self.out.note(&format!("error: {what}")),
            Err(e) => self.out.note(&format!("error: {e}")),
        }
    }

    /// Runs one command; returns the text to print (the server's reply).
    fn execute(&mut self, command: Command) -> Result<Option<String>, Error> {
        let s = &mut self.sub;
        let reply = match command {
            Command::Empty | Command::Quit => return Ok(None),
            Command::Help => HELP.to_string(),
            Command::Use(id) => {
                self.ids
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set_current(&id);
                self.id = Some(id);
                return Ok(None);
            }
            Command::Auth(token) => s.auth(&token)?.text,
            Command::Upgrade(token) => s.upgrade(&token)?.text,
            Command::Raw(json) => s.client()?.request(&json)?.text,
            Command::Get { id, key } => s.client()?.get(&id, &key)?.text,
            Command::Set {
                id,
                key,
                value,
                options,
            } => s.client()?.set(&id, &key, &value, &options)?.text,
            Command::Delete { id, key } => s.client()?.delete(&id, &key, None)?.text,
            Command::Subscribe { id, topic, since } => s.subscribe(&id, topic, since)?.text,
            Command::Unsubscribe { id, topic } => s.unsubscribe(&id, &topic)?.text,
            Command::List { id, prefix } => {
                let c = s.client()?;
                let mut opts = ListOptions::prefix(prefix).limit(1000);
                let mut pages = Vec::new();
                loop {
                    let page = c.list(&id, &opts)?;
                    pages.push(page.text);
                    match page.keys.last() {
                        Some(last) if page.more => opts.after = Some(last.clone()),
                        _ => break pages.join("\n"),
                    }
                }
            }
        };
        Ok(Some(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Client, ConnectOptions, SetOptions};

    #[test]
    fn the_worker_answers_the_completer_with_keys_and_ids_used() {
        let mut server = crate::Server::bind(crate::Config::default().port(0)).unwrap();
        let url = format!("ws://{}/", server.local_addr());
        let handle = server.handle();
        let running = std::thread::spawn(move || server.run().unwrap());
        let mut c = Client::connect(&url).unwrap();
        for key in ["room/a", "room/b", "x"] {
            c.set("app", key, "1", &SetOptions::new()).unwrap();
        }
        let ids = Arc::new(Mutex::new(Ids::default()));
        let shell = Shell {
            sub: Subscriber::connect(&url, ConnectOptions::default()).unwrap(),
            id: None,
            out: Out::Quiet,
            ids: Arc::clone(&ids),
        };
        let (ask, lookups) = mpsc::channel();
        let (jobs, inbox) = mpsc::channel();
        let worker = std::thread::spawn(move || shell.serve(inbox, lookups));
        let run = |line: &str| {
            let (done, wait) = mpsc::channel();
            jobs.send((line.to_string(), done)).unwrap();
            wait.recv().unwrap()
        };
        let completions = Completions::new(Arc::clone(&ids), key_source(ask));
        assert_eq!(completions.candidates("get ", 4).1, Vec::<String>::new());
        run("get app x");
        assert_eq!(completions.candidates("get ", 4).1, ["app"]);
        assert_eq!(
            completions.candidates("get app room", 12).1,
            ["room/a", "room/b"]
        );
        assert_eq!(run("use app"), "kvws app> ");
        assert_eq!(
            completions.candidates("del ", 4).1,
            ["room/a", "room/b", "x"]
        );
        drop(jobs);
        worker.join().unwrap();
        drop(c);
        handle.shutdown();
        running.join().unwrap();
    }
}
