//! Runs the test suite of a client library in another language (node's or
//! pytest's) as a child process against this build's server, with its output
//! streamed as it comes.
//!
//! Where the language's tools are missing the test says it skipped and
//! passes, so that `cargo test` works on a fresh checkout, unless
//! `KVWS_REQUIRE_CLIENTS=1` (as in CI): then it fails.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether the environment requires the client suites to run.
pub fn required() -> bool {
    std::env::var("KVWS_REQUIRE_CLIENTS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Skips with a word on stderr, or fails when the suites are required.
pub fn skip(suite: &str, why: &str) {
    assert!(
        !required(),
        "KVWS_REQUIRE_CLIENTS is set but {why}: the {suite} cannot run"
    );
    eprintln!("SKIPPED: {why} – the {suite} did not run");
}

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` with `KVWS_BIN` set to this build's server, its output going
/// straight to the terminal; fails if it fails or outlives `limit` (then it
/// is killed, with the servers it started).
pub fn run(suite: &str, mut cmd: Command, limit: Duration) {
    cmd.env("KVWS_BIN", env!("CARGO_BIN_EXE_kvws"));
    // A group of its own, so that a timeout kills its servers too.
    cmd.process_group(0);
    eprintln!("running the {suite}: {cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {suite}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the suite") {
            break status;
        }
        if start.elapsed() > limit {
            // SAFETY: kill(2) with the negated pid of the group we created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!("the {suite} took over {limit:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the {suite} failed ({status})");
}

/// The output of `program args`, if it runs and succeeds.
pub fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
