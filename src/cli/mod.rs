//! The `kvws` command line: the server by default, plus subcommands.

mod client;
mod load;
mod serve;
mod shell;
mod token;
mod units;

pub use units::{parse_duration, parse_size};

/// Runs the command line with `args` (including the program name); returns
/// the process exit code: 0 success, 1 failure, 2 usage error.
pub fn main(args: Vec<String>) -> i32 {
    let program = args.first().map_or("kvws", String::as_str).to_string();
    let rest = &args[1.min(args.len())..];
    match rest.first().map(String::as_str) {
        Some("serve") => serve::run(&program, &rest[1..]),
        Some("load") => load::run(&program, &rest[1..]),
        Some(cmd @ ("get" | "set" | "delete" | "watch" | "list")) => {
            client::run(&program, cmd, &rest[1..])
        }
        Some("shell") => shell::run(&program, &rest[1..]),
        Some("token") => token::run(&program, &rest[1..]),
        _ => serve::run(&program, rest),
    }
}

/// Parses a subcommand's `args` against `opts`. `Err` carries the exit
/// code once the parse error (2) or the `--help` text from `help` (0) has
/// been printed, so that every subcommand answers both the same way.
fn parse_args(
    program: &str,
    opts: &getopts::Options,
    args: &[String],
    help: impl FnOnce(&getopts::Options) -> String,
) -> Result<getopts::Matches, i32> {
    match opts.parse(args) {
        Err(e) => Err(usage_error(program, &e.to_string())),
        Ok(m) if m.opt_present("help") => {
            print!("{}", help(opts));
            Err(0)
        }
        Ok(m) => Ok(m),
    }
}

/// Reports a usage error the way every subcommand does; returns exit code 2.
fn usage_error(program: &str, message: &str) -> i32 {
    eprintln!("{program}: {message}\nTry '{program} --help'.");
    2
}
