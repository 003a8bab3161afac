//! Shared by the integration tests: a real server on a loopback port in a
//! thread of its own, and a real WebSocket client (tungstenite's) that
//! asserts exact replies.

#![allow(dead_code)]

pub mod browser;
pub mod canary;
pub mod cli;
pub mod daemon;
pub mod logdir;
pub mod peer;
pub mod proxy;
pub mod redis;
pub mod scrape;
pub mod suite;
#[cfg(feature = "tls")]
pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kvws::{Config, Handle, Server, Stats};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// How long a test waits for a message it expects before failing.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A server running on 127.0.0.1 with a free port; shut down on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with the default limits.
    pub fn start() -> Self {
        Self::with(Config::default())
    }

    /// Starts a server with `config` (its host and port are overridden;
    /// revisions start at 0 unless the config says otherwise, so replies
    /// can be asserted exactly).
    pub fn with(mut config: Config) -> Self {
        config.start_revision = Some(config.start_revision.unwrap_or(0));
        Self::exactly(config)
    }

    /// Starts a server with `config` as given, except for host and port.
    pub fn exactly(config: Config) -> Self {
        Self::on_port(config, 0)
    }

    /// Starts a server with `config` on a given loopback port (to restart
    /// one where its clients expect it).
    ///
    /// With `KVWS_TEST_REDIS=URL` every server that keeps no data on disk
    /// runs in cluster mode on that Redis, under a prefix of its own: the
    /// same suite then checks that a node behaves as a single server.
    pub fn on_port(mut config: Config, port: u16) -> Self {
        let cluster = std::env::var("KVWS_TEST_REDIS")
            .ok()
            .filter(|u| !u.is_empty());
        if let Some(url) = &cluster
            && config.redis.is_none()
            && config.data_dir.is_none()
        {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            config.redis = Some(url.clone());
            config.redis_prefix = format!("test-{}-{n}-{nanos}", std::process::id());
        }
        let mut server = Server::bind(config.host("127.0.0.1").port(port)).expect("bind");
        let addr = server.local_addr();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run().expect("server loop"));
        if cluster.is_some() {
            redis::wait_serving(addr);
        }
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// The WebSocket URL of the server.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Opens a WebSocket client (the project's client library).
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Opens a bare tungstenite client, for frame-level tests.
    pub fn raw_client(&self) -> RawClient {
        RawClient::connect(self.addr)
    }

    /// Waits until the server's counters satisfy `pred` (they are published
    /// once per loop iteration).
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Stats) -> bool) -> Stats {
        let start = Instant::now();
        loop {
            let stats = self.handle.stats();
            if pred(&stats) {
                return stats;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "timed out waiting for {what}: {stats:?}"
            );
            self.handle.wake().unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Shuts the server down and waits for its loop to return.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread panicked");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        }
    }
}

/// The project's own client library (`kvws::client`), driven with raw JSON
/// text so that tests assert exact messages.
pub struct Client {
    pub inner: kvws::client::Client,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let options = kvws::client::ConnectOptions::timeout(PATIENCE);
        let inner = kvws::client::Client::connect_with(&format!("ws://{addr}/"), &options)
            .expect("connect");
        Client { inner }
    }

    /// Sends one text message as is.
    pub fn send(&mut self, text: &str) {
        self.inner.send(text).expect("send");
    }

    /// The next message's text; panics on timeout or a lost connection.
    pub fn recv(&mut self) -> String {
        match self.inner.next_event(Some(PATIENCE)) {
            Ok(Some(event)) => event.text,
            Ok(None) => panic!("no message within {PATIENCE:?}"),
            Err(e) => panic!("expected a message, got {e}"),
        }
    }

    /// The next message's text, waiting up to `patience`.
    pub fn recv_within(&mut self, patience: Duration) -> String {
        match self.inner.next_event(Some(patience)) {
            Ok(Some(event)) => event.text,
            Ok(None) => panic!("no message within {patience:?}"),
            Err(e) => panic!("expected a message, got {e}"),
        }
    }

    /// Sends `text` and asserts the replies, in order and exactly.
    pub fn call(&mut self, text: &str, replies: &[&str]) {
        self.send(text);
        for want in replies {
            assert_eq!(self.recv(), *want, "reply to {text}");
        }
    }

    /// Asserts the next message is exactly `want`.
    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.recv(), want);
    }

    /// Asserts that nothing is waiting: sends a `get` as a marker and
    /// checks that its reply is the next message, so the check does not
    /// depend on timing alone.
    pub fn expect_nothing_before_marker(&mut self) {
        self.send(r#"{"type":"get","id":"__marker","key":"m","req":"marker"}"#);
        assert_eq!(
            self.recv(),
            r#"{"type":"value","id":"__marker","key":"m","value":null,"rev":0,"req":"marker"}"#
        );
    }

    /// Reads until the server closes; returns the close code it sent.
    pub fn expect_close(&mut self) -> Option<u16> {
        loop {
            match self.inner.next_event(Some(PATIENCE)) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the server did not close within {PATIENCE:?}"),
                Err(kvws::client::Error::ConnectionLost { code, .. }) => return code,
                Err(e) => panic!("expected a close, got {e}"),
            }
        }
    }

    /// Closes cleanly from the client side.
    pub fn close(self) {
        self.inner.close().expect("clean close");
    }
}

/// A bare tungstenite client, for tests about frames rather than messages
/// (binary frames, pings, reading a close frame after a backlog).
pub struct RawClient {
    pub ws: WebSocket<TcpStream>,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_nodelay(true).unwrap();
        let (ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).expect("handshake");
        RawClient { ws }
    }

    /// The next text message; panics on anything else or on timeout.
    pub fn recv(&mut self) -> String {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return t.as_str().to_string(),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Sends `text` and asserts the reply.
    pub fn call(&mut self, text: &str, reply: &str) {
        self.ws.send(Message::text(text)).expect("send");
        assert_eq!(self.recv(), reply);
    }
}

/// The close code of a frame, for assertions.
pub fn code(frame: &Option<CloseFrame>) -> Option<CloseCode> {
    frame.as_ref().map(|f| f.code)
}

/// Sends raw bytes over a fresh TCP connection and returns everything the
/// server writes back until it closes the connection.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .expect("server should close the connection");
    reply
}

/// Sends raw bytes over a fresh TCP connection and returns what the server
/// writes back up to the end of its response head.
pub fn raw_exchange_until_head(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A masked client text frame carrying `payload`, built by hand so tests
/// can send what a library would refuse to (bad UTF-8, half frames).
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A raw TCP connection that has completed the WebSocket handshake.
pub fn raw_ws(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Reads one unmasked server frame: (opcode, payload).
pub fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (h[0] & 0x0f, payload)
}

/// The lines a child process writes to `from`, as they come, read on a
/// thread of their own so that a test can wait for one with a timeout.
pub fn lines(from: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}
