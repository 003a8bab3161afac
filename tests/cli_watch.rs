//! `kvws watch`: the real binary's output read line by line while another
//! client makes changes; without reconnecting it exits 3 when the
//! connection is lost, and with it (a TCP proxy in front of the server
//! drops the connection) it resumes with exactly what it missed, or resyncs.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{PATIENCE, TestServer, lines};
use kvws::client::{Client, SetOptions};

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
fn ctrl_c_ends_a_watch_by_sigint_which_shells_report_as_130() {
    use std::os::unix::process::ExitStatusExt;
    let server = TestServer::start();
    let mut watch = Watch::start(&[&server.url(), "a", "k"]);
    watch.expect(r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":1}"#);
    // SAFETY: kill only sends a signal to the child.
    assert_eq!(
        unsafe { libc::kill(watch.child.id() as i32, libc::SIGINT) },
        0
    );
    let status = watch.child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
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
