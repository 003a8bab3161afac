//! Plain HTTP on the WebSocket port: the test page, errors, and clients
//! that send garbage or never finish their request.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{TestServer, raw_exchange};

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn get_root_serves_the_test_page() {
    let server = TestServer::start();
    let reply = text(raw_exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ));
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.contains("Content-Type: text/html; charset=utf-8\r\n"));
    let body = reply.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(body, kvws::http::PAGE);
    assert!(body.contains("<html"));
}

#[test]
fn head_root_sends_headers_only() {
    let server = TestServer::start();
    let reply = text(raw_exchange(server.addr, b"HEAD / HTTP/1.1\r\n\r\n"));
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(reply.ends_with("\r\n\r\n"), "{reply}");
}

#[test]
fn other_paths_are_404_and_other_methods_405() {
    let server = TestServer::start();
    let reply = text(raw_exchange(
        server.addr,
        b"GET /favicon.ico HTTP/1.1\r\n\r\n",
    ));
    assert!(reply.starts_with("HTTP/1.1 404 Not Found\r\n"), "{reply}");
    let reply = text(raw_exchange(
        server.addr,
        b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    ));
    assert!(
        reply.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{reply}"
    );
    assert!(reply.contains("Allow: GET, HEAD\r\n"));
}

#[test]
fn websocket_versions_other_than_13_get_426() {
    let server = TestServer::start();
    let reply = text(raw_exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ));
    assert!(
        reply.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{reply}"
    );
    assert!(reply.contains("Sec-WebSocket-Version: 13\r\n"));
}

#[test]
fn garbage_instead_of_http_gets_400_and_others_are_unaffected() {
    let server = TestServer::start();
    let mut bystander = server.client();
    let reply = text(raw_exchange(
        server.addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    ));
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
    let reply = text(raw_exchange(server.addr, &[0u8; 64]));
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
    bystander.expect_nothing_before_marker();
}

#[test]
fn an_oversized_request_head_gets_431() {
    let server = TestServer::start();
    let mut request = b"GET / HTTP/1.1\r\n".to_vec();
    while request.len() <= kvws::http::MAX_HEAD {
        request.extend_from_slice(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    let reply = text(raw_exchange(server.addr, &request));
    assert!(
        reply.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{reply}"
    );
}

#[test]
fn a_request_head_that_never_finishes_times_out_with_408() {
    let timeout = Duration::from_millis(300);
    let server = TestServer::with(kvws::Config::default().handshake_timeout(timeout));
    let mut bystander = server.client();
    // Taken before connecting: the server's timeout runs from its accept.
    let start = Instant::now();
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stalled.write_all(b"GET / HTTP/1.1\r\nHost: slow").unwrap();
    let mut reply = Vec::new();
    stalled.read_to_end(&mut reply).unwrap();
    assert!(
        start.elapsed() >= timeout,
        "closed after {:?}",
        start.elapsed()
    );
    assert!(text(reply).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    // Meanwhile other clients were served normally.
    bystander.expect_nothing_before_marker();
    drop(stalled);
    server.wait_for("the stalled connection to go", |s| s.connections == 1);
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_timeout() {
    let server =
        TestServer::with(kvws::Config::default().handshake_timeout(Duration::from_millis(200)));
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reply = Vec::new();
    silent.read_to_end(&mut reply).unwrap();
    assert!(text(reply).starts_with("HTTP/1.1 408"));
}
