//! The client library (`kvws::client`) when things go wrong: raw requests
//! that get a `req` and unanswered ones that time out (against a server
//! with hooks), typed connection failures, the handshake's checks,
//! keepalive pings that keep a
//! quiet connection and drop a dead one, and a late reply that is dropped
//! rather than taken for the next one.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use common::peer::auth_peer;
use common::{PATIENCE, TestServer};
use kvws::client::{Client, ConnectOptions, Error, Event, Notice, Subscriber};
use kvws::{Config, ConnId, Context, CustomMessage, Handle, Hooks, Server};

fn connect(server: &TestServer) -> Client {
    Client::connect_with(&server.url(), &ConnectOptions::timeout(PATIENCE)).expect("connect")
}

fn next(c: &mut Client) -> Event {
    c.next_event(Some(PATIENCE)).unwrap().expect("an event")
}

fn subscriber(url: &str) -> Subscriber {
    Subscriber::connect(url, ConnectOptions::timeout(PATIENCE))
        .unwrap()
        .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
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
    c.set_request_timeout(PATIENCE);
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
    // wss:// is TLS: the same refusal, where the build has TLS.
    let e = Client::connect(&format!("wss://{refused}/")).unwrap_err();
    if cfg!(feature = "tls") {
        assert!(
            matches!(e, Error::Connect { .. }) && e.is_connection(),
            "{e}"
        );
    } else {
        assert!(matches!(e, Error::BadInput(_)), "{e}");
    }
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

/// A peer that reads a request head and answers `answer`, then waits.
fn answering(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> String {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let _ = stream.write_all(&answer(&head));
            thread::sleep(PATIENCE);
        }
    });
    url
}

#[test]
fn the_handshake_is_checked_and_what_follows_it_is_kept() {
    let refused = answering(|_| b"HTTP/1.1 503 Service Unavailable\r\n\r\n".to_vec());
    let e = Client::connect(&refused).unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    assert!(
        e.to_string().ends_with("HTTP 503 Service Unavailable"),
        "{e}"
    );
    let accept = |head: &str| {
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap_or_default();
        tungstenite::handshake::derive_accept_key(key.trim().as_bytes())
    };
    let wrong = answering(|_| {
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Accept: nonsense\r\n\r\n"
            .to_vec()
    });
    let e = Client::connect(&wrong).unwrap_err();
    assert!(e.to_string().contains("Sec-WebSocket-Accept"), "{e}");
    // A greeting in the same write as the 101: the first event.
    let greeting = answering(move |head| {
        let mut out = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept(head)
        )
        .into_bytes();
        out.extend_from_slice(&[0x81, 16]);
        out.extend_from_slice(br#"{"type":"hello"}"#);
        out
    });
    let mut c = Client::connect(&greeting).unwrap();
    let hello = c.next_event(Some(PATIENCE)).unwrap().unwrap();
    assert_eq!(hello.text, r#"{"type":"hello"}"#);
}

#[test]
fn keepalive_pings_keep_a_quiet_connection_and_drop_a_dead_one() {
    let server = TestServer::start();
    // Several ping rounds, each with room for a slow machine to answer.
    let every = Some(Duration::from_millis(250));
    let mut quiet = subscriber(&server.url()).with_keepalive(every);
    let nothing = quiet.next(Some(Duration::from_millis(1500))).unwrap();
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
    // A ping after 250 ms and 250 ms for its answer; well before PATIENCE.
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_late_reply_is_dropped_not_taken_for_the_next_one() {
    let (url, _) = auth_peer();
    let mut c = Client::connect_with(&url, &ConnectOptions::timeout(PATIENCE)).unwrap();
    // The peer answers `slow` after 300 ms.
    c.set_request_timeout(Duration::from_millis(100));
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
