//! Plain HTTP on the WebSocket port: the test page, the JavaScript client,
//! errors, and clients that send garbage or never finish their request.

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
fn get_kvws_js_serves_the_javascript_client() {
    let server = TestServer::start();
    let etag = kvws::http::client_js_etag();
    let reply = text(raw_exchange(
        server.addr,
        b"GET /kvws.js HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ));
    let (head, body) = reply.split_once("\r\n\r\n").expect("a head");
    let len = kvws::http::CLIENT_JS.len();
    assert_eq!(
        head,
        format!(
            "HTTP/1.1 200 OK\r\n\
             Content-Type: text/javascript; charset=utf-8\r\n\
             Content-Length: {len}\r\n\
             Connection: close\r\n\
             Cache-Control: no-cache\r\n\
             ETag: {etag}\r\n\
             X-Content-Type-Options: nosniff"
        )
    );
    assert_eq!(
        body,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/clients/js/kvws.js"))
            .unwrap()
    );

    // HEAD: the same head, no body.
    let reply = text(raw_exchange(
        server.addr,
        b"HEAD /kvws.js HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ));
    assert_eq!(reply, format!("{head}\r\n\r\n"));
}

#[test]
fn kvws_js_is_answered_304_when_the_browser_has_it() {
    let server = TestServer::start();
    let etag = kvws::http::client_js_etag();
    let request = format!(
        "GET /kvws.js HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"something-else\", {etag}\r\n\r\n"
    );
    let reply = text(raw_exchange(server.addr, request.as_bytes()));
    assert_eq!(
        reply,
        format!(
            "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
        )
    );
    // Another version: the whole file.
    let reply = text(raw_exchange(
        server.addr,
        b"GET /kvws.js HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: \"0123\"\r\n\r\n",
    ));
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with(kvws::http::CLIENT_JS));
    // Other methods on it are refused like anywhere else.
    let reply = text(raw_exchange(
        server.addr,
        b"DELETE /kvws.js HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ));
    assert!(
        reply.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{reply}"
    );
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
