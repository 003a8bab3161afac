//! The worker thread of the shell: it owns the connection, runs each line
//! it is handed and prints the reply, and between lines prints
//! notifications and answers the completer's questions for keys.

use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::out::Out;
use super::{LOOKUP, Lookup};
use crate::cli::complete::{Ids, KEYS};
use crate::client::command::{self, Command, HELP};
use crate::client::{Error, ListOptions, Notice, Subscriber};

/// How long the worker listens between looking for a new command.
const POLL: Duration = Duration::from_millis(20);

/// The worker's state: the connection, the default id, the output, and
/// the ids used, for completion.
pub(super) struct Shell {
    pub(super) sub: Subscriber,
    pub(super) id: Option<String>,
    pub(super) out: Out,
    pub(super) ids: Arc<Mutex<Ids>>,
}

impl Shell {
    pub(super) fn prompt(&self) -> String {
        match &self.id {
            Some(id) => format!("kvws {id}> "),
            None => "kvws> ".to_string(),
        }
    }

    /// Runs commands as they come; prints notifications and answers
    /// questions for keys in between.
    pub(super) fn serve(
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
    pub(super) fn run(&mut self, parsed: Result<Command, String>) {
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
