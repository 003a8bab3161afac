//! Each connection-level limit at its boundary: message size, connection
//! count, and the output queue of a client that stops reading.

mod common;

use std::time::Duration;

use common::{TestServer, code};
use kvws::Config;
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

/// A `get` message padded with an ignored field to exactly `len` bytes.
fn message_of(len: usize) -> String {
    let head = r#"{"type":"get","id":"a","key":"k","pad":""#;
    let tail = r#""}"#;
    format!("{head}{}{tail}", "x".repeat(len - head.len() - tail.len()))
}

#[test]
fn a_message_at_the_size_limit_is_served_and_one_byte_more_closes_with_1009() {
    let limit = 4096;
    let server = TestServer::with(
        Config::default()
            .max_message_size(limit)
            .max_value_size(1024),
    );
    let mut bystander = server.client();
    let mut c = server.client();
    let at_limit = message_of(limit);
    assert_eq!(at_limit.len(), limit);
    c.call(
        &at_limit,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    c.send(&message_of(limit + 1));
    assert_eq!(c.expect_close(), Some(1009));
    bystander.expect_nothing_before_marker();
}

#[test]
fn a_huge_frame_header_is_refused_before_anything_is_buffered() {
    let server = TestServer::with(
        Config::default()
            .max_message_size(1024)
            .max_value_size(256)
            .max_name_length(128),
    );
    let mut s = common::raw_ws(server.addr);
    use std::io::Write;
    // Announces a 1 GiB frame; only the header is sent.
    s.write_all(&[0x81, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4])
        .unwrap();
    let (op, payload) = common::read_frame(&mut s);
    assert_eq!(op, 0x8);
    assert_eq!(&payload[..2], &1009u16.to_be_bytes());
}

#[test]
fn past_max_connections_a_client_gets_503_until_a_slot_frees() {
    let server = TestServer::with(Config::default().max_connections(3));
    let clients: Vec<_> = (0..3).map(|_| server.client()).collect();
    server.wait_for("three connections", |s| s.connections == 3);
    let reply = common::raw_exchange(server.addr, b"GET / HTTP/1.1\r\n\r\n");
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{reply}"
    );
    // The clients already connected are unaffected.
    let mut clients = clients.into_iter();
    let mut first = clients.next().unwrap();
    first.expect_nothing_before_marker();
    first.close();
    server.wait_for("a free slot", |s| s.connections == 2);
    server.client().expect_nothing_before_marker();
}

#[test]
fn a_subscriber_that_stops_reading_is_cut_off_and_others_go_on() {
    let value = format!("\"{}\"", "v".repeat(16 * 1024));
    let server = TestServer::with(
        Config::default()
            .max_message_size(32 * 1024)
            .max_value_size(20 * 1024)
            .max_output_buffer(256 * 1024)
            .close_timeout(Duration::from_secs(60)),
    );
    let subscribe = r#"{"type":"subscribe","id":"a","key":"k"}"#;
    let mut stalled = server.raw_client();
    stalled.call(
        subscribe,
        r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#,
    );
    let mut reader = server.client();
    reader.call(
        subscribe,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    let mut writer = server.client();
    // Far more than the kernel's socket buffers plus our 256 KiB cap.
    let writes = 3000;
    for i in 1..=writes {
        writer.send(&format!(
            r#"{{"type":"set","id":"a","key":"k","value":{value}}}"#
        ));
        assert!(writer.recv().ends_with(&format!(r#","rev":{i}}}"#)));
        assert!(reader.recv().ends_with(&format!(r#","rev":{i}}}"#)));
    }
    server.wait_for("the stalled subscriber to be dropped", |s| {
        s.subscriptions == 1
    });
    // What it receives, when it finally reads, is a prefix of the updates in
    // order and then a close frame with code 1008.
    let mut last = 0;
    let close = loop {
        match stalled.ws.read().expect("read") {
            Message::Text(t) => {
                let msg: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                let rev = msg["rev"].as_u64().unwrap();
                assert_eq!(rev, last + 1);
                last = rev;
            }
            Message::Close(frame) => break frame,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(code(&close), Some(CloseCode::Policy));
    assert!(
        last < writes,
        "a stalled client cannot have received everything"
    );
}

#[test]
fn a_value_of_the_default_largest_size_is_stored_and_one_byte_more_is_too_large() {
    let server = TestServer::start();
    let max = kvws::Config::default().max_value_size;
    let mut c = server.client();
    let value = format!("\"{}\"", "v".repeat(max - 2));
    c.send(&format!(
        r#"{{"type":"set","id":"a","key":"k","value":{value},"req":1}}"#
    ));
    let reply = c.recv();
    assert!(reply.starts_with(r#"{"type":"value","id":"a","key":"k","value":"vvv"#));
    assert!(reply.ends_with(r#","rev":1,"req":1}"#));
    let value = format!("\"{}\"", "v".repeat(max - 1));
    c.send(&format!(
        r#"{{"type":"set","id":"a","key":"k","value":{value},"req":2}}"#
    ));
    assert!(
        c.recv()
            .starts_with(r#"{"type":"error","code":"too_large""#)
    );
    c.expect_nothing_before_marker();
}

/// Connections that arrive together, in one step of the loop, are served up
/// to the limit and refused past it: the burst that crosses the limit is
/// not refused whole. The loop is driven here, step by step, so that all
/// of them are accepted in the same step.
#[test]
fn a_burst_that_crosses_max_connections_is_served_up_to_the_limit() {
    use std::io::{Read, Write};
    let mut server = kvws::Server::bind(Config::default().port(0).max_connections(3)).unwrap();
    let addr = server.local_addr();
    let mut socks: Vec<_> = (0..5)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )
            .unwrap();
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            s
        })
        .collect();
    let mut heads = vec![Vec::new(); socks.len()];
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while heads
        .iter()
        .any(|h| !h.windows(4).any(|w| w == b"\r\n\r\n"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no answer to every request"
        );
        server.service(Some(Duration::from_millis(10))).unwrap();
        for (s, head) in socks.iter_mut().zip(&mut heads) {
            let mut buf = [0u8; 1024];
            if let Ok(n) = s.read(&mut buf) {
                head.extend_from_slice(&buf[..n]);
            }
        }
    }
    let status = |h: &Vec<u8>| String::from_utf8_lossy(&h[..12]).into_owned();
    let mut statuses: Vec<String> = heads.iter().map(status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 101",
            "HTTP/1.1 101",
            "HTTP/1.1 101",
            "HTTP/1.1 503",
            "HTTP/1.1 503"
        ]
    );
}
