//! The `kvws` command line: the server by default, plus subcommands.

mod client;
mod complete;
mod load;
mod serve;
mod shell;
mod token;

pub use crate::units::{parse_duration, parse_size};

/// The subcommands and what each does, in the order `kvws --help` lists
/// them.
pub const COMMANDS: [(&str, &str); 10] = [
    ("serve", "run the server (what kvws does without a command)"),
    ("get", "print the value of a key"),
    ("set", "store a value"),
    ("delete", "delete a key"),
    ("list", "print the keys of an id"),
    (
        "watch",
        "print every change of a key or prefix as it happens",
    ),
    ("shell", "an interactive prompt on one connection"),
    ("token", "mint an access token with the server's secret"),
    (
        "load",
        "drive a server with load and report what it sustained",
    ),
    ("help", "help on a command (the same as COMMAND --help)"),
];

/// Runs the command line with `args` (including the program name); returns
/// the process exit code: 0 success, 1 failure, 2 usage error (the client
/// commands add 3 for a connection failure). Ctrl-C is left to end the
/// process by SIGINT, which shells report as 130 and which stops a
/// script's loop too (a program that exits 130 by itself does not).
pub fn main(args: Vec<String>) -> i32 {
    let program = args.first().map_or("kvws", String::as_str).to_string();
    let rest = &args[1.min(args.len())..];
    match rest.first().map(String::as_str) {
        Some("serve") => serve::run(&program, &format!("{program} serve"), &rest[1..]),
        Some("load") => load::run(&program, &rest[1..]),
        Some(cmd @ ("get" | "set" | "delete" | "watch" | "list")) => {
            client::run(&program, cmd, &rest[1..])
        }
        Some("shell") => shell::run(&program, &rest[1..]),
        Some("token") => token::run(&program, &rest[1..]),
        Some("help") => help(&program, &rest[1..]),
        // Server options all start with '-'; any other word was meant as a
        // command.
        Some(word) if !word.starts_with('-') => not_a_command(&program, word),
        _ => serve::run(&program, &program, rest),
    }
}

/// `kvws help [COMMAND]`.
fn help(program: &str, args: &[String]) -> i32 {
    match args {
        [] => main(vec![program.into(), "--help".into()]),
        [cmd] if ["help", "--help", "-h"].contains(&cmd.as_str()) => {
            main(vec![program.into(), "--help".into()])
        }
        [cmd] if COMMANDS.iter().any(|(c, _)| c == cmd) => {
            main(vec![program.into(), cmd.clone(), "--help".into()])
        }
        [cmd] => not_a_command(program, cmd),
        _ => usage_error(&format!("{program} help"), "expected one COMMAND"),
    }
}

/// The commands, one per line, for `--help`.
pub(crate) fn command_list() -> String {
    let mut list = String::new();
    for (name, about) in COMMANDS {
        list.push_str(&format!("  {name:<8} {about}\n"));
    }
    list
}

/// Says that `word` is not a command, suggests the nearest, lists them;
/// returns exit code 2.
fn not_a_command(program: &str, word: &str) -> i32 {
    let names: Vec<&str> = COMMANDS.iter().map(|(c, _)| *c).collect();
    let near = names
        .iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= 2 && *d < c.len())
        .min();
    let hint = near.map_or(String::new(), |(_, c)| format!(" (did you mean '{c}'?)"));
    eprintln!(
        "{program}: '{word}' is not a command{hint}\nThe commands are {}.\nTry '{program} --help'.",
        names.join(", ")
    );
    2
}

/// The edit distance between `a` and `b` (insertions, deletions,
/// substitutions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Parses a subcommand's `args` against `opts`. `Err` carries the exit
/// code once the parse error (2) or the `--help` text from `help` (0) has
/// been printed, so that every subcommand answers both the same way. `name`
/// is the command as typed (`kvws load`), for the messages.
fn parse_args(
    name: &str,
    opts: &getopts::Options,
    args: &[String],
    help: impl FnOnce(&getopts::Options) -> String,
) -> Result<getopts::Matches, i32> {
    match opts.parse(args) {
        Err(e) => Err(usage_error(name, &e.to_string())),
        Ok(m) if m.opt_present("help") => {
            print!("{}", help(opts));
            Err(0)
        }
        Ok(m) => Ok(m),
    }
}

/// Reports a usage error of the command `name` (`kvws set`) the way every
/// command does, pointing to its own `--help`; returns exit code 2.
/// `--ca-file FILE`, as every command that connects to a server takes it.
#[cfg(feature = "tls")]
fn ca_file_option(o: &mut getopts::Options) {
    o.optopt(
        "",
        "ca-file",
        "for wss://: trust the CA (or self-signed certificate) in FILE, PEM, instead of the system's roots",
        "FILE",
    );
}

fn usage_error(name: &str, message: &str) -> i32 {
    eprintln!("{name}: {message}\nTry '{name} --help'.");
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("list", "list"), 0);
        assert_eq!(distance("lsit", "list"), 2);
        assert_eq!(distance("gett", "get"), 1);
        assert_eq!(distance("", "get"), 3);
        assert!(distance("frobnicate", "serve") > 2);
    }
}
