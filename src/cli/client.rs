//! `kvws get|set|delete|watch|list URL ID ...`: one request (or one watch)
//! from the command line, over [`crate::client`].
//!
//! Output is made for pipes: `get` and `set` print the value as JSON (a
//! string quoted, `null` for a missing key), `list` one key per line,
//! `watch` one server message per line exactly as received; `--json`
//! prints the server's full reply instead. The exit code says what kind of
//! failure it was, so scripts can tell "the server said no" (1) from "you
//! typed it wrong" (2) from "the server is not there" (3). Messages go to
//! stderr, prefixed with the command.

use std::io::{self, Read, Write};
use std::time::Duration;

use getopts::{Matches, Options};
use log::LevelFilter;

use crate::client::{
    Client, ConnectOptions, Endpoint, Error, Notice, SetOptions, Subscriber, Topic, check_json,
    json_or_string, json_string,
};
use crate::units::{parse_duration, show_duration};

/// Exit code: the server answered with an error.
const SERVER_ERROR: i32 = 1;
/// Exit code: the command line is wrong.
const USAGE: i32 = 2;
/// Exit code: no connection, or it was lost (or the server did not answer).
const CONNECTION: i32 = 3;

/// What one command takes: positional arguments, and what it does.
#[rustfmt::skip]
fn spec(command: &str) -> (&'static str, &'static str) {
    match command {
        "get" => ("URL ID KEY", "Print the value of a key as JSON (null when absent)."),
        "set" => ("URL ID KEY VALUE",
            "Store VALUE: as JSON when it parses as JSON, else as a string (hello is\n\
             stored as \"hello\"); --strict-json refuses what is not JSON (exit 2),\n\
             --string stores it as a string even when it is JSON (42 as \"42\").\n\
             '-' reads it from stdin; put '--' before a value starting with '-'.\n\
             Prints the stored value."),
        "delete" => ("URL ID KEY", "Delete a key; prints true, or false when there was none."),
        "watch" => ("URL ID (KEY | --prefix PREFIX)",
            "Subscribe and print every message as received, one JSON line each.\n\
             A lost connection is resumed with 'since' (said on stderr)."),
        _ => ("URL ID", "Print every key (under --prefix), one per line."),
    }
}

/// Options beyond the common ones: (commands, name, help, value hint or
/// "" for a flag).
#[rustfmt::skip]
const EXTRA: [(&str, &str, &str, &str); 9] = [
    ("set", "ttl", "the key expires after TIME", "TIME"),
    ("set", "strict-json", "VALUE must be JSON: exit 2 (saying why) if not", ""),
    ("set", "string", "store VALUE as a JSON string, even 42 or {...}", ""),
    ("set delete", "if-rev", "only if the key's revision is N (0: absent)", "N"),
    ("watch", "prefix", "watch every key starting with PREFIX", "PREFIX"),
    ("list", "prefix", "only keys starting with PREFIX", "PREFIX"),
    ("watch", "since", "start after revision REV (replay from there)", "REV"),
    ("watch", "no-reconnect", "exit (code 3) when the connection is lost", ""),
    ("get set delete list watch", "json", "print the server's full reply message", ""),
];

/// The options the client commands and the shell share.
pub(super) fn common_options(o: &mut Options) {
    o.optflag("h", "help", "print this help and exit");
    let token = "authenticate with TOKEN first (default: env KVWS_TOKEN)";
    o.optopt("", "token", token, "TOKEN");
    let timeout = "time to connect and for each reply (default 5s)";
    o.optopt("", "timeout", timeout, "TIME");
    let level = "error, warn, info, debug or trace (default warn)";
    o.optopt("l", "log-level", level, "LEVEL");
    #[cfg(feature = "tls")]
    super::ca_file_option(o);
}

/// The common options, read; also sets up logging.
pub(super) struct Common {
    /// The token to authenticate with, if any.
    pub token: Option<String>,
    /// The timeouts.
    pub options: ConnectOptions,
}

impl Common {
    pub(super) fn new(m: &Matches) -> Result<Common, String> {
        let timeout = match m.opt_str("timeout") {
            Some(t) => parse_duration(&t).map_err(|e| format!("--timeout: {e}"))?,
            None => Duration::from_secs(5),
        };
        if timeout.is_zero() {
            return Err("--timeout must be above 0".into());
        }
        let level = m.opt_str("log-level").unwrap_or_else(|| "warn".into());
        let level: LevelFilter = level
            .parse()
            .map_err(|_| format!("--log-level: '{level}' is not a log level"))?;
        let _ = simple_logger::SimpleLogger::new()
            .with_level(level)
            .with_module_level("tungstenite", LevelFilter::Warn)
            .with_module_level("rustyline", LevelFilter::Warn)
            .init();
        let token = m
            .opt_str("token")
            .or_else(|| std::env::var("KVWS_TOKEN").ok());
        let options = ConnectOptions::timeout(timeout);
        #[cfg(feature = "tls")]
        let options = match m.opt_str("ca-file") {
            Some(file) => options.with_ca_file(file),
            None => options,
        };
        Ok(Common {
            token: token.filter(|t| !t.is_empty()),
            options,
        })
    }
}

