//! `kvws shell URL`: an interactive prompt over one connection.
//!
//! Two threads. The main thread only reads lines: with rustyline (line
//! editing, history in `~/.kvws_history`, tab completion of command names)
//! when stdin is a terminal, plainly line by line when it is not (scripts,
//! tests). A worker thread owns the connection (a [`Subscriber`], so
//! subscriptions survive a reconnect): it runs each line it is handed,
//! prints the reply, tells the main thread it is done, and between lines
//! prints notifications as they arrive. On a terminal it prints through
//! rustyline's `ExternalPrinter`, which redraws the line being typed
//! instead of garbling it.
//!
//! Every server message is printed as the exact JSON text received, one
//! per line, in the order received: for a command, whatever arrived while
//! waiting for its reply (a prefix snapshot, notifications), then the
//! reply. The main thread waits for the worker before reading on, and at
//! the end of input the worker makes one last round trip and prints what
//! came before its reply, so piped input gives the same output every time.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::mpsc::{self, TryRecvError};
use std::time::Duration;

use getopts::Options;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, ExternalPrinter, Helper};

use crate::client::command::{self, COMMANDS, Command, HELP};
use crate::client::{Error, ListOptions, Notice, Subscriber};

/// How long the worker listens between looking for a new command.
const POLL: Duration = Duration::from_millis(20);

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
    let mut shell = Shell {
        sub,
        id: m.opt_str("id"),
        out: Out::Plain,
    };
    if let Some(token) = common.token {
        shell.run(Ok(Command::Auth(token)));
    }
    if io::stdin().is_terminal() {
        interactive(shell, &m.free[0])
    } else {
        let lines = io::stdin().lock().lines().map_while(Result::ok);
        drive(shell, lines.map(Some), |_| {})
    }
}

/// Reads lines with rustyline, completion and history.
fn interactive(mut shell: Shell, url: &str) -> i32 {
    let mut editor = match rustyline::Editor::<Names, _>::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("cannot set up the terminal: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(Names));
    if let Ok(printer) = editor.create_external_printer() {
        shell.out = Out::Tty(Box::new(printer));
    }
    let history = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".kvws_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!("connected to {url}; 'help' lists the commands");
    let prompt = std::cell::RefCell::new(shell.prompt());
    let lines = std::iter::from_fn(|| match editor.readline(prompt.borrow().as_str()) {
        Ok(line) => {
            let _ = editor.add_history_entry(line.as_str());
            Some(Some(line))
        }
        Err(ReadlineError::Interrupted) => Some(None),
        Err(_) => None,
    });
    let code = drive(shell, lines, |p| *prompt.borrow_mut() = p);
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    code
}

/// Hands each line to the worker and waits until it has run; `None` lines
/// (an interrupted edit) are skipped. Returns at `quit` or end of input.
fn drive(
    shell: Shell,
    lines: impl Iterator<Item = Option<String>>,
    mut on_prompt: impl FnMut(String),
) -> i32 {
    let (jobs, inbox) = mpsc::channel::<(String, mpsc::Sender<String>)>();
    let worker = std::thread::spawn(move || shell.serve(inbox));
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
}

impl Out {
    fn message(&mut self, text: &str) {
        match self {
            Out::Plain => drop(writeln!(io::stdout(), "{text}")),
            Out::Tty(p) => drop(p.print(format!("{text}\n"))),
        }
    }

    fn note(&mut self, text: &str) {
        match self {
            Out::Plain => eprintln!("{text}"),
            Out::Tty(p) => drop(p.print(format!("{text}\n"))),
        }
    }
}

/// The worker's state: the connection, the default id, the output.
struct Shell {
    sub: Subscriber,
    id: Option<String>,
    out: Out,
}

impl Shell {
    fn prompt(&self) -> String {
        match &self.id {
            Some(id) => format!("kvws {id}> "),
            None => "kvws> ".to_string(),
        }
    }

    /// Runs commands as they come; prints notifications in between.
    fn serve(mut self, inbox: mpsc::Receiver<(String, mpsc::Sender<String>)>) {
        loop {
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

    /// Runs one parsed line; prints what arrived before the reply, then
    /// the reply.
    fn run(&mut self, parsed: Result<Command, String>) {
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

/// Completes command names (the first word of the line).
struct Names;

impl Helper for Names {}
impl Highlighter for Names {}
impl Validator for Names {}
impl Hinter for Names {
    type Hint = String;
}

impl Completer for Names {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let typed = &line[..pos];
        if typed.contains(char::is_whitespace) {
            return Ok((pos, Vec::new()));
        }
        let names = COMMANDS.iter().filter(|c| c.starts_with(typed));
        let pairs = names.map(|c| Pair {
            display: c.to_string(),
            replacement: format!("{c} "),
        });
        Ok((0, pairs.collect()))
    }
}
