//! The library API as an embedding program uses it: its own loop around
//! `service`, direct store access, hooks, and the thread-safe handle.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{Client, raw_exchange};
use kvws::{Config, ConnId, Context, CustomMessage, Hooks, OpenRequest, Refusal, Server};

/// Runs `client` in a thread while this thread drives `server.service`
/// until the client is done; returns what the client returned.
fn drive<T: Send + 'static>(server: &mut Server, client: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(client()).unwrap());
    let start = Instant::now();
    loop {
        server.service(Some(Duration::from_millis(5))).unwrap();
        if let Ok(result) = rx.try_recv() {
            // Let anything the client's last request caused go out.
            server.service(Some(Duration::ZERO)).unwrap();
            return result;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "client did not finish"
        );
    }
}

fn bind() -> Server {
    Server::bind(Config::default().port(0).start_revision(Some(0))).unwrap()
}

#[derive(Default, Clone)]
struct Recorder {
    closed: Arc<AtomicUsize>,
}

impl Hooks for Recorder {
    fn on_open(&mut self, request: &OpenRequest<'_>) -> Result<(), Refusal> {
        match request.header("x-deny") {
            Some(why) => Err(Refusal::new(why)),
            None => Ok(()),
        }
    }

    fn on_established(&mut self, ctx: &mut Context<'_>, conn: ConnId) {
        ctx.send(conn, r#"{"type":"welcome"}"#);
    }

    fn on_close(&mut self, _: &mut Context<'_>, _: ConnId) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, conn: ConnId, msg: &CustomMessage<'_>) -> bool {
        if msg.kind != "double" {
            return false;
        }
        let n = msg.json()["n"].as_i64().unwrap_or(0);
        let rev = ctx.set("calc", "last", &(2 * n).to_string()).unwrap();
        let req = msg.req.unwrap_or("null");
        ctx.send(
            conn,
            &format!(
                r#"{{"type":"doubled","value":{},"rev":{rev},"req":{req}}}"#,
                2 * n
            ),
        );
        true
    }
}

#[test]
fn hooks_greet_handle_custom_messages_and_see_closes() {
    let mut server = bind();
    let hooks = Recorder::default();
    let closed = hooks.closed.clone();
    server.set_hooks(hooks);
    let addr = server.local_addr();
    drive(&mut server, move || {
        let mut c = Client::connect(addr);
        c.expect(r#"{"type":"welcome"}"#);
        c.call(
            r#"{"type":"subscribe","id":"calc","key":"last"}"#,
            &[r#"{"type":"value","id":"calc","key":"last","value":null,"rev":0}"#],
        );
        c.call(
            r#"{"type":"double","n":21,"req":"r"}"#,
            &[
                r#"{"type":"value","id":"calc","key":"last","value":42,"rev":1}"#,
                r#"{"type":"doubled","value":42,"rev":1,"req":"r"}"#,
            ],
        );
        c.call(
            r#"{"type":"triple","n":1}"#,
            &[r#"{"type":"error","code":"bad_request","message":"unknown message type 'triple' (expected set, get, delete, subscribe, unsubscribe or list)"}"#],
        );
        c.close();
        let mut rude = Client::connect(addr);
        rude.expect(r#"{"type":"welcome"}"#);
    });
    let start = Instant::now();
    while closed.load(Ordering::SeqCst) < 2 {
        server.service(Some(Duration::from_millis(5))).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "on_close not called for both"
        );
    }
}

#[test]
fn a_hook_can_refuse_a_connection_with_403() {
    let mut server = bind();
    server.set_hooks(Recorder::default());
    let addr = server.local_addr();
    let reply = drive(&mut server, move || {
        raw_exchange(
            addr,
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Deny: not today\r\n\r\n",
        )
    });
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{reply}");
    assert!(reply.ends_with("403 Forbidden: not today\n"));
}

/// Remembers the id of every connection that opened.
#[derive(Default, Clone)]
struct Opened(Arc<std::sync::Mutex<Vec<ConnId>>>);

impl Hooks for Opened {
    fn on_established(&mut self, _: &mut Context<'_>, conn: ConnId) {
        self.0.lock().unwrap().push(conn);
    }
}

#[test]
fn the_program_reads_and_writes_the_store_and_subscribers_hear_it() {
    let mut server = bind();
    let opened = Opened::default();
    server.set_hooks(opened.clone());
    let addr = server.local_addr();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let watcher = thread::spawn(move || {
        let mut c = Client::connect(addr);
        c.call(
            r#"{"type":"subscribe","id":"app","prefix":""}"#,
            &[r#"{"type":"subscribed","id":"app","prefix":"","rev":0}"#],
        );
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        vec![c.recv(), c.recv(), c.recv()]
    });
    while ready_rx.try_recv().is_err() {
        server.service(Some(Duration::from_millis(5))).unwrap();
    }
    assert_eq!(server.set("app", "temp", r#"{"c": 21.5}"#), Ok(1));
    assert_eq!(server.get("app", "temp"), Some((r#"{"c": 21.5}"#, 1)));
    assert_eq!(server.delete("app", "temp"), Ok(Some(2)));
    assert_eq!(server.delete("app", "temp"), Ok(None));
    let err = server.set("app", "bad", "{not json").unwrap_err();
    assert_eq!(err.code, kvws::ErrorCode::BadRequest);
    assert_eq!(
        server.set("", "k", "1").unwrap_err().code,
        kvws::ErrorCode::BadRequest
    );
    let first = opened.0.lock().unwrap()[0];
    server.send(first, r#"{"type":"note","text":"from the program"}"#);
    go_tx.send(()).unwrap();
    let got = drive(&mut server, move || watcher.join().unwrap());
    assert_eq!(
        got,
        [
            r#"{"type":"value","id":"app","key":"temp","value":{"c": 21.5},"rev":1}"#,
            r#"{"type":"deleted","id":"app","key":"temp","rev":2}"#,
            r#"{"type":"note","text":"from the program"}"#,
        ]
    );
}

#[test]
fn service_reports_what_it_did_and_the_handle_wakes_and_stops_it() {
    let mut server = bind();
    let handle = server.handle();
    // Nothing happens: a bounded wait returns empty-handed.
    let idle = server.service(Some(Duration::from_millis(20))).unwrap();
    assert_eq!((idle.events, idle.accepted, idle.messages), (0, 0, 0));

    let addr = server.local_addr();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut c = Client::connect(addr);
        for _ in 0..3 {
            c.call(
                r#"{"type":"get","id":"a","key":"k"}"#,
                &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
            );
        }
        done_tx.send(c).unwrap();
    });
    let (mut accepted, mut messages) = (0, 0);
    let client = loop {
        let a = server.service(Some(Duration::from_millis(5))).unwrap();
        accepted += a.accepted;
        messages += a.messages;
        if let Ok(c) = done_rx.try_recv() {
            break c;
        }
    };
    assert_eq!((accepted, messages), (1, 3));
    drop(client);

    // A wake from another thread ends an unbounded wait.
    let waker = handle.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        waker.wake().unwrap();
    });
    let start = Instant::now();
    server.service(None).unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    t.join().unwrap();

    handle.shutdown();
    while !server.is_stopped() {
        server.service(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(
        server.service(None).unwrap().events,
        0,
        "a stopped server does nothing"
    );
}

#[test]
fn a_message_for_a_connection_that_has_gone_reaches_nobody() {
    let mut server = bind();
    let opened = Opened::default();
    server.set_hooks(opened.clone());
    let addr = server.local_addr();
    // The first client comes and goes; the second takes its slot.
    drive(&mut server, move || Client::connect(addr).close());
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let second = thread::spawn(move || {
        let mut c = Client::connect(addr);
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        let first = c.recv();
        c.expect_nothing_before_marker();
        first
    });
    while opened.0.lock().unwrap().len() < 2 || ready_rx.try_recv().is_err() {
        server.service(Some(Duration::from_millis(5))).unwrap();
    }
    let (gone, now) = {
        let ids = opened.0.lock().unwrap();
        (ids[0], ids[1])
    };
    assert_ne!(gone, now);
    server.send(gone, r#"{"type":"note","text":"for the first"}"#);
    server.send(now, r#"{"type":"note","text":"for the second"}"#);
    go_tx.send(()).unwrap();
    let got = drive(&mut server, move || second.join().unwrap());
    assert_eq!(got, r#"{"type":"note","text":"for the second"}"#);
}