/// Runs a client subcommand `command` with `args`; returns the exit code:
/// 0 success, 1 server error, 2 usage error, 3 connection failure.
pub fn run(program: &str, command: &str, args: &[String]) -> i32 {
    let name = format!("{program} {command}");
    let mut opts = Options::new();
    common_options(&mut opts);
    for (commands, long, help, hint) in EXTRA {
        match hint {
            _ if !commands.split(' ').any(|c| c == command) => {}
            "" => drop(opts.optflag("", long, help)),
            _ => drop(opts.optopt("", long, help, hint)),
        }
    }
    let m = match opts.parse(args) {
        Ok(m) => m,
        Err(e @ getopts::Fail::UnrecognizedOption(_)) if command == "set" => {
            let hint = format!("{e} (put '--' before a value that starts with '-')");
            return super::usage_error(&name, &hint);
        }
        Err(e) => return super::usage_error(&name, &e.to_string()),
    };
    let (positional, about) = spec(command);
    if m.opt_present("help") {
        let brief = format!("Usage: {name} {positional} [OPTIONS]\n\n{about}");
        print!("{}", opts.usage(&brief));
        println!(
            "\nExit codes: 0 ok, 1 server error, 2 usage error, 3 connection failure,\n\
             130 interrupted (Ctrl-C)."
        );
        return 0;
    }
    let wanted = match command {
        "get" | "delete" => 3,
        "set" => 4,
        "watch" if !m.opt_present("prefix") => 3,
        _ => 2,
    };
    if m.free.len() != wanted {
        return super::usage_error(&name, &format!("expected {positional}"));
    }
    if let Err(e) = Endpoint::parse(&m.free[0]) {
        return super::usage_error(&name, &e.to_string());
    }
    let cmd = match Common::new(&m) {
        Ok(common) => Command {
            args: m.free.clone(),
            json: m.opt_present("json"),
            common,
        },
        Err(e) => return super::usage_error(&name, &e),
    };
    let result = match command {
        "watch" => return watch(&name, &cmd, &m),
        "get" => get(&cmd),
        "set" => set(&cmd, &m),
        "delete" => delete(&cmd, &m),
        _ => list(&cmd, &m),
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail(&name, &e),
    }
}

/// A checked command line.
struct Command {
    args: Vec<String>,
    json: bool,
    common: Common,
}

impl Command {
    fn connect(&self) -> Result<Client, Error> {
        let mut client = Client::connect_with(&self.args[0], &self.common.options)?;
        if let Some(token) = &self.common.token {
            client.auth(token)?;
        }
        Ok(client)
    }

    /// Prints `plain`, or the server's `full` reply with `--json`.
    fn print(&self, plain: &str, full: &str) -> Result<(), Error> {
        line(if self.json { full } else { plain })
    }
}

fn line(text: &str) -> Result<(), Error> {
    writeln!(io::stdout(), "{text}").map_err(|e| Error::BadInput(format!("stdout: {e}")))
}

fn number(m: &Matches, name: &str) -> Result<Option<u64>, Error> {
    m.opt_str(name)
        .map(|v| {
            v.parse()
                .map_err(|_| Error::BadInput(format!("--{name}: '{v}' is not a revision")))
        })
        .transpose()
}

/// Reports `e` on stderr; returns the exit code for it.
fn fail(name: &str, e: &Error) -> i32 {
    eprintln!("{name}: {e}");
    match e {
        Error::Server { .. } | Error::Protocol(_) => SERVER_ERROR,
        Error::BadInput(_) => USAGE,
        _ => CONNECTION,
    }
}

fn get(cmd: &Command) -> Result<(), Error> {
    let mut c = cmd.connect()?;
    let entry = c.get(&cmd.args[1], &cmd.args[2])?;
    cmd.print(&entry.value, &entry.text)?;
    let _ = c.close();
    Ok(())
}

