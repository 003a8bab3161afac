//! DNS rebinding: a page on a name that an attacker points at 127.0.0.1 is,
//! to the browser, the server's own page. An open server answers only
//! requests that name it by an IP address, `localhost`, or a name the
//! operator allows (`--allow-host`).

mod common;

use common::TestServer;
use kvws::Config;

fn upgrade(host: &str, origin: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

fn status(server: &TestServer, request: &str) -> String {
    let reply = common::raw_exchange_until_head(server.addr, request.as_bytes());
    reply.lines().next().unwrap_or("").to_string()
}

#[test]
fn a_page_on_a_rebound_name_is_refused() {
    let server = TestServer::start();
    let port = server.addr.port();
    let evil = format!("evil.example:{port}");
    let got = status(&server, &upgrade(&evil, &format!("http://{evil}")));
    assert_eq!(got, "HTTP/1.1 403 Forbidden");
    // The test page itself is not served under that name either.
    let got = status(&server, &format!("GET / HTTP/1.1\r\nHost: {evil}\r\n\r\n"));
    assert_eq!(got, "HTTP/1.1 403 Forbidden");
    // By address or as localhost it is the server's own page.
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let got = status(&server, &upgrade(&host, &format!("http://{host}")));
        assert_eq!(got, "HTTP/1.1 101 Switching Protocols", "{host}");
    }
}

#[test]
fn names_the_operator_allows_are_served() {
    let server = TestServer::with(Config::default().allowed_hosts(vec![".example.org".into()]));
    let port = server.addr.port();
    let host = format!("kv.example.org:{port}");
    let got = status(&server, &upgrade(&host, &format!("http://{host}")));
    assert_eq!(got, "HTTP/1.1 101 Switching Protocols");
    let other = format!("kv.example.net:{port}");
    let got = status(&server, &upgrade(&other, &format!("http://{other}")));
    assert_eq!(got, "HTTP/1.1 403 Forbidden");
}

#[test]
fn with_authentication_any_name_may_connect() {
    let secret = kvws::auth::Secret::new(*b"0123456789abcdef0123456789abcdef").unwrap();
    let server = TestServer::with(Config::default().secret(Some(secret)));
    let port = server.addr.port();
    let host = format!("kv.internal:{port}");
    let got = status(&server, &upgrade(&host, &format!("http://{host}")));
    assert_eq!(got, "HTTP/1.1 101 Switching Protocols");
}
