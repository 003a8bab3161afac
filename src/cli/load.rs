//! `kvws load`: the load generator's command line (being written).

/// Runs `kvws load ARGS`; returns the exit code.
pub fn run(program: &str, _args: &[String]) -> i32 {
    eprintln!("{program} load: not available yet");
    2
}