fn set(cmd: &Command, m: &Matches) -> Result<(), Error> {
    let mut opts = SetOptions::new();
    if let Some(rev) = number(m, "if-rev")? {
        opts = opts.if_rev(rev);
    }
    if let Some(ttl) = m.opt_str("ttl") {
        let ttl = parse_duration(&ttl).map_err(|e| Error::BadInput(format!("--ttl: {e}")))?;
        opts = opts.ttl(ttl);
    }
    let typed = &cmd.args[3];
    let mut stdin = String::new();
    let text = if typed == "-" {
        io::stdin()
            .read_to_string(&mut stdin)
            .map_err(|e| Error::BadInput(format!("reading stdin: {e}")))?;
        let text = stdin.strip_suffix('\n').unwrap_or(&stdin);
        text.strip_suffix('\r').unwrap_or(text)
    } else {
        typed
    };
    let value = match (m.opt_present("strict-json"), m.opt_present("string")) {
        (true, true) => {
            return Err(Error::BadInput(
                "--strict-json and --string contradict each other".into(),
            ));
        }
        (true, false) => check_json(text)?.to_string(),
        (false, true) => json_string(text),
        (false, false) => json_or_string(text),
    };
    let mut c = cmd.connect()?;
    let entry = c.set(&cmd.args[1], &cmd.args[2], &value, &opts)?;
    cmd.print(&entry.value, &entry.text)?;
    let _ = c.close();
    Ok(())
}

fn delete(cmd: &Command, m: &Matches) -> Result<(), Error> {
    let if_rev = number(m, "if-rev")?;
    let mut c = cmd.connect()?;
    let deleted = c.delete(&cmd.args[1], &cmd.args[2], if_rev)?;
    cmd.print(
        if deleted.rev > 0 { "true" } else { "false" },
        &deleted.text,
    )?;
    let _ = c.close();
    Ok(())
}

fn list(cmd: &Command, m: &Matches) -> Result<(), Error> {
    let prefix = m.opt_str("prefix").unwrap_or_default();
    let mut c = cmd.connect()?;
    let mut printed = Ok(());
    c.list_pages(&cmd.args[1], &prefix, |page| {
        if cmd.json {
            printed = printed.clone().and_then(|()| line(&page.text));
        } else {
            for key in &page.keys {
                printed = printed.clone().and_then(|()| line(key));
            }
        }
    })?;
    printed?;
    let _ = c.close();
    Ok(())
}

/// Subscribes and prints messages until the connection is lost for good
/// (or the process is stopped).
fn watch(name: &str, cmd: &Command, m: &Matches) -> i32 {
    let topic = match m.opt_str("prefix") {
        Some(p) => Topic::Prefix(p),
        None => Topic::Key(cmd.args[2].clone()),
    };
    let since = match number(m, "since") {
        Ok(since) => since,
        Err(e) => return fail(name, &e),
    };
    let reconnect = !m.opt_present("no-reconnect");
    let mut sub = match Subscriber::connect(&cmd.args[0], cmd.common.options.clone()) {
        Ok(sub) => sub,
        Err(e) => return fail(name, &e),
    };
    let started = (|| {
        if let Some(token) = &cmd.common.token {
            sub.auth(token)?;
        }
        let reply = sub.subscribe(&cmd.args[1], topic, since)?;
        // A prefix snapshot or a replay came before the reply: print in
        // the order received.
        while let Some(Notice::Event(e)) = sub.queued() {
            line(&e.text)?;
        }
        line(&reply.text)
    })();
    if let Err(e) = started {
        return fail(name, &e);
    }
    loop {
        let shown = match sub.next(None) {
            Ok(Some(Notice::Event(e))) => line(&e.text),
            Ok(Some(Notice::Lost(e))) if !reconnect => return fail(name, &e),
            Ok(Some(Notice::Lost(e))) => {
                eprintln!("{name}: {e}; reconnecting");
                Ok(())
            }
            Ok(Some(Notice::RetryFailed { error, retry_in })) => {
                let wait = show_duration(retry_in);
                eprintln!("{name}: {error}; retrying in {wait}");
                Ok(())
            }
            Ok(Some(Notice::Reconnected)) => {
                eprintln!("{name}: reconnected");
                Ok(())
            }
            Ok(Some(Notice::Resumed { since, reply, .. })) => {
                if reply.resync {
                    eprintln!(
                        "{name}: resumed with a resync: changes after rev {since} could not be \
                         replayed; the server sent the current state instead"
                    );
                } else {
                    eprintln!("{name}: resumed after rev {since}; missed changes replayed");
                }
                line(&reply.text)
            }
            Ok(Some(Notice::Refused { error, .. })) => return fail(name, &error),
            Ok(None) => Ok(()),
            Err(e) => return fail(name, &e),
        };
        if shown.is_err() {
            return 0; // stdout is gone (e.g. `| head`): nobody is watching.
        }
    }
}
