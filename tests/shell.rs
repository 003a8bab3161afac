//! `kvws shell URL` driven through piped stdin against a live server: each
//! command's reply (the server's JSON, exactly), notifications as they
//! come, errors on stderr, and the exit codes.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::FromRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use common::{PATIENCE, TestServer, lines};
use kvws::Config;
use kvws::auth::{Access, Claims, Role, Secret, mint};
use kvws::client::{Client, SetOptions};

/// A running shell: stdin to type into, stdout and stderr line by line.
struct Shell {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    err: Receiver<String>,
}

impl Shell {
    fn start(args: &[&str]) -> Shell {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kvws"))
            .arg("shell")
            .args(args)
            .env_remove("KVWS_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kvws shell");
        let stdin = child.stdin.take();
        let out = lines(child.stdout.take().unwrap());
        let err = lines(child.stderr.take().unwrap());
        Shell {
            child,
            stdin,
            out,
            err,
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        // One write (a pipe write this small is atomic), so the shell never
        // exits between the parts of a line.
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    fn expect(&self, want: &str) {
        let got = self.out.recv_timeout(PATIENCE);
        assert_eq!(got.as_deref(), Ok(want), "stderr: {:?}", self.errors());
    }

    fn errors(&self) -> Vec<String> {
        self.err.try_iter().collect()
    }

    /// Closes stdin; returns the exit code and the rest of stdout and stderr.
    fn finish(mut self) -> (i32, Vec<String>, Vec<String>) {
        drop(self.stdin.take());
        let start = Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code().unwrap();
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("the shell did not exit");
            }
            thread::sleep(Duration::from_millis(5));
        };
        let rest = |rx: &Receiver<String>| {
            let mut all = Vec::new();
            while let Ok(line) = rx.recv_timeout(PATIENCE) {
                all.push(line);
            }
            all
        };
        (code, rest(&self.out), rest(&self.err))
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` through a shell on `url`; returns (code, stdout, stderr).
fn script(url: &str, script: &str) -> (i32, Vec<String>, Vec<String>) {
    let mut shell = Shell::start(&[url]);
    for line in script.lines() {
        shell.type_line(line);
    }
    shell.finish()
}

#[test]
fn a_script_prints_each_reply_in_order() {
    let server = TestServer::start();
    let (code, out, err) = script(
        &server.url(),
        "use a\n\
         put greeting hello world\n\
         get greeting\n\
         set n 12345678901234567890\n\
         set o {\"x\": [1, 2]}\n\
         get a n\n\
         delete greeting\n\
         list\n\
         raw {\"type\":\"get\",\"id\":\"a\",\"key\":\"n\"}\n\
         raw {\"type\":\"set\",\"id\":\"a\",\"key\":\"k\"}\n\
         bogus command\n\
         list b\n",
    );
    assert_eq!(code, 0, "{err:?}");
    // The message of an error is for people and may change; its code not.
    let error = &out[7];
    assert!(error.starts_with(r#"{"type":"error","code":"bad_request","message":"#));
    assert!(error.ends_with(r#","req":8}"#), "{error}");
    assert_eq!(
        out,
        [
            r#"{"type":"value","id":"a","key":"greeting","value":"hello world","rev":1,"req":1}"#,
            r#"{"type":"value","id":"a","key":"greeting","value":"hello world","rev":1,"req":2}"#,
            r#"{"type":"value","id":"a","key":"n","value":12345678901234567890,"rev":2,"req":3}"#,
            r#"{"type":"value","id":"a","key":"o","value":{"x": [1, 2]},"rev":3,"req":4}"#,
            r#"{"type":"deleted","id":"a","key":"greeting","rev":4,"req":5}"#,
            r#"{"type":"keys","id":"a","prefix":"","keys":["n","o"],"more":false,"req":6}"#,
            r#"{"type":"value","id":"a","key":"n","value":12345678901234567890,"rev":2,"req":7}"#,
            error,
            r#"{"type":"keys","id":"a","prefix":"b","keys":[],"more":false,"req":9}"#,
        ]
    );
    assert_eq!(
        err,
        [
            "error: usage: get [ID] KEY",
            "error: unknown command 'bogus' (try 'help')",
        ]
    );
}

#[test]
fn set_takes_options_and_commands_before_use_ask_for_an_id() {
    let server = TestServer::start();
    let mut other = Client::connect(&server.url()).unwrap();
    let mut shell = Shell::start(&[&server.url()]);
    shell.type_line("get k");
    assert_eq!(
        shell.err.recv_timeout(PATIENCE).as_deref(),
        Ok("error: no id in use: type 'use ID' first, or give the id (usage: get [ID] KEY)")
    );
    shell.type_line("use a");
    shell.type_line("set e --ephemeral 1");
    shell.expect(r#"{"type":"value","id":"a","key":"e","value":1,"rev":1,"req":1}"#);
    assert_eq!(other.get("a", "e").unwrap().value, "1");
    shell.type_line("put t --ttl 100ms soon gone");
    shell.expect(r#"{"type":"value","id":"a","key":"t","value":"soon gone","rev":2,"req":2}"#);
    let start = Instant::now();
    while other.get("a", "t").unwrap().value != "null" {
        assert!(start.elapsed() < PATIENCE, "the key did not expire");
        thread::sleep(Duration::from_millis(20));
    }
    shell.type_line("set n --if-rev 0 2");
    let stored = shell.out.recv_timeout(PATIENCE).unwrap();
    assert!(
        stored.starts_with(r#"{"type":"value","id":"a","key":"n","value":2,"#),
        "{stored}"
    );
    shell.type_line("set n --if-rev 0 3");
    let refused = shell.out.recv_timeout(PATIENCE).unwrap();
    assert!(
        refused.starts_with(r#"{"type":"error","code":"conflict","#),
        "{refused}"
    );
    let (code, _, err) = shell.finish();
    assert_eq!(code, 0, "{err:?}");
    // The ephemeral key went with the shell's connection.
    let start = Instant::now();
    while other.get("a", "e").unwrap().value != "null" {
        assert!(start.elapsed() < PATIENCE, "the ephemeral key stayed");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn own_changes_are_notified_after_their_replies() {
    let server = TestServer::start();
    let (code, out, _) = script(
        &server.url(),
        "sub a k\nset a k 1\nsub a --prefix p/\nset a p/x \"x\"\nset a k 2\n",
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        [
            r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":1}"#,
            r#"{"type":"value","id":"a","key":"k","value":1,"rev":1,"req":2}"#,
            r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#,
            r#"{"type":"subscribed","id":"a","prefix":"p/","rev":1,"req":3}"#,
            r#"{"type":"value","id":"a","key":"p/x","value":"x","rev":2,"req":4}"#,
            r#"{"type":"value","id":"a","key":"p/x","value":"x","rev":2}"#,
            r#"{"type":"value","id":"a","key":"k","value":2,"rev":3,"req":5}"#,
            r#"{"type":"value","id":"a","key":"k","value":2,"rev":3}"#,
        ]
    );
}

#[test]
fn notifications_print_as_they_come() {
    let server = TestServer::start();
    let mut other = Client::connect(&server.url()).unwrap();
    other.set("a", "p/x", "0", &SetOptions::new()).unwrap();
    let mut shell = Shell::start(&[&server.url(), "--id", "a"]);
    shell.type_line("sub k");
    shell.expect(r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":1}"#);
    other
        .set("a", "k", r#""from elsewhere""#, &SetOptions::new())
        .unwrap();
    shell.expect(r#"{"type":"value","id":"a","key":"k","value":"from elsewhere","rev":2}"#);
    shell.type_line("subscribe --prefix p/");
    shell.expect(r#"{"type":"value","id":"a","key":"p/x","value":0,"rev":1}"#);
    shell.expect(r#"{"type":"subscribed","id":"a","prefix":"p/","rev":2,"req":2}"#);
    other.delete("a", "p/x", None).unwrap();
    shell.expect(r#"{"type":"deleted","id":"a","key":"p/x","rev":3}"#);
    shell.type_line("unsub k");
    shell.expect(r#"{"type":"unsubscribed","id":"a","key":"k","req":3}"#);
    other.set("a", "k", "4", &SetOptions::new()).unwrap();
    shell.type_line("get k");
    // The change of k was not printed: the reply is the next line.
    shell.expect(r#"{"type":"value","id":"a","key":"k","value":4,"rev":4,"req":4}"#);
    // What follows `q` is never run (both lines in one write: the shell may
    // be gone before a second one).
    shell.type_line("q\nget k");
    let (code, out, err) = shell.finish();
    assert_eq!((code, out, err), (0, vec![], vec![]));
}

#[test]
fn help_usage_and_connection_failures() {
    let server = TestServer::start();
    let (code, out, _) = script(&server.url(), "help\n");
    assert_eq!(code, 0);
    assert!(out[0].starts_with("commands"), "{out:?}");
    assert!(
        out.iter()
            .any(|l| l.trim_start().starts_with("sub [ID] KEY"))
    );
    let help = Shell::start(&["--help"]).finish();
    assert_eq!(help.0, 0);
    assert!(help.1[0].starts_with("Usage: "), "{:?}", help.1);
    let (code, _, err) = Shell::start(&[]).finish();
    assert_eq!(code, 2, "{err:?}");
    let (code, _, err) = Shell::start(&["http://127.0.0.1:1/"]).finish();
    assert_eq!(code, 2, "{err:?}");
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, err) = Shell::start(&[&format!("ws://{closed}/")]).finish();
    assert_eq!(code, 3);
    assert!(err[0].contains("cannot connect"), "{err:?}");
}

#[test]
fn a_lost_connection_is_reported_and_commands_fail_until_it_is_back() {
    let server = TestServer::start();
    let mut shell = Shell::start(&[&server.url()]);
    shell.type_line("get a k");
    shell.expect(r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":1}"#);
    server.handle.shutdown();
    let lost = shell.err.recv_timeout(PATIENCE).unwrap();
    assert!(
        lost.starts_with("connection lost (close code 1001)"),
        "{lost}"
    );
    server.stop();
    shell.type_line("get a k");
    let start = Instant::now();
    loop {
        let line = shell.err.recv_timeout(PATIENCE).unwrap();
        if line == "error: connection lost: not connected (reconnecting)" {
            break;
        }
        assert!(line.contains("retrying in"), "{line}");
        assert!(start.elapsed() < PATIENCE);
    }
}

#[test]
fn a_token_is_presented_before_the_first_command() {
    const SECRET: &[u8] = b"a secret for the shell tests, 32+ bytes";
    let server = TestServer::with(Config::default().secret(Some(Secret::new(SECRET).unwrap())));
    let exp = std::time::UNIX_EPOCH.elapsed().unwrap().as_secs() + 3600;
    let claims = Claims {
        role: Role::Guest,
        ids: vec!["a".into()],
        access: Access::Read,
        exp,
        nbf: None,
    };
    let token = mint(SECRET, &claims);
    let mut shell = Shell::start(&[&server.url(), "--token", &token, "--id", "a"]);
    shell.type_line("get k");
    shell.type_line("set k 1");
    let (code, out, _) = shell.finish();
    assert_eq!(code, 0);
    assert_eq!(
        out[..2],
        [
            format!(
                r#"{{"type":"authenticated","role":"guest","ids":["a"],"access":"read","expires":{exp},"req":1}}"#
            ),
            r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":2}"#.to_string(),
        ]
    );
    assert!(
        out[2].starts_with(r#"{"type":"error","code":"forbidden","#),
        "{out:?}"
    );
    assert_eq!(out.len(), 3);
}

/// A shell whose stdin is a terminal (a pseudo-terminal; TERM=dumb, so
/// that line editing stays out of the way and lines are read as typed),
/// with `home` as HOME; returns it, the terminal to type into, and stdout
/// line by line.
fn on_a_terminal(url: &str, home: &Path) -> (Child, File, Receiver<String>) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors, which are then owned below.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned by nothing else.
    let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
    let mut child = Command::new(env!("CARGO_BIN_EXE_kvws"))
        .args(["shell", url])
        .env("HOME", home)
        .env("TERM", "dumb")
        .env_remove("KVWS_TOKEN")
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kvws shell");
    let out = lines(child.stdout.take().unwrap());
    // The terminal echoes what is typed: read it away.
    let mut echo = master.try_clone().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while matches!(echo.read(&mut buf), Ok(n) if n > 0) {}
    });
    (child, master, out)
}

#[test]
fn history_is_kept_line_by_line_without_the_lines_that_carry_tokens() {
    let server = TestServer::start();
    let home = std::env::temp_dir().join(format!("kvws-shell-history-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let file = home.join(".kvws_history");
    // A history written before such lines were left out.
    std::fs::write(&file, "#V2\nauth old-secret\nlist app\n").unwrap();
    let (mut child, mut tty, out) = on_a_terminal(&server.url(), &home);
    for line in [
        "auth some-secret",
        "upgrade other-secret",
        r#"raw {"type":"auth","token":"raw-secret"}"#,
        "use a",
        "get k",
    ] {
        tty.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
    loop {
        // After the prompts, which a dumb terminal gets without a newline.
        let line = out.recv_timeout(PATIENCE).expect("the reply to get");
        if line.contains(r#"{"type":"value","id":"a","key":"k""#) {
            break;
        }
    }
    let history = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        history.lines().collect::<Vec<_>>(),
        ["#V2", "list app", "use a", "get k"]
    );
    // Ctrl-C ends the shell by SIGINT, as it does other programs (shells
    // report 130); what was typed is already in the file.
    // SAFETY: kill only sends a signal to the child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(std::fs::read_to_string(&file).unwrap().ends_with("get k\n"));
    let _ = std::fs::remove_dir_all(&home);
}
