//! The client library (`kvws::client`) against a real server on loopback:
//! every request type, errors with their codes, replies matched by `req`
//! while notifications interleave, and a `Subscriber` that resumes after a
//! dropped connection with exactly the changes it missed, or reports a
//! resync. A small TCP proxy between client and server drops connections
//! on demand; a scripted WebSocket peer stands in for the server side of
//! `auth`, which this server does not enable.

mod common;

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{PATIENCE, TestServer};
use kvws::auth::{Access, Claims, Role, Secret, mint};
use kvws::client::{Client, ConnectOptions, Error, ListOptions, Notice, SetOptions, Subscriber};
use kvws::client::{Event, Topic};
use kvws::{Config, ConnId, Context, CustomMessage, Handle, Hooks, Server};
use tungstenite::Message;

fn connect(server: &TestServer) -> Client {
    Client::connect_with(&server.url(), &ConnectOptions::timeout(PATIENCE)).expect("connect")
}

fn next(c: &mut Client) -> Event {
    c.next_event(Some(PATIENCE)).unwrap().expect("an event")
}

/// Asserts that no event is waiting: a `get` is answered first.
fn nothing_queued(c: &mut Client) {
    c.get("__marker", "m").unwrap();
    assert_eq!(c.next_event(Some(Duration::ZERO)).unwrap(), None);
}

