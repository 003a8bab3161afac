//! The load generator against a real kvws server in a thread, and against
//! small fake servers that misbehave on purpose (stall, fragment, ping,
//! answer with errors, close).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use tungstenite::handshake::derive_accept_key;

use super::{Load, LoadConfig, LoadError, Mode, Target};

/// A kvws server on a free port; shut down when dropped.
struct Kvws(crate::Handle, Option<std::thread::JoinHandle<()>>, Target);

impl Kvws {
    fn start() -> Kvws {
        let mut server = crate::Server::bind(crate::Config::default().port(0)).unwrap();
        let target = Target::parse(&format!("ws://{}/", server.local_addr())).unwrap();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run().unwrap());
        Kvws(handle, Some(thread), target)
    }
}

impl Drop for Kvws {
    fn drop(&mut self) {
        self.0.shutdown();
        let _ = self.1.take().map(|t| t.join());
    }
}

#[test]
fn every_mode_against_kvws() {
    let server = Kvws::start();
    let config = |mode| LoadConfig::new(mode, server.2.clone()).keys(10);
    let mut load = Load::connect(&config(Mode::ReqResp).connections(3)).unwrap();
    let r = load.run_ops(1000).unwrap();
    assert_eq!((r.ops, r.latency.count), (1000, 1000));
    let r = load.run_ops(7).unwrap();
    assert_eq!(r.ops, 7, "runs repeat on the same connections");

    let mut load = Load::connect(&config(Mode::Pipeline).connections(2).depth(16)).unwrap();
    assert_eq!(load.run_ops(5000).unwrap().ops, 5000);
    let r = load.run_for(Duration::from_millis(100)).unwrap();
    assert!(r.ops > 0 && r.elapsed >= Duration::from_millis(100), "{r}");

    let mut load = Load::connect(&config(Mode::Fanout).connections(20).depth(4)).unwrap();
    let r = load.run_ops(50).unwrap();
    assert_eq!((r.ops, r.deliveries), (50, 1000), "{r}");
    let r = load.run_ops(10).unwrap();
    assert_eq!(r.deliveries, 200, "sequence numbers carry on: {r}");

    let pid = Some(std::process::id());
    let mut load = Load::connect(&config(Mode::Conns).connections(30).server_pid(pid)).unwrap();
    assert!(matches!(load.run_ops(1), Err(LoadError::Unsupported(_))));
    let r = load.run_for(Duration::from_millis(50)).unwrap();
    assert!(r.server_rss_after.is_some() && r.elapsed >= Duration::from_millis(50));
    assert!(r.to_string().contains("per connection"));
}

