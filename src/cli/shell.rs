//! `kvws shell URL`: an interactive prompt (being written).

/// Runs the interactive shell; returns the exit code.
pub fn run(program: &str, _args: &[String]) -> i32 {
    eprintln!("{program} shell: not available yet");
    2
}
