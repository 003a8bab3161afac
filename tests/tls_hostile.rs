//! Clients that do not finish a TLS handshake, on a TLS port: plain HTTP
//! gets a plain `400` saying so; garbage ends the connection; a handshake
//! left half done, or never started, is cut at `--handshake-timeout`
//! without an answer; a flood of handshakes is spread over the loop's
//! steps. None of them holds up a client that is being served, which a
//! canary over TLS measures.

#![cfg(feature = "tls")]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::canary::Canary;
use common::tls::{self, Pki};
use common::{TestServer, raw_exchange};
use rustls::pki_types::ServerName;

/// The longest a canary round trip may take while an attack runs: wide,
/// so that a slow machine cannot make it flake, and far below the stalls
/// the attacks cause where they work.
const WAIT: Duration = Duration::from_millis(500);

/// The same during a flood of handshakes. In a debug build on a 2-core
/// machine the canary waited 23-45 ms at worst with handshakes limited to
/// 2 ms a loop step, and 300-400 ms without the limit (256 handshakes in
/// one step); the bound sits between, nearer the first.
const HANDSHAKE_WAIT: Duration = Duration::from_millis(150);

fn canary(server: &TestServer, pki: &Pki) -> Canary {
    let ws = tls::wss(server.addr, &pki.ca);
    ws.get_ref()
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    Canary::on(ws, None)
}

/// A real ClientHello, as rustls sends it.
fn client_hello(pki: &Pki) -> Vec<u8> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(tls::trusting(&pki.ca), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    assert_eq!(hello[0], 0x16, "a handshake record");
    hello
}

/// Reads until the server ends the connection; returns what it sent.
fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server did not close: {e}"),
    }
    got
}

#[test]
fn plain_http_to_a_tls_port_gets_a_plain_400_that_says_so() {
    let pki = Pki::new("plain-http");
    let server = TestServer::with(pki.config());
    let body = "400 Bad Request: this port speaks TLS: use https:// or wss://\n";
    let want = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let page = raw_exchange(server.addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(String::from_utf8(page).unwrap(), want);
    let upgrade = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.addr
    );
    let ws = raw_exchange(server.addr, upgrade.as_bytes());
    assert_eq!(String::from_utf8(ws).unwrap(), want);
    // The project's client says what it got.
    let url = format!("ws://{}/", server.addr);
    match kvws::client::Client::connect(&url) {
        Err(kvws::client::Error::Connect { reason, .. }) => {
            assert_eq!(reason, "HTTP 400 Bad Request")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn garbage_and_half_handshakes_hold_up_no_one_and_are_cut_at_the_handshake_timeout() {
    let pki = Pki::new("stalls");
    let timeout = Duration::from_secs(1);
    let server = TestServer::with(pki.config().handshake_timeout(timeout));
    let canary = canary(&server, &pki);
    let hello = client_hello(&pki);
    let started = Instant::now();
    // Half a ClientHello, then nothing.
    let mut halves: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(&hello[..hello.len() / 2]).unwrap();
            s
        })
        .collect();
    // Connected, and nothing at all.
    let mut silent: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // A handshake record header around junk: an alert, or just the end.
    for _ in 0..50 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        let mut junk = vec![0x16, 0x03, 0x01, 0x00, 0xc8];
        junk.extend((0..200u32).map(|i| (i * 7 + 3) as u8));
        s.write_all(&junk).unwrap();
        let answer = until_closed(&mut s);
        assert!(
            answer.is_empty() || answer[0] == 0x15,
            "nothing, or a TLS alert record: {answer:?}"
        );
    }
    // Junk that is not TLS at all: the plain answer, since it may be a
    // confused HTTP client.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(&[0u8; 300]).unwrap();
    let answer = String::from_utf8(until_closed(&mut s)).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    // Every stalled handshake is cut without a byte (there is no TLS
    // session to answer over), once the timeout has passed.
    for s in halves.iter_mut().chain(silent.iter_mut()) {
        assert_eq!(until_closed(s), b"", "no answer to a stalled handshake");
    }
    let waited = started.elapsed();
    assert!(
        waited >= timeout && waited < timeout * 4,
        "cut after {waited:?} (handshake timeout {timeout:?})"
    );
    let (worst, rounds) = canary.finish();
    assert!(rounds > 10, "{rounds} canary rounds");
    assert!(worst < WAIT, "the canary waited {worst:?}");
    server.wait_for("only the canary's connection left", |s| s.connections <= 1);
}