/// A fake WebSocket server for one connection: it answers the handshake,
/// then calls `reply` with every request's JSON text and writes back what
/// it returns (raw server frames). It returns the opcodes it got.
fn fake(
    reply: impl Fn(&str) -> Vec<u8> + Send + 'static,
) -> (Target, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = Target::parse(&format!("ws://{}/", listener.local_addr().unwrap())).unwrap();
    let thread = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept = derive_accept_key(key.trim().as_bytes());
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        s.write_all(answer.as_bytes()).unwrap();
        buf.clear();
        let mut opcodes = Vec::new();
        loop {
            // Whole masked client frames with short payloads.
            while buf.len() >= 6 && buf.len() >= 6 + (buf[1] & 0x7f) as usize {
                let len = (buf[1] & 0x7f) as usize;
                assert!(len < 126);
                let mut payload = buf[6..6 + len].to_vec();
                super::ws::unmask(&mut payload);
                opcodes.push(buf[0] & 0x0f);
                buf.drain(..6 + len);
                if opcodes.last() == Some(&0x1) {
                    let out = reply(std::str::from_utf8(&payload).unwrap());
                    if s.write_all(&out).is_err() {
                        return opcodes;
                    }
                }
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return opcodes,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
    (target, thread)
}

/// An unmasked server frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![u8::from(fin) << 7 | opcode, payload.len() as u8];
    f.extend_from_slice(payload);
    f
}

/// The correct kvws reply to a set or get request.
fn value_reply(request: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(request).unwrap();
    format!(
        r#"{{"type":"value","id":"{}","key":"{}","value":null,"rev":0}}"#,
        v["id"].as_str().unwrap(),
        v["key"].as_str().unwrap()
    )
}

fn one_client(target: Target) -> LoadConfig {
    LoadConfig::new(Mode::ReqResp, target)
        .connections(1)
        .value_size(8) // short frames for the fake server
        .timeout(Duration::from_millis(300))
}

#[test]
fn fragments_and_pings_are_handled() {
    let (target, server) = fake(|req| {
        let text = value_reply(req).into_bytes();
        let (a, b) = text.split_at(10);
        [
            frame(true, 0x9, b"hi"),
            frame(false, 0x1, a),
            frame(true, 0x0, b),
        ]
        .concat()
    });
    let mut load = Load::connect(&one_client(target)).unwrap();
    let r = load.run_ops(20).unwrap();
    assert_eq!(r.ops, 20);
    drop(load);
    let opcodes = server.join().unwrap();
    assert_eq!(
        opcodes.iter().filter(|&&o| o == 0xA).count(),
        20,
        "a pong per ping"
    );
    assert_eq!(opcodes.last(), Some(&0x8), "closed politely");
}

#[test]
fn wrong_replies_are_errors() {
    let (target, _server) = fake(|req| {
        let wrong = if req.contains("\"k3\"") {
            r#"{"type":"error","code":"bad_request","message":"nope"}"#.to_string()
        } else {
            value_reply(&req.replace("\"k5\"", "\"k6\""))
        };
        frame(true, 0x1, wrong.as_bytes())
    });
    let mut load = Load::connect(&one_client(target).keys(10)).unwrap();
    let Err(LoadError::Failed(r)) = load.run_ops(20) else {
        panic!("errors must fail the run");
    };
    // The set and the get of k3 and of k5 are answered wrongly.
    assert_eq!((r.ops, r.errors.count), (20, 4), "{r}");
    assert!(r.errors.examples[0].contains("set k3") && r.errors.examples[0].contains("nope"));
    assert!(r.errors.examples[2].contains("set k5") && r.errors.examples[2].contains("k6"));
    assert!(r.failure.is_none());
}

#[test]
fn a_stalled_server_ends_the_run() {
    let (target, _server) = fake(|req| {
        if req.contains("\"k2\"") {
            vec![]
        } else {
            frame(true, 0x1, value_reply(req).as_bytes())
        }
    });
    let mut load = Load::connect(&one_client(target)).unwrap();
    let Err(LoadError::Failed(r)) = load.run_ops(100) else {
        panic!("a stall must fail the run");
    };
    assert!(r.failure.as_ref().unwrap().contains("stalled"), "{r}");
    assert_eq!(r.ops, 4);
    let again = load.run_ops(1).unwrap_err().to_string();
    assert!(again.contains("earlier run failed"), "{again}");
}

#[test]
fn a_close_frame_loses_the_connection() {
    let (target, _server) = fake(|_| frame(true, 0x8, &[0x03, 0xe9, b'b', b'y', b'e']));
    let mut load = Load::connect(&one_client(target)).unwrap();
    let Err(LoadError::Failed(r)) = load.run_ops(10) else {
        panic!("a close must fail the run");
    };
    let why = r.failure.unwrap();
    assert!(why.contains("close frame 1001 bye"), "{why}");
}

#[test]
fn refused_connections_and_handshakes() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Target::parse(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let e = Load::connect(&one_client(target)).err().unwrap();
    assert!(e.to_string().contains("refused"), "{e}");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = Target::parse(&format!("ws://{}/", listener.local_addr().unwrap())).unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = s.read(&mut [0u8; 1024]);
        let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
        std::thread::sleep(Duration::from_millis(200));
    });
    let e = Load::connect(&one_client(target)).err().unwrap();
    assert!(e.to_string().contains("503"), "{e}");
}
