//! `GET /metrics` on a real server over loopback, parsed by the Python
//! `prometheus_client` text parser: counters move by exactly the traffic
//! sent, refusals and closes are counted by reason, and only loopback
//! peers (or holders of the token) may read the page. The write-ahead
//! log's figures are in `metrics_wal.rs`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::scrape::{Page, get, python, request, scrape, scrape_until};
use common::{PATIENCE, TestServer, client_frame, raw_ws};
use kvws::Config;
use kvws::metrics::MetricsToken;

/// The difference of one sample between two pages (missing counts as 0).
fn delta(a: &Page, b: &Page, name: &str, labels: &[(&str, &str)]) -> f64 {
    b.find(name, labels).unwrap_or(0.0) - a.find(name, labels).unwrap_or(0.0)
}

#[test]
fn counters_move_by_exactly_the_traffic_sent() {
    let Some(py) = python() else { return };
    let server = TestServer::start();
    let before = scrape(&py, server.addr, &[]);
    assert_eq!(before.types["kvws_ws_messages_sent"], "counter");
    assert_eq!(before.types["kvws_loop_step_duration_seconds"], "histogram");
    assert_eq!(before.types["kvws_keys"], "gauge");
    // Every label value is there from the start, at zero.
    for reason in ["limit", "origin", "host", "handshake_timeout"] {
        let labels = [("reason", reason)];
        assert_eq!(
            before.find("kvws_connections_refused_total", &labels),
            Some(0.0)
        );
    }

    let mut c = server.client();
    let exchanges: [(&str, &[&str]); 10] = [
        (
            r#"{"type":"subscribe","id":"a","key":"k"}"#,
            &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
        ),
        (
            r#"{"type":"subscribe","id":"a","prefix":"p/"}"#,
            &[r#"{"type":"subscribed","id":"a","prefix":"p/","rev":0}"#],
        ),
        (
            r#"{"type":"set","id":"a","key":"k","value":1,"req":1}"#,
            &[
                r#"{"type":"value","id":"a","key":"k","value":1,"rev":1,"req":1}"#,
                r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#,
            ],
        ),
        (
            r#"{"type":"set","id":"a","key":"p/x","value":2,"req":2}"#,
            &[
                r#"{"type":"value","id":"a","key":"p/x","value":2,"rev":2,"req":2}"#,
                r#"{"type":"value","id":"a","key":"p/x","value":2,"rev":2}"#,
            ],
        ),
        (
            r#"{"type":"set","id":"a","key":"q","value":3,"req":3}"#,
            &[r#"{"type":"value","id":"a","key":"q","value":3,"rev":3,"req":3}"#],
        ),
        (
            r#"{"type":"get","id":"a","key":"k"}"#,
            &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
        ),
        (
            r#"{"type":"get","id":"a","key":"none"}"#,
            &[r#"{"type":"value","id":"a","key":"none","value":null,"rev":0}"#],
        ),
        (
            "not json",
            &[
                r#"{"type":"error","code":"bad_request","message":"invalid JSON: expected ident at line 1 column 2"}"#,
            ],
        ),
        (
            r#"{"type":"unsubscribe","id":"a","key":"k","req":9}"#,
            &[r#"{"type":"unsubscribed","id":"a","key":"k","req":9}"#],
        ),
        (
            r#"{"type":"list","id":"a","prefix":""}"#,
            &[r#"{"type":"keys","id":"a","prefix":"","keys":["k","p/x","q"],"more":false}"#],
        ),
    ];
    for (send, replies) in exchanges {
        c.call(send, replies);
    }
    let after = scrape(&py, server.addr, &[]);
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    let received = "kvws_ws_messages_received_total";
    for (kind, n) in [
        ("set", 3.0),
        ("get", 2.0),
        ("subscribe", 2.0),
        ("unsubscribe", 1.0),
        ("list", 1.0),
        ("invalid", 1.0),
        ("delete", 0.0),
        ("auth", 0.0),
    ] {
        assert_eq!(d(received, &[("type", kind)]), n, "received {kind}");
    }
    let sent = "kvws_ws_messages_sent_total";
    for (kind, n) in [
        ("value", 8.0),
        ("subscribed", 1.0),
        ("unsubscribed", 1.0),
        ("keys", 1.0),
        ("error", 1.0),
        ("deleted", 0.0),
        ("other", 0.0),
    ] {
        assert_eq!(d(sent, &[("type", kind)]), n, "sent {kind}");
    }
    let errors = "kvws_ws_errors_sent_total";
    assert_eq!(d(errors, &[("code", "bad_request")]), 1.0);
    assert_eq!(d(errors, &[("code", "forbidden")]), 0.0);
    // The client, and this scrape's own connection.
    assert_eq!(d("kvws_connections_accepted_total", &[]), 2.0);
    assert_eq!(d("kvws_websockets_opened_total", &[]), 1.0);
    assert_eq!(
        d("kvws_http_requests_total", &[("route", "websocket")]),
        1.0
    );
    assert_eq!(d("kvws_http_requests_total", &[("route", "metrics")]), 1.0);
    assert_eq!(after.value("kvws_websockets", &[]), 1.0);
    assert_eq!(after.value("kvws_keys", &[]), 3.0);
    assert_eq!(after.value("kvws_revision", &[]), 3.0);
    assert_eq!(after.value("kvws_subscriptions", &[("kind", "key")]), 0.0);
    assert_eq!(
        after.value("kvws_subscriptions", &[("kind", "prefix")]),
        1.0
    );
    assert_eq!(after.value("kvws_history_changes", &[]), 3.0);
    assert!(after.value("kvws_store_bytes", &[]) > 0.0);
    assert!(d("kvws_received_bytes_total", &[]) > 300.0);
    assert!(d("kvws_sent_bytes_total", &[]) > 600.0);
    assert!(d("kvws_loop_step_duration_seconds_count", &[]) >= 10.0);
    assert_eq!(
        after.value("kvws_loop_step_duration_seconds_bucket", &[("le", "+Inf")]),
        after.value("kvws_loop_step_duration_seconds_count", &[])
    );
    assert_eq!(after.value("kvws_ready", &[]), 1.0);
    assert!(after.value("process_resident_memory_bytes", &[]) > 1e6);

    // A close from the client is counted with its code once it arrives
    // (1005: it gave none).
    c.close();
    let mut raw = server.raw_client();
    raw.ws
        .close(Some(tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Away,
            reason: "".into(),
        }))
        .unwrap();
    while raw.ws.read().is_ok() {}
    let none = [("reason", "client"), ("code", "1005")];
    let away = [("reason", "client"), ("code", "1001")];
    let end = scrape_until(&py, server.addr, "the closes", |p| {
        p.find("kvws_ws_closes_total", &none) == Some(1.0)
            && p.find("kvws_ws_closes_total", &away) == Some(1.0)
    });
    assert_eq!(end.value("kvws_websockets", &[]), 0.0);
    assert_eq!(
        end.value(
            "kvws_ws_closes_total",
            &[("reason", "lost"), ("code", "1006")]
        ),
        0.0
    );
}

#[test]
fn refusals_and_closes_are_counted_by_reason() {
    let Some(py) = python() else { return };
    let config = Config::default()
        .max_message_size(64 << 10)
        .max_value_size(16 << 10)
        .max_output_buffer(64 << 10)
        .allowed_origins(vec![]);
    let server = TestServer::with(config);

    // 403 for a Host that an open server does not answer, and for a page
    // of another origin; 400 for what is not HTTP; 404 elsewhere.
    let host = request(server.addr, "GET", "/", &[("Host", "evil.example")]);
    assert_eq!(host.status, 403);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"\x16\x03\x01garbage\r\n\r\n").unwrap();
    s.read_to_end(&mut Vec::new()).unwrap();
    assert_eq!(get(server.addr, "/nowhere").status, 404);

    // 1009: a message over --max-message-size.
    let mut big = raw_ws(server.addr);
    big.write_all(&client_frame(1, &vec![b'x'; 100 << 10]))
        .unwrap();
    let _ = big.read_to_end(&mut Vec::new());

    // 1008: a subscriber that never reads while 16 KiB values pour in.
    let mut slow = raw_ws(server.addr);
    slow.write_all(&client_frame(
        1,
        br#"{"type":"subscribe","id":"a","key":"k"}"#,
    ))
    .unwrap();
    let mut writer = server.client();
    let value = format!("\"{}\"", "v".repeat(16_000));
    let slow_consumer = [("reason", "slow_consumer"), ("code", "1008")];
    let start = Instant::now();
    let mut req = 0u64;
    loop {
        req += 1;
        writer.send(&format!(
            r#"{{"type":"set","id":"a","key":"k","value":{value},"req":{req}}}"#
        ));
        writer.recv();
        if req.is_multiple_of(50)
            && scrape(&py, server.addr, &[]).find("kvws_ws_closes_total", &slow_consumer)
                == Some(1.0)
        {
            break;
        }
        assert!(
            start.elapsed() < 4 * PATIENCE,
            "the slow subscriber was never closed"
        );
    }
    drop(slow);

    let page = scrape(&py, server.addr, &[]);
    let refused =
        |reason: &str| page.value("kvws_connections_refused_total", &[("reason", reason)]);
    assert_eq!(refused("host"), 1.0);
    assert_eq!(refused("origin"), 1.0);
    assert_eq!(refused("bad_handshake"), 1.0);
    assert_eq!(refused("limit"), 0.0);
    assert_eq!(
        page.value("kvws_http_requests_total", &[("route", "other")]),
        1.0
    );
    let closes = |reason: &str, code: &str| {
        page.value(
            "kvws_ws_closes_total",
            &[("reason", reason), ("code", code)],
        )
    };
    assert_eq!(closes("too_big", "1009"), 1.0);
    assert_eq!(closes("slow_consumer", "1008"), 1.0);
    assert_eq!(closes("auth_failures", "1008"), 0.0);
}

#[test]
fn the_connection_limit_and_the_handshake_timeout_are_counted() {
    let Some(py) = python() else { return };
    let config = Config::default()
        .max_connections(1)
        .handshake_timeout(Duration::from_millis(300));
    let server = TestServer::with(config);
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent.set_read_timeout(Some(PATIENCE)).unwrap();
    // Accepted on its own (two accepted together would both be over).
    server.wait_for("the first connection", |s| s.connections == 1);
    // The second connection is over the limit while the first is held.
    let over = get(server.addr, "/");
    assert_eq!(over.status, 503);
    let mut reply = String::new();
    silent.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    drop(silent);
    let page = scrape_until(&py, server.addr, "the limit and the timeout", |p| {
        p.value(
            "kvws_connections_refused_total",
            &[("reason", "handshake_timeout")],
        ) == 1.0
    });
    // At least the one above; a scrape that came while the first was
    // still closing was over the limit too.
    assert!(page.value("kvws_connections_refused_total", &[("reason", "limit")]) >= 1.0);
    assert_eq!(page.value("kvws_connections_limit", &[]), 1.0);
}

#[test]
fn failed_authentications_are_counted_and_close_with_1008() {
    let Some(py) = python() else { return };
    let secret = kvws::auth::Secret::new(*b"0123456789abcdef0123456789abcdef").unwrap();
    let server = TestServer::with(Config::default().secret(Some(secret)));
    let mut c = server.client();
    for _ in 0..5 {
        c.send(r#"{"type":"auth","token":"a.b.c"}"#);
    }
    assert_eq!(c.expect_close(), Some(1008));
    let page = scrape_until(&py, server.addr, "the close", |p| {
        p.find(
            "kvws_ws_closes_total",
            &[("reason", "auth_failures"), ("code", "1008")],
        ) == Some(1.0)
    });
    assert_eq!(
        page.value("kvws_ws_messages_received_total", &[("type", "auth")]),
        5.0
    );
    assert_eq!(
        page.value("kvws_ws_errors_sent_total", &[("code", "invalid_token")]),
        5.0
    );
}

#[test]
fn only_loopback_or_the_token_holder_may_read_the_page() {
    let Some(py) = python() else { return };
    const TOKEN: &str = "a-metrics-token-of-some-length";
    let config =
        Config::default().metrics_token(Some(MetricsToken::new(TOKEN.as_bytes()).unwrap()));
    let server = TestServer::with(config);
    // With a token configured, loopback needs it too.
    let none = get(server.addr, "/metrics");
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"kvws metrics\"")
    );
    assert!(!none.body.contains("kvws_"));
    let bearer = |t: &str| format!("Bearer {t}");
    for wrong in [
        &bearer("a-metrics-token-of-some-lengtH"),
        &bearer(""),
        TOKEN,
    ] {
        let reply = request(server.addr, "GET", "/metrics", &[("Authorization", wrong)]);
        assert_eq!(reply.status, 401, "{wrong}");
    }
    let right = bearer(TOKEN);
    let page = scrape(&py, server.addr, &[("Authorization", &right)]);
    assert_eq!(page.value("kvws_ready", &[]), 1.0);
    let head = request(
        server.addr,
        "HEAD",
        "/metrics",
        &[("Authorization", &right)],
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(head.header("content-length").is_some_and(|n| n != "0"));
    assert_eq!(request(server.addr, "POST", "/metrics", &[]).status, 405);

    // Without a token, a loopback peer reads it as it is.
    let open = TestServer::start();
    let reply = get(open.addr, "/metrics");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}
