//! Safe to expose: protected mode, secret files, origin checks, the idle
//! timeout, and the per-connection resource limits at their boundaries.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, client_frame, raw_ws, read_frame};
use kvws::{Config, Server};

const KVWS: &str = env!("CARGO_BIN_EXE_kvws");

fn temp_file(name: &str, contents: &str, mode: u32) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kvws-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("secret");
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Runs the real binary until it exits (it should, promptly); returns (code, stderr).
fn run_kvws(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(KVWS)
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("kvws {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn protected_mode_refuses_an_open_server_outside_loopback() {
    let err = Server::bind(Config::default().host("0.0.0.0").port(0))
        .err()
        .expect("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("--insecure-open"), "{err}");
    assert!(
        Server::bind(
            Config::default()
                .host("0.0.0.0")
                .port(0)
                .insecure_open(true)
        )
        .is_ok()
    );
    assert!(Server::bind(Config::default().host("::1").port(0)).is_ok());
    let secret = kvws::auth::Secret::new(*b"0123456789abcdef0123456789abcdef").unwrap();
    assert!(
        Server::bind(
            Config::default()
                .host("0.0.0.0")
                .port(0)
                .secret(Some(secret))
        )
        .is_ok()
    );

    let (code, stderr) = run_kvws(&["--host", "0.0.0.0", "--port", "0"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("refusing to serve 0.0.0.0:0 without authentication"),
        "{stderr}"
    );
}

#[test]
fn secret_files_readable_by_others_or_too_short_stop_the_start() {
    let open = temp_file("open", "0123456789abcdef0123456789abcdef\n", 0o644);
    let (code, stderr) = run_kvws(&["--port", "0", "--secret-file", open.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("accessible by group or others") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    let short = temp_file("short", "too short\n", 0o600);
    let (code, stderr) = run_kvws(&["--port", "0", "--secret-file", short.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("at least 32"), "{stderr}");
}

#[test]
fn kvws_token_mints_tokens_the_server_accepts() {
    let secret = "an operator's secret of at least 32 bytes";
    let path = temp_file("mint", &format!("{secret}\n"), 0o600);
    let out = Command::new(KVWS)
        .args([
            "token",
            "--secret-file",
            path.to_str().unwrap(),
            "--role",
            "guest",
            "--id",
            "app1",
        ])
        .args(["--access", "readwrite", "--ttl", "1h"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let server =
        TestServer::with(Config::default().secret(Some(kvws::auth::Secret::new(secret).unwrap())));
    let mut c = server.client();
    c.send(&format!(r#"{{"type":"auth","token":"{token}"}}"#));
    assert!(c.recv().starts_with(
        r#"{"type":"authenticated","role":"guest","ids":["app1"],"access":"readwrite""#
    ));
    c.call(
        r#"{"type":"set","id":"app1","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"app1","key":"k","value":1,"rev":1}"#],
    );
    let usage = Command::new(KVWS)
        .args(["token", "--secret-file", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        usage.status.code(),
        Some(2),
        "a guest token without --id is a usage error"
    );
}

fn upgrade_with(server: &TestServer, headers: &str) -> String {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{headers}\r\n",
        server.addr
    );
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut reply = vec![0u8; 512];
    let n = s.read(&mut reply).unwrap();
    String::from_utf8_lossy(&reply[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn cross_origin_pages_are_refused_unless_allowed() {
    let server =
        TestServer::with(Config::default().allowed_origins(vec!["https://app.example".into()]));
    let same = format!("Origin: http://{}\r\n", server.addr);
    assert_eq!(
        upgrade_with(&server, &same),
        "HTTP/1.1 101 Switching Protocols"
    );
    assert_eq!(
        upgrade_with(&server, ""),
        "HTTP/1.1 101 Switching Protocols"
    );
    assert_eq!(
        upgrade_with(&server, "Origin: https://app.example\r\n"),
        "HTTP/1.1 101 Switching Protocols"
    );
    assert_eq!(
        upgrade_with(&server, "Origin: http://evil.example\r\n"),
        "HTTP/1.1 403 Forbidden"
    );
    assert_eq!(
        upgrade_with(&server, "Origin: null\r\n"),
        "HTTP/1.1 403 Forbidden"
    );
    let other_port = format!("Origin: http://127.0.0.1:{}\r\n", server.addr.port() + 1);
    assert_eq!(upgrade_with(&server, &other_port), "HTTP/1.1 403 Forbidden");
    let anyone = TestServer::with(Config::default().allowed_origins(vec!["*".into()]));
    assert_eq!(
        upgrade_with(&anyone, "Origin: http://evil.example\r\n"),
        "HTTP/1.1 101 Switching Protocols"
    );
}

#[test]
fn a_silent_client_is_pinged_then_closed_while_a_responsive_one_stays() {
    let timeout = Duration::from_millis(600);
    let server = TestServer::with(Config::default().idle_timeout(timeout));
    // tungstenite answers pings as it reads: a client that keeps reading
    // (and sends nothing) stays connected past twice the timeout.
    let mut responsive = server.raw_client();
    let reader = std::thread::spawn(move || {
        let start = Instant::now();
        responsive
            .ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        while start.elapsed() < 2 * timeout {
            match responsive.ws.read() {
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Ok(tungstenite::Message::Ping(_)) => {} // answered by the next read
                other => panic!("unexpected {other:?}"),
            }
        }
        responsive
            .ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        responsive.call(
            r#"{"type":"get","id":"a","key":"k"}"#,
            r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#,
        );
    });
    // Taken before connecting: the server counts silence from its accept,
    // which comes later.
    let start = Instant::now();
    let mut silent = raw_ws(server.addr);
    let (op, _) = read_frame(&mut silent);
    assert_eq!(op, 0x9, "a ping first");
    assert!(start.elapsed() >= timeout / 2);
    let (op, payload) = read_frame(&mut silent);
    assert_eq!((op, &payload[..2]), (0x8, &1000u16.to_be_bytes()[..]));
    assert!(start.elapsed() >= timeout);
    assert_eq!(&payload[2..], b"idle timeout");
    reader.join().unwrap();
}

#[test]
fn answering_the_ping_keeps_a_quiet_client_alive() {
    let timeout = Duration::from_millis(600);
    let server = TestServer::with(Config::default().idle_timeout(timeout));
    let mut s = raw_ws(server.addr);
    for _ in 0..3 {
        let (op, payload) = read_frame(&mut s);
        assert_eq!(op, 0x9);
        s.write_all(&client_frame(0xA, &payload)).unwrap();
    }
    s.write_all(&client_frame(0x1, br#"{"type":"get","id":"a","key":"k"}"#))
        .unwrap();
    assert_eq!(
        read_frame(&mut s),
        (
            0x1,
            br#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#.to_vec()
        )
    );
}

#[test]
fn subscriptions_per_connection_at_the_limit() {
    let server = TestServer::with(Config::default().max_subscriptions(3));
    let mut c = server.client();
    for k in ["a", "b", "c"] {
        c.send(&format!(r#"{{"type":"subscribe","id":"x","key":"{k}"}}"#));
        c.recv();
    }
    c.call(
        r#"{"type":"subscribe","id":"x","prefix":"d"}"#,
        &[r#"{"type":"error","code":"too_many_subscriptions","message":"this connection already holds 3 subscriptions, the most allowed"}"#],
    );
    c.send(r#"{"type":"unsubscribe","id":"x","key":"a"}"#);
    c.call(
        r#"{"type":"subscribe","id":"x","prefix":"d"}"#,
        &[r#"{"type":"subscribed","id":"x","prefix":"d","rev":0}"#],
    );
}

#[test]
fn value_size_at_the_limit() {
    let server = TestServer::with(Config::default().max_value_size(10));
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"x","key":"k","value":"12345678"}"#,
        &[r#"{"type":"value","id":"x","key":"k","value":"12345678","rev":1}"#],
    );
    c.call(
        r#"{"type":"set","id":"x","key":"k","value":"123456789"}"#,
        &[r#"{"type":"error","code":"too_large","message":"value is 11 bytes, over the limit of 10"}"#],
    );
}

#[test]
fn the_store_fills_up_without_losing_anything() {
    let server = TestServer::with(Config::default().max_memory(2000));
    let mut c = server.client();
    let mut stored = 0;
    let full = loop {
        c.send(&format!(
            r#"{{"type":"set","id":"x","key":"k{stored}","value":"{}"}}"#,
            "v".repeat(100)
        ));
        let reply = c.recv();
        if reply.contains("store_full") {
            break reply;
        }
        stored += 1;
    };
    assert!(
        full.starts_with(r#"{"type":"error","code":"store_full","message":"the store is full ("#),
        "{full}"
    );
    assert!(stored > 5);
    for i in 0..stored {
        c.send(&format!(r#"{{"type":"get","id":"x","key":"k{i}"}}"#));
        assert!(c.recv().contains(r#""value":"vvvv"#), "k{i} kept");
    }
    // Deleting makes room again.
    c.call(
        r#"{"type":"delete","id":"x","key":"k0"}"#,
        &[&format!(
            r#"{{"type":"deleted","id":"x","key":"k0","rev":{}}}"#,
            stored + 1
        )],
    );
    c.send(&format!(
        r#"{{"type":"set","id":"x","key":"again","value":"{}"}}"#,
        "v".repeat(100)
    ));
    assert!(c.recv().starts_with(r#"{"type":"value""#));
}

#[test]
fn limits_that_contradict_each_other_are_refused_at_start() {
    for (args, says) in [
        (
            &["--max-message-size", "64k"][..],
            "does not fit in max-message-size",
        ),
        (
            &["--allow-origin", "app.example.com"][..],
            "is not an origin",
        ),
        (&["--allow-host", "http://x"][..], "is not a host name"),
        (
            &["--compact-factor", "0"][..],
            "compact-factor must be at least 1",
        ),
        (
            &["--preauth-output-buffer", "1k"][..],
            "preauth-output-buffer",
        ),
    ] {
        let (code, err) = run_kvws(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn an_idle_timeout_of_zero_turns_the_check_off() {
    let server = common::TestServer::with(Config::default().idle_timeout(Duration::ZERO));
    let mut c = server.client();
    std::thread::sleep(Duration::from_millis(300));
    c.expect_nothing_before_marker();
}

#[test]
fn the_start_up_log_says_how_the_server_runs() {
    use std::io::BufRead;
    let mut child = Command::new(KVWS)
        .args(["--port", "0", "--max-memory", "64M", "--idle-timeout", "0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut found = None;
    for line in lines.map_while(Result::ok) {
        if line.contains("authentication") {
            found = Some(line);
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let line = found.expect("a line about authentication");
    assert!(
        line.ends_with(
            "authentication off (open: anyone who reaches the port may read and write); \
         data in memory only; limits changed: max-memory 64M, idle-timeout 0"
        ),
        "{line}"
    );
}

#[test]
fn a_data_dir_that_is_a_file_is_refused_with_a_reason() {
    let file = temp_file("data-dir-file", "not a directory", 0o600);
    let (code, err) = run_kvws(&["--port", "0", "--data-dir", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a directory"), "{err}");
}