#[test]
fn a_flood_of_handshakes_does_not_stall_the_clients_being_served() {
    let pki = Pki::new("flood");
    let server = TestServer::with(pki.config());
    let canary = canary(&server, &pki);
    // One ClientHello sent on 500 connections at once: each costs the
    // server a key exchange and a signature, and the attacker a write.
    let hello = client_hello(&pki);
    let mut flood: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(&hello).unwrap();
            s
        })
        .collect();
    // Every one is answered (the server's first flight), in its turn.
    for s in &mut flood {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut first = [0u8; 1];
        s.read_exact(&mut first).unwrap();
        assert_eq!(first[0], 0x16, "the server's handshake");
    }
    let (worst, rounds) = canary.finish();
    assert!(rounds > 5, "{rounds} canary rounds");
    assert!(
        worst < HANDSHAKE_WAIT,
        "the canary waited {worst:?} while the server did 500 handshakes"
    );
}

#[test]
fn a_handshake_over_tls_1_2_that_stops_after_the_server_hello_is_cut_too() {
    let pki = Pki::new("tls12-stall");
    let timeout = Duration::from_secs(1);
    let server = TestServer::with(pki.config().handshake_timeout(timeout));
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    let mut s = TcpStream::connect(server.addr).unwrap();
    let started = Instant::now();
    s.write_all(&hello).unwrap();
    // The server answers (ServerHello, its certificate...) and then waits
    // for a client that never goes on.
    let answer = until_closed(&mut s);
    assert_eq!(answer[0], 0x16, "the server's handshake");
    let waited = started.elapsed();
    assert!(
        waited >= timeout && waited < timeout * 4,
        "cut after {waited:?}"
    );
}

/// A ClientHello that claims 65,000 bytes and never ends: rustls would keep
/// up to 64 KiB of it on every such connection until the handshake
/// timeout. Past 16 KiB of handshake input the connection is cut at once,
/// and a peer that sends exactly that much is still waiting for more.
#[test]
fn a_handshake_message_too_large_for_a_client_is_cut_once_past_16_kib() {
    let pki = Pki::new("huge-hello");
    let server = TestServer::with(pki.config().handshake_timeout(Duration::from_secs(60)));
    let canary = canary(&server, &pki);
    // A handshake record of 16 KiB, its message announcing 65,000 bytes.
    let record = |len: usize, body: &[u8]| {
        let mut r = vec![0x16, 0x03, 0x01];
        r.extend_from_slice(&(len as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    };
    let mut first = vec![0x01, 0x00, 0xfd, 0xe8]; // ClientHello, 65,000 bytes
    first.resize(16 * 1024 - 5, 0);
    let first = record(first.len(), &first);
    assert_eq!(first.len(), 16 * 1024 - 5 + 5);
    let started = Instant::now();
    let mut cut: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(&first).unwrap();
            // One byte past 16 KiB.
            s.write_all(&record(1, &[0])).unwrap();
            s
        })
        .collect();
    let mut waiting = TcpStream::connect(server.addr).unwrap();
    waiting.write_all(&first).unwrap();
    for s in &mut cut {
        assert_eq!(
            until_closed(s),
            b"",
            "no answer: there is no TLS to answer over"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "cut only at the timeout"
    );
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    match waiting.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("16 KiB of handshake was cut: {other:?}"),
    }
    let (worst, _) = canary.finish();
    assert!(worst < WAIT, "the canary waited {worst:?}");
}
