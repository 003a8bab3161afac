//! `kvws get|set|delete|watch|list`: one-shot client commands (being written).

/// Runs a client subcommand `command` with `args`; returns the exit code.
pub fn run(program: &str, command: &str, _args: &[String]) -> i32 {
    eprintln!("{program} {command}: not available yet");
    2
}