#[test]
fn get_set_delete_keep_values_exact() {
    let server = TestServer::start();
    let mut c = connect(&server);
    let missing = c.get("a", "k").unwrap();
    assert_eq!((missing.value.as_str(), missing.rev), ("null", 0));
    assert!(!missing.exists());
    let value = r#"{"big":12345678901234567890123,"f":1.50,"e":"\u00e9"}"#;
    let set = c.set("a", "k", value, &SetOptions::new()).unwrap();
    assert_eq!((set.value.as_str(), set.rev), (value, 1));
    assert_eq!(
        set.text,
        format!(r#"{{"type":"value","id":"a","key":"k","value":{value},"rev":1,"req":2}}"#)
    );
    assert_eq!(c.get("a", "k").unwrap().value, value);
    // A stored null exists; a typed Rust value goes through serde.
    assert!(
        c.set("a", "n", "null", &SetOptions::new())
            .unwrap()
            .exists()
    );
    let list = c
        .set_value("a", "v", &vec![1, 2, 3], &SetOptions::new())
        .unwrap();
    assert_eq!(list.value, "[1,2,3]");
    assert_eq!(
        c.get("a", "v").unwrap().decode::<Vec<u8>>().unwrap(),
        [1, 2, 3]
    );
    let gone = c.delete("a", "k", None).unwrap();
    assert_eq!(
        (gone.id.as_str(), gone.key.as_str(), gone.rev),
        ("a", "k", 4)
    );
    assert_eq!(c.delete("a", "k", None).unwrap().rev, 0);
    // A value that is not JSON is refused before it is sent.
    let e = c.set("a", "k", "{nope", &SetOptions::new()).unwrap_err();
    assert!(matches!(e, Error::BadInput(_)), "{e}");
    assert_eq!(c.get("a", "k").unwrap().rev, 0);
}

#[test]
fn compare_and_set_ttl_and_ephemeral_keys() {
    let server = TestServer::start();
    let mut c = connect(&server);
    let created = c.set("a", "k", "1", &SetOptions::new().if_rev(0)).unwrap();
    assert_eq!(created.rev, 1);
    match c.set("a", "k", "2", &SetOptions::new().if_rev(0)) {
        Err(Error::Server {
            code, rev, text, ..
        }) => {
            assert_eq!((code.as_str(), rev), ("conflict", Some(1)));
            assert!(text.contains(r#""req":2"#), "{text}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        c.delete("a", "k", Some(7)).unwrap_err().code(),
        Some("conflict")
    );
    assert_eq!(
        c.set("a", "k", "3", &SetOptions::new().if_rev(1))
            .unwrap()
            .rev,
        2
    );

    let mut watcher = connect(&server);
    watcher.subscribe("a", &Topic::prefix("t/"), None).unwrap();
    let ttl = SetOptions::new().ttl(Duration::from_millis(50));
    c.set("a", "t/ttl", r#""soon gone""#, &ttl).unwrap();
    assert_eq!(next(&mut watcher).rev, Some(3));
    let expired = next(&mut watcher);
    assert_eq!(
        (
            expired.kind.as_str(),
            expired.reason.as_deref(),
            expired.rev
        ),
        ("deleted", Some("expired"), Some(4))
    );

    let mut owner = connect(&server);
    let eph = SetOptions::new().ephemeral(true);
    owner.set("a", "t/here", "true", &eph).unwrap();
    assert_eq!(next(&mut watcher).key.as_deref(), Some("t/here"));
    owner.close().unwrap();
    let left = next(&mut watcher);
    assert_eq!(
        left.text,
        r#"{"type":"deleted","id":"a","key":"t/here","rev":6,"reason":"disconnected"}"#
    );
}

/// The server's error code of a failed call.
fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> Option<String> {
    r.unwrap_err().code().map(str::to_string)
}

#[test]
fn server_errors_carry_their_codes_and_the_connection_stays_usable() {
    let config = Config::default()
        .max_value_size(16)
        .max_prefix_snapshot(2)
        .max_subscriptions(1);
    let server = TestServer::with(config);
    let mut c = connect(&server);
    let big = format!("\"{}\"", "x".repeat(100));
    assert_eq!(
        code(c.set("a", "k", &big, &SetOptions::new())).as_deref(),
        Some("too_large")
    );
    assert_eq!(code(c.get("a", "")).as_deref(), Some("bad_request"));
    for k in ["p1", "p2", "p3"] {
        c.set("a", k, "0", &SetOptions::new()).unwrap();
    }
    let prefix = c.subscribe("a", &Topic::prefix("p"), None);
    assert_eq!(code(prefix).as_deref(), Some("too_many_keys"));
    c.subscribe("a", &Topic::key("p1"), None).unwrap();
    let second = c.subscribe("a", &Topic::key("p2"), None);
    assert_eq!(code(second).as_deref(), Some("too_many_subscriptions"));
    match c.request(r#"{"type":"frobnicate"}"#) {
        Err(e @ Error::Server { .. }) => {
            assert_eq!(e.code(), Some("bad_request"));
            assert!(e.to_string().starts_with("bad_request: "), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let bad = c.request("[1,2]").unwrap_err();
    assert!(matches!(bad, Error::BadInput(_)), "{bad}");
    assert_eq!(c.get("a", "p1").unwrap().value, "0");
}

#[test]
fn replies_are_matched_by_req_while_notifications_interleave() {
    let server = TestServer::start();
    let mut c = connect(&server);
    c.set("b", "probe", r#""here""#, &SetOptions::new())
        .unwrap();
    let sub = c.subscribe("a", &Topic::prefix(""), None).unwrap();
    assert_eq!(sub.rev, 1);
    let url = server.url();
    let writer = thread::spawn(move || {
        let mut w = Client::connect(&url).unwrap();
        for n in 0..200 {
            w.set(
                "a",
                &format!("k{}", n % 7),
                &n.to_string(),
                &SetOptions::new(),
            )
            .unwrap();
        }
    });
    for _ in 0..100 {
        let probe = c.get("b", "probe").unwrap();
        assert_eq!(
            (probe.key.as_str(), probe.value.as_str()),
            ("probe", r#""here""#)
        );
    }
    writer.join().unwrap();
    // Our own set: the reply first, its notification queued after.
    let own = c.set("a", "mine", "1", &SetOptions::new()).unwrap();
    assert_eq!(own.rev, 202);
    let mut revs = Vec::new();
    while revs.last() != Some(&202) {
        let e = next(&mut c);
        assert_eq!(
            (e.kind.as_str(), e.req.as_deref()),
            ("value", None),
            "{}",
            e.text
        );
        revs.push(e.rev.unwrap());
    }
    assert_eq!(revs, (2..=202).collect::<Vec<_>>());
    nothing_queued(&mut c);
}

#[test]
fn prefix_snapshots_arrive_as_events_before_the_reply_and_unsubscribe_stops_them() {
    let server = TestServer::start();
    let mut c = connect(&server);
    for k in ["room/b", "room/a", "other"] {
        c.set("a", k, &format!("\"{k}\""), &SetOptions::new())
            .unwrap();
    }
    let topic = Topic::prefix("room/");
    let reply = c.subscribe("a", &topic, None).unwrap();
    assert_eq!(
        reply.text,
        r#"{"type":"subscribed","id":"a","prefix":"room/","rev":3,"req":4}"#
    );
    assert_eq!(
        (reply.rev, reply.value.as_deref(), reply.resync),
        (3, None, false)
    );
    assert_eq!(next(&mut c).key.as_deref(), Some("room/a"));
    let b = next(&mut c);
    assert_eq!(
        (b.key.as_deref(), b.value.as_deref(), b.rev),
        (Some("room/b"), Some(r#""room/b""#), Some(1))
    );
    let key = c.subscribe("a", &Topic::key("other"), None).unwrap();
    assert_eq!((key.value.as_deref(), key.rev), (Some(r#""other""#), 3));
    let un = c.unsubscribe("a", &topic).unwrap();
    assert_eq!(
        un.text,
        r#"{"type":"unsubscribed","id":"a","prefix":"room/","req":6}"#
    );
    c.set("a", "room/c", "1", &SetOptions::new()).unwrap();
    nothing_queued(&mut c);
    // Resuming a key subscription: replayed changes, then `subscribed`.
    c.set("a", "other", "2", &SetOptions::new()).unwrap();
    c.unsubscribe("a", &Topic::key("other")).unwrap();
    c.set("a", "other", "3", &SetOptions::new()).unwrap();
    assert_eq!(next(&mut c).rev, Some(5));
    let back = c.subscribe("a", &Topic::key("other"), Some(5)).unwrap();
    assert_eq!((back.rev, back.resync), (6, false));
    assert_eq!(next(&mut c).rev, Some(6));
}

#[test]
fn list_pages_and_list_all() {
    let server = TestServer::start();
    let mut c = connect(&server);
    let mut want = Vec::new();
    for n in 0..2100 {
        let key = format!("k{n:04}");
        c.set("a", &key, "0", &SetOptions::new()).unwrap();
        want.push(key);
    }
    c.set("a", "z", "0", &SetOptions::new()).unwrap();
    let page = c
        .list("a", &ListOptions::prefix("k").after("k0007").limit(2))
        .unwrap();
    assert_eq!(
        (page.keys, page.more),
        (vec!["k0008".into(), "k0009".into()], true)
    );
    let mut pages = 0;
    let count = c.list_pages("a", "k", |_| pages += 1).unwrap();
    assert_eq!((count, pages), (2100, 3));
    assert_eq!(c.list_all("a", "k").unwrap(), want);
    assert_eq!(c.list_all("a", "").unwrap().len(), 2101);
    assert_eq!(c.list_all("nobody", "").unwrap(), Vec::<String>::new());
}

/// Answers `echo` at once and says `hello` to every new connection; stays
/// silent on `silent`.
struct Custom;

impl Hooks for Custom {
    fn on_established(&mut self, ctx: &mut Context<'_>, conn: ConnId) {
        ctx.send(conn, r#"{"type":"hello"}"#);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, conn: ConnId, m: &CustomMessage<'_>) -> bool {
        if m.kind == "echo" {
            let req = m.req.unwrap_or("null");
            ctx.send(
                conn,
                &format!(r#"{{"type":"echoed","text":{:?},"req":{req}}}"#, m.text),
            );
        }
        matches!(m.kind, "echo" | "silent")
    }
}

/// A server with hooks, in a thread; stopped on drop.
struct Hooked(SocketAddr, Handle, Option<thread::JoinHandle<()>>);

impl Hooked {
    fn start(hooks: impl Hooks + Send + 'static) -> Hooked {
        let mut server = Server::bind(Config::default().host("127.0.0.1").port(0)).unwrap();
        server.set_hooks(hooks);
        let (addr, handle) = (server.local_addr(), server.handle());
        let thread = thread::spawn(move || server.run().unwrap());
        Hooked(addr, handle, Some(thread))
    }
}

impl Drop for Hooked {
    fn drop(&mut self) {
        self.1.shutdown();
        let _ = self.2.take().map(thread::JoinHandle::join);
    }
}

#[test]
fn raw_requests_get_a_req_and_unanswered_ones_time_out() {
    let server = Hooked::start(Custom);
    let mut c = Client::connect(&format!("ws://{}/", server.0)).unwrap();
    let reply = c
        .request(r#"{"type":"echo","n":12345678901234567890}"#)
        .unwrap();
    assert_eq!(reply.kind, "echoed");
    assert_eq!(reply.req.as_deref(), Some("1"));
    assert!(
        reply
            .text
            .contains(r#"\"n\":12345678901234567890,\"req\":1}"#),
        "{}",
        reply.text
    );
    let mine = c.request(r#"{"type":"echo","req":"mine"}"#).unwrap();
    assert_eq!(mine.req.as_deref(), Some(r#""mine""#));
    // The greeting came before any reply: it is an event.
    assert_eq!(next(&mut c).text, r#"{"type":"hello"}"#);
    c.set_request_timeout(Duration::from_millis(100));
    let started = Instant::now();
    assert!(matches!(
        c.request(r#"{"type":"silent"}"#),
        Err(Error::Timeout)
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(c.is_connected());
    assert_eq!(c.get("a", "k").unwrap().rev, 0);
    // `send` does not wait: its reply is an event.
    c.send(r#"{"type":"echo","req":"sent"}"#).unwrap();
    assert_eq!(next(&mut c).req.as_deref(), Some(r#""sent""#));
}

#[test]
fn connection_failures_are_typed() {
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let e = Client::connect(&format!("ws://{refused}/")).unwrap_err();
    assert!(
        matches!(e, Error::Connect { .. }) && e.is_connection(),
        "{e}"
    );
    let e = Client::connect("wss://127.0.0.1:1/").unwrap_err();
    assert!(matches!(e, Error::BadInput(_)), "{e}");
    // A listener that never answers the handshake.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let opts = ConnectOptions::timeout(Duration::from_millis(200));
    let e = Client::connect_with(&format!("ws://{}/", silent.local_addr().unwrap()), &opts)
        .unwrap_err();
    assert!(e.to_string().contains("handshake timed out"), "{e}");

    let server = TestServer::start();
    let mut c = connect(&server);
    // The server waits for our answer to its close frame: read it before
    // waiting for the server to stop.
    server.handle.shutdown();
    match c.next_event(Some(PATIENCE)) {
        Err(Error::ConnectionLost { code, .. }) => assert_eq!(code, Some(1001)),
        other => panic!("{other:?}"),
    }
    assert!(!c.is_connected());
    assert!(matches!(
        c.get("a", "k"),
        Err(Error::ConnectionLost {
            code: Some(1001),
            ..
        })
    ));
    server.stop();
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

fn subscriber(url: &str) -> Subscriber {
    Subscriber::connect(url, ConnectOptions::timeout(PATIENCE))
        .unwrap()
        .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
}

/// Notices, shortened for assertions, until `resumed` subscriptions are back.
fn until_resumed(sub: &mut Subscriber, resumed: usize) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|s: &&String| s.starts_with("resumed"))
        .count()
        < resumed
    {
        assert!(Instant::now() < deadline, "still waiting, after {seen:?}");
        match sub.next(Some(Duration::from_millis(100))).unwrap() {
            Some(Notice::Event(e)) => seen.push(e.text),
            Some(Notice::Lost(_)) => seen.push("lost".into()),
            Some(Notice::RetryFailed { .. }) | None => {}
            Some(Notice::Reconnected) => seen.push("reconnected".into()),
            Some(Notice::Resumed { since, reply, .. }) => {
                seen.push(format!("resumed since {since}: {}", reply.text))
            }
            Some(other) => panic!("{other:?}"),
        }
    }
    seen
}

fn event(sub: &mut Subscriber) -> String {
    match sub.next(Some(PATIENCE)).unwrap() {
        Some(Notice::Event(e)) => e.text,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[test]
fn a_subscriber_resumes_with_exactly_the_changes_it_missed() {
    let server = TestServer::start();
    let proxy = Proxy::start(server.addr);
    let mut writer = connect(&server);
    let mut sub = subscriber(&proxy.url());
    let k = sub.subscribe("a", Topic::key("k"), None).unwrap();
    assert_eq!(
        k.text,
        r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":1}"#
    );
    sub.subscribe("a", Topic::prefix("p/"), None).unwrap();
    writer.set("a", "k", "1", &SetOptions::new()).unwrap();
    assert_eq!(
        event(&mut sub),
        r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#
    );

    proxy.cut(false);
    assert!(matches!(
        sub.next(Some(PATIENCE)).unwrap(),
        Some(Notice::Lost(_))
    ));
    writer.set("a", "k", "2", &SetOptions::new()).unwrap();
    writer
        .set("a", "p/x", r#""x""#, &SetOptions::new())
        .unwrap();
    writer.delete("a", "k", None).unwrap();
    writer
        .set("a", "elsewhere", "9", &SetOptions::new())
        .unwrap();
    // A few attempts fail while the proxy refuses.
    for _ in 0..3 {
        match sub.next(Some(PATIENCE)).unwrap() {
            Some(Notice::RetryFailed { error, .. }) => assert!(error.is_connection()),
            other => panic!("expected a failed attempt, got {other:?}"),
        }
    }
    proxy.reopen(server.addr);
    assert_eq!(
        until_resumed(&mut sub, 2),
        [
            "reconnected",
            r#"{"type":"value","id":"a","key":"k","value":2,"rev":2}"#,
            r#"{"type":"deleted","id":"a","key":"k","rev":4}"#,
            r#"resumed since 1: {"type":"subscribed","id":"a","key":"k","rev":5,"req":1}"#,
            r#"{"type":"value","id":"a","key":"p/x","value":"x","rev":3}"#,
            r#"resumed since 0: {"type":"subscribed","id":"a","prefix":"p/","rev":5,"req":2}"#,
        ]
    );
    let revs: Vec<u64> = sub.subscriptions().iter().map(|s| s.last_rev).collect();
    assert_eq!(revs, [5, 5]);
    writer.set("a", "p/y", "6", &SetOptions::new()).unwrap();
    assert_eq!(
        event(&mut sub),
        r#"{"type":"value","id":"a","key":"p/y","value":6,"rev":6}"#
    );
    assert_eq!(sub.subscriptions()[1].last_rev, 6);
}

#[test]
fn a_subscriber_reports_a_resync_when_the_server_cannot_replay() {
    let first = TestServer::start();
    let proxy = Proxy::start(first.addr);
    let mut sub = subscriber(&proxy.url());
    sub.subscribe("a", Topic::key("k"), None).unwrap();
    sub.subscribe("a", Topic::prefix("p/"), None).unwrap();
    let mut writer = connect(&first);
    for (key, n) in [("p/a", 1), ("p/a", 2), ("k", 3)] {
        writer
            .set("a", key, &n.to_string(), &SetOptions::new())
            .unwrap();
        event(&mut sub);
    }
    // A new, empty server (its revisions start again from 0).
    let second = TestServer::start();
    connect(&second)
        .set("a", "p/z", r#""fresh""#, &SetOptions::new())
        .unwrap();
    proxy.cut(false);
    proxy.reopen(second.addr);
    let seen = until_resumed(&mut sub, 2);
    assert_eq!(
        seen,
        [
            "lost",
            "reconnected",
            r#"resumed since 3: {"type":"value","id":"a","key":"k","value":null,"rev":0,"resync":true,"req":1}"#,
            r#"{"type":"value","id":"a","key":"p/z","value":"fresh","rev":1}"#,
            r#"resumed since 2: {"type":"subscribed","id":"a","prefix":"p/","rev":1,"resync":true,"req":2}"#,
        ]
    );
    let revs: Vec<u64> = sub.subscriptions().iter().map(|s| s.last_rev).collect();
    assert_eq!(revs, [0, 1]);
    drop(sub); // before the servers, which wait for their clients to close
}

/// A scripted WebSocket peer playing the server side of `auth`: tokens
/// `user` and `manager` are accepted, others are not; anything else gets a
/// `value` (after 300 ms for type `slow`); the first connection is
/// dropped after its first subscribe. Every message received
/// is recorded with its connection's number.
fn auth_peer() -> (String, mpsc::Receiver<(usize, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (n, stream) in listener.incoming().map_while(Result::ok).enumerate() {
            let mut ws = tungstenite::accept(stream).unwrap();
            while let Ok(Message::Text(text)) = ws.read() {
                let _ = tx.send((n, text.to_string()));
                let m: serde_json::Value = serde_json::from_str(&text).unwrap();
                let (kind, req) = (m["type"].as_str().unwrap(), &m["req"]);
                if kind == "slow" {
                    thread::sleep(Duration::from_millis(300));
                }
                let reply = match (kind, m["token"].as_str()) {
                    ("auth" | "upgrade", Some(role @ ("user" | "manager"))) => format!(
                        r#"{{"type":"authenticated","role":"{role}","ids":["a","b"],"access":{{"a":"rw"}},"expires":1700000000,"req":{req}}}"#
                    ),
                    ("auth" | "upgrade", _) => format!(
                        r#"{{"type":"error","code":"invalid_token","message":"bad token","req":{req}}}"#
                    ),
                    _ => format!(
                        r#"{{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":{req}}}"#
                    ),
                };
                ws.send(Message::text(reply)).unwrap();
                if n == 0 && kind == "subscribe" {
                    break; // drop the first connection
                }
            }
        }
    });
    (url, rx)
}

#[test]
fn auth_and_upgrade_are_presented_again_after_a_reconnect() {
    let (url, seen) = auth_peer();
    let mut sub = subscriber(&url);
    let e = sub.auth("forged").unwrap_err();
    assert_eq!(e.code(), Some("invalid_token"));
    let user = sub.auth("user").unwrap();
    assert_eq!(
        (user.role.as_str(), &user.ids),
        ("user", &vec!["a".into(), "b".into()])
    );
    assert_eq!(user.access.as_deref(), Some(r#"{"a":"rw"}"#));
    assert_eq!(user.expires, Some(1_700_000_000));
    assert_eq!(sub.upgrade("manager").unwrap().role, "manager");
    sub.subscribe("a", Topic::key("k"), None).unwrap();
    let mut notices = Vec::new();
    while notices.len() < 3 {
        match sub.next(Some(PATIENCE)).unwrap() {
            Some(Notice::RetryFailed { .. }) => {}
            Some(n) => notices.push(format!("{n:?}")),
            None => panic!("nothing after {notices:?}"),
        }
    }
    assert!(notices[0].starts_with("Lost"), "{notices:?}");
    assert!(notices[1].starts_with("Reconnected"), "{notices:?}");
    assert!(notices[2].starts_with("Resumed"), "{notices:?}");
    let second: Vec<String> = seen
        .try_iter()
        .filter(|(n, _)| *n == 1)
        .map(|(_, text)| text)
        .collect();
    assert_eq!(
        second,
        [
            r#"{"type":"auth","token":"user","req":1}"#,
            r#"{"type":"upgrade","token":"manager","req":2}"#,
            r#"{"type":"subscribe","id":"a","key":"k","since":0,"req":3}"#,
        ]
    );
}

#[test]
fn keepalive_pings_keep_a_quiet_connection_and_drop_a_dead_one() {
    let server = TestServer::start();
    let every = Some(Duration::from_millis(50));
    let mut quiet = subscriber(&server.url()).with_keepalive(every);
    let nothing = quiet.next(Some(Duration::from_millis(400))).unwrap();
    assert!(nothing.is_none(), "{nothing:?}");
    assert!(quiet.is_connected());
    // A peer that completes the handshake, then never reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        let stream = listener.accept().unwrap().0;
        let _ws = tungstenite::accept(stream).unwrap();
        thread::sleep(PATIENCE * 2);
    });
    let mut dead = subscriber(&url).with_keepalive(every);
    let started = Instant::now();
    match dead.next(Some(PATIENCE)).unwrap() {
        Some(Notice::Lost(e)) => assert!(e.to_string().contains("no answer to a ping"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_late_reply_is_dropped_not_taken_for_the_next_one() {
    let (url, _) = auth_peer();
    let mut c =
        Client::connect_with(&url, &ConnectOptions::timeout(Duration::from_millis(100))).unwrap();
    assert!(matches!(
        c.request(r#"{"type":"slow"}"#),
        Err(Error::Timeout)
    ));
    c.set_request_timeout(PATIENCE);
    let next_reply = c.request(r#"{"type":"quick"}"#).unwrap();
    assert_eq!(next_reply.req.as_deref(), Some("2"));
    assert_eq!(
        c.next_event(Some(Duration::from_millis(200))).unwrap(),
        None
    );
}

const SECRET: &[u8] = b"a secret for the client tests, 32+ bytes";

/// A token signed with [`SECRET`], valid for an hour.
fn token(role: Role, ids: &[&str], access: Access) -> (String, u64) {
    let now = std::time::SystemTime::now();
    let exp = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let ids = ids.iter().map(|s| s.to_string()).collect();
    let claims = Claims {
        role,
        ids,
        access,
        exp,
        nbf: None,
    };
    (mint(SECRET, &claims), exp)
}

#[test]
fn tokens_on_a_real_server_and_a_subscriber_that_authenticates_again() {
    let config = Config::default().secret(Some(Secret::new(SECRET).unwrap()));
    let server = TestServer::with(config);
    let mut c = connect(&server);
    assert_eq!(code(c.get("a", "k")).as_deref(), Some("unauthenticated"));
    assert_eq!(
        code(c.auth("not.a.token")).as_deref(),
        Some("invalid_token")
    );
    let (reader, exp) = token(Role::Guest, &["a"], Access::Read);
    let guest = c.auth(&reader).unwrap();
    assert_eq!(
        (guest.role.as_str(), &guest.ids, guest.access.as_deref()),
        ("guest", &vec!["a".to_string()], Some("read"))
    );
    assert_eq!(guest.expires, Some(exp));
    assert_eq!(
        code(c.set("a", "k", "1", &SetOptions::new())).as_deref(),
        Some("forbidden")
    );
    let (manager, _) = token(Role::Manager, &[], Access::ReadWrite);
    let up = c.upgrade(&manager).unwrap();
    assert_eq!(
        (up.role.as_str(), &up.ids[..]),
        ("manager", &["*".to_string()][..])
    );
    assert_eq!(c.set("a", "k", "1", &SetOptions::new()).unwrap().rev, 1);

    let proxy = Proxy::start(server.addr);
    let mut sub = subscriber(&proxy.url());
    sub.auth(&reader).unwrap();
    sub.subscribe("a", Topic::key("k"), None).unwrap();
    proxy.cut(false);
    assert!(matches!(
        sub.next(Some(PATIENCE)).unwrap(),
        Some(Notice::Lost(_))
    ));
    c.set("a", "k", "2", &SetOptions::new()).unwrap();
    proxy.reopen(server.addr);
    assert_eq!(
        until_resumed(&mut sub, 1),
        [
            "reconnected",
            r#"{"type":"value","id":"a","key":"k","value":2,"rev":2}"#,
            r#"resumed since 1: {"type":"subscribed","id":"a","key":"k","rev":2,"req":2}"#,
        ]
    );
    drop(sub);
}
