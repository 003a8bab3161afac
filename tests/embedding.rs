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
        // The hook's reply first, then the notification its write caused,
        // as for a built-in set.
        c.call(
            r#"{"type":"double","n":21,"req":"r"}"#,
            &[
                r#"{"type":"doubled","value":42,"rev":1,"req":"r"}"#,
                r#"{"type":"value","id":"calc","key":"last","value":42,"rev":1}"#,
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

/// Serves `/status` and files under `/static/`; says who is asking.
struct Site {
    root: std::path::PathBuf,
}

impl Hooks for Site {
    fn on_http(&mut self, request: &kvws::HttpRequest<'_>) -> Option<kvws::Response> {
        if request.path == "/status" {
            let body = format!("ok {} {}", request.method, request.query.unwrap_or("-"));
            return Some(kvws::Response::text(body).header(
                "X-Peer-Loopback",
                &request.peer.ip().is_loopback().to_string(),
            ));
        }
        let file = request.path.strip_prefix("/static")?;
        kvws::Response::file(&self.root, file)
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, conn: ConnId, msg: &CustomMessage<'_>) -> bool {
        if msg.kind != "whoami" {
            return false;
        }
        let ip = ctx.peer(conn).map(|p| p.ip().to_string());
        let role = ctx.role(conn).map(|r| r.as_str());
        let reply = serde_json::json!({"type": "you", "ip": ip, "role": role});
        ctx.send(conn, &reply.to_string());
        true
    }
}

#[test]
fn an_http_hook_serves_its_own_paths_and_the_server_the_rest() {
    let root = std::env::temp_dir().join(format!("kvws-site-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("app.css"), "body{}").unwrap();
    let mut server = bind();
    server.set_hooks(Site { root: root.clone() });
    let addr = server.local_addr();
    let get = move |path: &str, method: &str| {
        let request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        String::from_utf8(raw_exchange(addr, request.as_bytes())).unwrap()
    };
    let replies = drive(&mut server, move || {
        [
            get("/status?x=1", "GET"),
            get("/status", "HEAD"),
            get("/static/app.css", "GET"),
            get("/static/../Cargo.toml", "GET"),
            get("/elsewhere", "GET"),
            get("/", "GET"),
        ]
    });
    assert_eq!(
        replies[0],
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-Peer-Loopback: true\r\n\
         Content-Length: 10\r\nConnection: close\r\n\r\nok GET x=1"
    );
    assert!(replies[1].starts_with("HTTP/1.1 200 OK\r\n") && replies[1].ends_with("\r\n\r\n"));
    assert!(
        replies[1].contains("Content-Length: 9\r\n"),
        "{}",
        replies[1]
    );
    assert!(replies[2].starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/css; charset=utf-8\r\n"));
    assert!(replies[2].ends_with("\r\n\r\nbody{}"));
    assert!(
        replies[3].starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{}",
        replies[3]
    );
    assert!(replies[4].starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(replies[5].starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/html"));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_broadcast_reaches_every_open_connection() {
    let mut server = bind();
    let opened = Opened::default();
    server.set_hooks(opened.clone());
    let addr = server.local_addr();
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let clients = thread::spawn(move || {
        let mut a = Client::connect(addr);
        let mut b = Client::connect(addr);
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        [a.recv(), b.recv()]
    });
    while opened.0.lock().unwrap().len() < 2 || ready_rx.try_recv().is_err() {
        server.service(Some(Duration::from_millis(5))).unwrap();
    }
    server.broadcast(r#"{"type":"news","text":"to all"}"#);
    go_tx.send(()).unwrap();
    let got = drive(&mut server, move || clients.join().unwrap());
    assert_eq!(got, [r#"{"type":"news","text":"to all"}"#; 2]);
}

#[test]
fn hooks_know_a_connections_address_and_role() {
    let secret = *b"an embedding test secret, 32 bytes long";
    let config = Config::default()
        .port(0)
        .secret(Some(kvws::auth::Secret::new(secret).unwrap()));
    let mut server = Server::bind(config).unwrap();
    server.set_hooks(Site {
        root: std::env::temp_dir(),
    });
    let addr = server.local_addr();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let token = kvws::auth::mint(
        &secret,
        &kvws::auth::Claims {
            role: kvws::auth::Role::Guest,
            ids: vec!["app".into()],
            access: kvws::auth::Access::Read,
            exp,
            nbf: None,
        },
    );
    let got = drive(&mut server, move || {
        let mut c = Client::connect(addr);
        c.send(&format!(r#"{{"type":"auth","token":"{token}"}}"#));
        c.recv();
        c.send(r#"{"type":"whoami"}"#);
        c.recv()
    });
    assert_eq!(got, r#"{"ip":"127.0.0.1","role":"guest","type":"you"}"#);
}
