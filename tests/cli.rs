//! The `kvws get|set|delete|list|watch` commands: the real binary against
//! a live server on loopback, with exact outputs and exit codes (0 ok,
//! 1 server error, 2 usage, 3 connection). `watch` is read line by line
//! while another client makes changes; a TCP proxy in front of the server
//! drops its connection to check that it resumes (or resyncs).

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{PATIENCE, TestServer};
use kvws::Config;
use kvws::auth::{Access, Claims, Role, Secret, mint};
use kvws::client::{Client, SetOptions};
use tungstenite::Message;

/// What a finished command left behind.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `kvws ARGS` with `input` on stdin (and `env`), within PATIENCE.
fn kvws_with(args: &[&str], input: &str, env: &[(&str, &str)]) -> Ran {
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

fn kvws(args: &[&str]) -> Ran {
    kvws_with(args, "", &[])
}

fn reader(mut from: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = from.read_to_string(&mut text);
        text
    })
}

/// Runs `args`, asserts success, returns stdout.
fn ok(args: &[&str]) -> String {
    let ran = kvws(args);
    assert_eq!(ran.code, 0, "{args:?}: {ran:?}");
    ran.stdout
}

#[test]
fn get_set_delete_print_json_values() {
    let server = TestServer::start();
    let url = &server.url();
    assert_eq!(ok(&["get", url, "a", "k"]), "null\n");
    assert_eq!(
        ok(&["set", url, "a", "k", "hello world"]),
        "\"hello world\"\n"
    );
    assert_eq!(ok(&["get", url, "a", "k"]), "\"hello world\"\n");
    assert_eq!(
        ok(&["set", url, "a", "n", "12345678901234567890"]),
        "12345678901234567890\n"
    );
    assert_eq!(
        ok(&["set", url, "a", "o", r#"{"b": [1, 2.50]}"#]),
        "{\"b\": [1, 2.50]}\n"
    );
    assert_eq!(ok(&["set", url, "a", "q", r#""quoted""#]), "\"quoted\"\n");
    assert_eq!(
        ok(&["set", url, "a", "j", "true", "--json"]),
        "{\"type\":\"value\",\"id\":\"a\",\"key\":\"j\",\"value\":true,\"rev\":5,\"req\":1}\n"
    );
    assert_eq!(
        ok(&["get", "--json", url, "a", "o"]),
        "{\"type\":\"value\",\"id\":\"a\",\"key\":\"o\",\"value\":{\"b\": [1, 2.50]},\"rev\":3,\"req\":1}\n"
    );
    assert_eq!(ok(&["delete", url, "a", "k"]), "true\n");
    assert_eq!(ok(&["delete", url, "a", "k"]), "false\n");
    assert_eq!(
        ok(&["delete", url, "a", "n", "--json"]),
        "{\"type\":\"deleted\",\"id\":\"a\",\"key\":\"n\",\"rev\":7,\"req\":1}\n"
    );
    assert_eq!(ok(&["get", url, "a", "k"]), "null\n");
}

#[test]
fn values_from_stdin_and_after_double_dash() {
    let server = TestServer::start();
    let url = &server.url();
    let set = |key: &str, input: &str| kvws_with(&["set", url, "a", key, "-"], input, &[]);
    assert_eq!(set("t", "some text\n").stdout, "\"some text\"\n");
    assert_eq!(set("j", "{\"x\": [1, 2]}\n").stdout, "{\"x\": [1, 2]}\n");
    assert_eq!(set("m", "two\nlines\r\n").stdout, "\"two\\nlines\"\n");
    assert_eq!(ok(&["set", url, "a", "neg", "--", "-5"]), "-5\n");
    assert_eq!(
        ok(&["set", url, "a", "flag", "--", "--flag"]),
        "\"--flag\"\n"
    );
    assert_eq!(ok(&["get", url, "a", "neg"]), "-5\n");
    let ran = kvws(&["set", url, "a", "neg", "-5"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("put '--' before a value"),
        "{}",
        ran.stderr
    );
}

#[test]
fn compare_and_set_and_ttl() {
    let server = TestServer::start();
    let url = &server.url();
    assert_eq!(ok(&["set", url, "a", "k", "1", "--if-rev", "0"]), "1\n");
    let ran = kvws(&["set", url, "a", "k", "2", "--if-rev", "0"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (1, ""));
    assert!(
        ran.stderr
            .starts_with(&format!("{} set: conflict: ", env!("CARGO_BIN_EXE_kvws"))),
        "{}",
        ran.stderr
    );
    assert_eq!(ok(&["set", url, "a", "k", "2", "--if-rev", "1"]), "2\n");
    let ran = kvws(&["delete", url, "a", "k", "--if-rev", "1"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ok(&["delete", url, "a", "k", "--if-rev", "2"]), "true\n");
    assert_eq!(
        ok(&["set", url, "a", "t", "x", "--ttl", "100ms"]),
        "\"x\"\n"
    );
    let start = Instant::now();
    while ok(&["get", url, "a", "t"]) != "null\n" {
        assert!(start.elapsed() < PATIENCE, "the key did not expire");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn list_pages_through_every_key() {
    let server = TestServer::start();
    let url = &server.url();
    let mut c = Client::connect(url).unwrap();
    let mut want = String::new();
    for n in 0..1500 {
        let key = format!("room/{n:04}");
        c.set("a", &key, "0", &SetOptions::new()).unwrap();
        want.push_str(&key);
        want.push('\n');
    }
    c.set("a", "other", "0", &SetOptions::new()).unwrap();
    assert_eq!(ok(&["list", url, "a", "--prefix", "room/"]), want);
    assert_eq!(ok(&["list", url, "a"]).lines().count(), 1501);
    assert_eq!(ok(&["list", url, "empty"]), "");
    let json = ok(&["list", url, "a", "--prefix", "o", "--json"]);
    assert_eq!(
        json,
        "{\"type\":\"keys\",\"id\":\"a\",\"prefix\":\"o\",\"keys\":[\"other\"],\"more\":false,\"req\":1}\n"
    );
    let pages = ok(&["list", url, "a", "--json"]);
    assert_eq!(pages.lines().count(), 2);
    assert!(
        pages
            .lines()
            .next()
            .unwrap()
            .ends_with(r#""more":true,"req":1}"#)
    );
}

#[test]
fn exit_codes_tell_usage_server_and_connection_failures_apart() {
    let server = TestServer::start();
    let url = &server.url();
    for args in [
        &["get", url, "a"][..],
        &["set", url, "a", "k"],
        &["get", "http://127.0.0.1:1/", "a", "k"],
        &["get", url, "a", "k", "--timeout", "soon"],
        &["get", url, "a", "k", "--bogus"],
        &["watch", url, "a"],
        &["list", url, "a", "--since", "1"],
        &["set", url, "a", "k", "1", "--ttl", "0"],
        &["set", url, "a", "k", "1", "--if-rev", "x"],
    ] {
        let ran = kvws(args);
        assert_eq!(ran.code, 2, "{args:?}: {ran:?}");
        assert!(!ran.stderr.is_empty(), "{args:?}");
    }
    let ran = kvws(&["get", url, "a", ""]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("bad_request"), "{}", ran.stderr);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let refused = format!("ws://{closed}/");
    for args in [
        &["get", &refused, "a", "k"][..],
        &["watch", &refused, "a", "k"],
        &["list", &refused, "a"],
    ] {
        let ran = kvws(args);
        assert_eq!(ran.code, 3, "{args:?}: {ran:?}");
        assert!(ran.stderr.contains("cannot connect"), "{}", ran.stderr);
    }
    for command in ["get", "set", "delete", "watch", "list"] {
        let help = ok(&[command, "--help"]);
        assert!(help.starts_with("Usage: "), "{help}");
        assert!(help.contains("--timeout"), "{help}");
    }
}

/// A scripted peer: accepts tokens `good`, refuses others, and answers
/// anything else with a fixed value; records what it receives.
fn auth_peer() -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let Ok(mut ws) = tungstenite::accept(stream) else {
                continue;
            };
            while let Ok(Message::Text(text)) = ws.read() {
                let _ = tx.send(text.to_string());
                let m: serde_json::Value = serde_json::from_str(&text).unwrap();
                let req = &m["req"];
                let reply = match (m["type"].as_str(), m["token"].as_str()) {
                    (Some("auth"), Some("good")) => format!(
                        r#"{{"type":"authenticated","role":"user","ids":["a"],"access":"rw","expires":null,"req":{req}}}"#
                    ),
                    (Some("auth"), _) => format!(
                        r#"{{"type":"error","code":"invalid_token","message":"bad signature","req":{req}}}"#
                    ),
                    _ => format!(
                        r#"{{"type":"value","id":"a","key":"k","value":"secret","rev":7,"req":{req}}}"#
                    ),
                };
                let _ = ws.send(Message::text(reply));
            }
        }
    });
    (url, rx)
}

#[test]
fn a_token_is_presented_first() {
    let (url, seen) = auth_peer();
    assert_eq!(
        ok(&["get", &url, "a", "k", "--token", "good"]),
        "\"secret\"\n"
    );
    assert_eq!(
        seen.recv_timeout(PATIENCE).unwrap(),
        r#"{"type":"auth","token":"good","req":1}"#
    );
    assert_eq!(
        seen.recv_timeout(PATIENCE).unwrap(),
        r#"{"type":"get","id":"a","key":"k","req":2}"#
    );
    let ran = kvws_with(&["get", &url, "a", "k"], "", &[("KVWS_TOKEN", "good")]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "\"secret\"\n"));
    assert!(
        seen.recv_timeout(PATIENCE)
            .unwrap()
            .contains(r#""token":"good""#)
    );
    let ran = kvws_with(&["get", &url, "a", "k"], "", &[("KVWS_TOKEN", "forged")]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains("invalid_token: bad signature"),
        "{}",
        ran.stderr
    );
}

#[test]
fn tokens_work_against_a_server_that_requires_them() {
    const SECRET: &[u8] = b"a secret for the cli tests, 32+ bytes long";
    let config = Config::default().secret(Some(Secret::new(SECRET).unwrap()));
    let server = TestServer::with(config);
    let url = &server.url();
    let claims = Claims {
        role: Role::Guest,
        ids: vec!["a".into()],
        access: Access::ReadWrite,
        exp: std::time::UNIX_EPOCH.elapsed().unwrap().as_secs() + 3600,
        nbf: None,
    };
    let token = mint(SECRET, &claims);
    let ran = kvws(&["get", url, "a", "k"]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("unauthenticated"), "{}", ran.stderr);
    assert_eq!(ok(&["set", url, "a", "k", "1", "--token", &token]), "1\n");
    let env = [("KVWS_TOKEN", token.as_str())];
    let ran = kvws_with(&["get", url, "a", "k"], "", &env);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "1\n"), "{ran:?}");
    let ran = kvws_with(&["get", url, "b", "k"], "", &env);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("forbidden"), "{}", ran.stderr);
}

/// A running `kvws watch`, its output read line by line; killed on drop.
struct Watch {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kvws"))
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kvws watch");
        let out = lines(child.stdout.take().unwrap());
        let err = lines(child.stderr.take().unwrap());
        Watch { child, out, err }
    }

    fn expect(&self, want: &str) {
        match self.out.recv_timeout(PATIENCE) {
            Ok(line) => assert_eq!(line, want),
            Err(_) => panic!(
                "no line; wanted {want}; stderr: {:?}",
                self.err.try_iter().collect::<Vec<_>>()
            ),
        }
    }

    /// Reads stderr until a line containing `part`; returns the lines read.
    fn expect_err(&self, part: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.err.recv_timeout(PATIENCE) {
                Ok(line) if line.contains(part) => return seen,
                Ok(line) => seen.push(line),
                Err(_) => panic!("no stderr line with {part:?}, after {seen:?}"),
            }
        }
    }

    /// Waits for the process to exit; returns its code.
    fn exit_code(mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap();
            }
            assert!(start.elapsed() < PATIENCE, "watch did not exit");
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(from: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn watch_prints_the_reply_then_every_notification() {
    let server = TestServer::start();
    let url = &server.url();
    let mut c = Client::connect(url).unwrap();
    c.set("a", "room/b", "1", &SetOptions::new()).unwrap();
    let key = Watch::start(&[url, "a", "k"]);
    key.expect(r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":1}"#);
    let prefix = Watch::start(&[url, "a", "--prefix", "room/"]);
    prefix.expect(r#"{"type":"value","id":"a","key":"room/b","value":1,"rev":1}"#);
    prefix.expect(r#"{"type":"subscribed","id":"a","prefix":"room/","rev":1,"req":1}"#);
    c.set("a", "k", r#"{"x": 1}"#, &SetOptions::new()).unwrap();
    c.set("a", "room/a", "\"hi\"", &SetOptions::new()).unwrap();
    c.delete("a", "k", None).unwrap();
    key.expect(r#"{"type":"value","id":"a","key":"k","value":{"x": 1},"rev":2}"#);
    key.expect(r#"{"type":"deleted","id":"a","key":"k","rev":4}"#);
    prefix.expect(r#"{"type":"value","id":"a","key":"room/a","value":"hi","rev":3}"#);
    // Starting from a revision replays what came after it.
    let since = Watch::start(&[url, "a", "k", "--since", "1"]);
    since.expect(r#"{"type":"value","id":"a","key":"k","value":{"x": 1},"rev":2}"#);
    since.expect(r#"{"type":"deleted","id":"a","key":"k","rev":4}"#);
    since.expect(r#"{"type":"subscribed","id":"a","key":"k","rev":4,"req":1}"#);
}

#[test]
fn watch_without_reconnect_exits_3_when_the_connection_is_lost() {
    let server = TestServer::start();
    let watch = Watch::start(&[&server.url(), "a", "k", "--no-reconnect"]);
    watch.expect(r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":1}"#);
    server.stop();
    let err = watch.err.recv_timeout(PATIENCE).unwrap();
    assert!(
        err.contains(" watch: connection lost (close code 1001)"),
        "{err}"
    );
    assert_eq!(watch.exit_code(), 3);
}

/// A TCP proxy in front of a server that can drop every connection going
/// through it, refuse new ones, and switch servers.
struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<(SocketAddr, bool, Vec<TcpStream>)>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new((upstream, true, Vec::new())));
        let shared = state.clone();
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let mut s = shared.lock().unwrap();
                let Some(server) = s.1.then(|| TcpStream::connect(s.0).ok()).flatten() else {
                    continue; // dropped: the handshake fails
                };
                s.2.push(client.try_clone().unwrap());
                s.2.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { addr, state }
    }

    fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Drops every connection; later ones are accepted when `open`.
    fn cut(&self, open: bool) {
        let mut s = self.state.lock().unwrap();
        s.1 = open;
        for c in s.2.drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn reopen(&self, upstream: SocketAddr) {
        let mut s = self.state.lock().unwrap();
        (s.0, s.1) = (upstream, true);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn watch_resumes_after_a_dropped_connection_with_exactly_what_it_missed() {
    let server = TestServer::start();
    let proxy = Proxy::start(server.addr);
    let mut c = Client::connect(&server.url()).unwrap();
    let watch = Watch::start(&[&proxy.url(), "a", "--prefix", "p/"]);
    watch.expect(r#"{"type":"subscribed","id":"a","prefix":"p/","rev":0,"req":1}"#);
    c.set("a", "p/1", "1", &SetOptions::new()).unwrap();
    watch.expect(r#"{"type":"value","id":"a","key":"p/1","value":1,"rev":1}"#);
    proxy.cut(false);
    watch.expect_err("reconnecting");
    c.set("a", "p/2", "2", &SetOptions::new()).unwrap();
    c.set("a", "elsewhere", "3", &SetOptions::new()).unwrap();
    c.delete("a", "p/1", None).unwrap();
    watch.expect_err("retrying in");
    proxy.reopen(server.addr);
    watch.expect_err("reconnected");
    watch.expect(r#"{"type":"value","id":"a","key":"p/2","value":2,"rev":2}"#);
    watch.expect(r#"{"type":"deleted","id":"a","key":"p/1","rev":4}"#);
    watch.expect(r#"{"type":"subscribed","id":"a","prefix":"p/","rev":4,"req":1}"#);
    watch.expect_err("resumed after rev 1; missed changes replayed");
    c.set("a", "p/3", "5", &SetOptions::new()).unwrap();
    watch.expect(r#"{"type":"value","id":"a","key":"p/3","value":5,"rev":5}"#);

    // A server that cannot replay (a new one): the watch says resync.
    let second = TestServer::start();
    Client::connect(&second.url())
        .unwrap()
        .set("a", "p/new", "0", &SetOptions::new())
        .unwrap();
    proxy.cut(false);
    proxy.reopen(second.addr);
    watch.expect(r#"{"type":"value","id":"a","key":"p/new","value":0,"rev":1}"#);
    watch.expect(r#"{"type":"subscribed","id":"a","prefix":"p/","rev":1,"resync":true,"req":1}"#);
    watch.expect_err("resumed with a resync: changes after rev 5 could not be replayed");
    drop(watch); // before the servers, which wait for their clients
}
