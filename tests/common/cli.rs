//! The `kvws` binary as a command: run with arguments, stdin and
//! environment, its exit code and both outputs collected, within PATIENCE.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::PATIENCE;

/// What a finished command left behind.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `kvws ARGS` with `input` on stdin (and `env`), within PATIENCE.
pub fn kvws_with(args: &[&str], input: &str, env: &[(&str, &str)]) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kvws"));
    cmd.args(args)
        .env_remove("KVWS_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn kvws");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = reader(child.stdout.take().unwrap());
    let err = reader(child.stderr.take().unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("kvws {args:?} did not finish");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Ran {
        code: status.code().expect("exited"),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs `kvws ARGS` with nothing on stdin.
pub fn kvws(args: &[&str]) -> Ran {
    kvws_with(args, "", &[])
}

/// Reads all of `from` on a thread of its own.
pub fn reader(mut from: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = from.read_to_string(&mut text);
        text
    })
}

/// Runs `args`, asserts success, returns stdout.
pub fn ok(args: &[&str]) -> String {
    let ran = kvws(args);
    assert_eq!(ran.code, 0, "{args:?}: {ran:?}");
    ran.stdout
}
