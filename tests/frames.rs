//! WebSocket framing: binary frames, control frames, the close handshake and
//! malformed frames, sent byte by byte where a library would refuse to.

mod common;

use std::io::Write;

use common::{TestServer, client_frame, raw_ws, read_frame};
use tungstenite::Message;

#[test]
fn binary_frames_holding_json_are_handled_like_text() {
    let server = TestServer::start();
    let mut c = server.raw_client();
    c.ws.send(Message::binary(
        br#"{"type":"set","id":"a","key":"k","value":1}"#.to_vec(),
    ))
    .unwrap();
    assert_eq!(
        c.recv(),
        r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#
    );
    c.ws.send(Message::binary(vec![0xff, 0xfe, 0x00])).unwrap();
    assert_eq!(
        c.recv(),
        r#"{"type":"error","code":"bad_request","message":"binary message is not valid UTF-8 JSON; send JSON text"}"#
    );
    c.call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#,
    );
}

#[test]
fn ping_gets_a_pong_with_the_same_payload() {
    let server = TestServer::start();
    let mut s = raw_ws(server.addr);
    s.write_all(&client_frame(0x9, b"are you there")).unwrap();
    assert_eq!(read_frame(&mut s), (0xA, b"are you there".to_vec()));
}

#[test]
fn fragmented_messages_are_reassembled() {
    let server = TestServer::start();
    let mut s = raw_ws(server.addr);
    let msg = br#"{"type":"get","id":"a","key":"k"}"#;
    let (first, rest) = msg.split_at(10);
    let mut frame = client_frame(0x1, first);
    frame[0] &= 0x7f; // not final
    s.write_all(&frame).unwrap();
    s.write_all(&client_frame(0x9, b"")).unwrap(); // a ping may come between fragments
    s.write_all(&client_frame(0x0, rest)).unwrap();
    assert_eq!(read_frame(&mut s).0, 0xA);
    assert_eq!(
        read_frame(&mut s),
        (
            0x1,
            br#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#.to_vec()
        )
    );
}

#[test]
fn a_client_close_is_answered_and_the_connection_ends() {
    let server = TestServer::start();
    let c = server.client();
    server.wait_for("one connection", |s| s.connections == 1);
    c.close();
    server.wait_for("no connection", |s| s.connections == 0);
}

#[test]
fn replies_to_requests_sent_before_a_close_go_out_before_the_close_reply() {
    let server = TestServer::start();
    let mut s = raw_ws(server.addr);
    let mut both = client_frame(0x1, br#"{"type":"set","id":"a","key":"k","value":1}"#);
    both.extend(client_frame(0x8, &1000u16.to_be_bytes()));
    s.write_all(&both).unwrap();
    assert_eq!(
        read_frame(&mut s),
        (
            0x1,
            br#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#.to_vec()
        )
    );
    assert_eq!(read_frame(&mut s), (0x8, 1000u16.to_be_bytes().to_vec()));
}

#[test]
fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let server = TestServer::start();
    let mut s = raw_ws(server.addr);
    s.write_all(&client_frame(0x1, b"{\"type\":\"\xff\"}"))
        .unwrap();
    let (op, payload) = read_frame(&mut s);
    assert_eq!(op, 0x8);
    assert_eq!(&payload[..2], &1007u16.to_be_bytes());
}

#[test]
fn an_unmasked_frame_is_a_protocol_error_1002() {
    let server = TestServer::start();
    let mut s = raw_ws(server.addr);
    s.write_all(b"\x81\x02{}").unwrap();
    let (op, payload) = read_frame(&mut s);
    assert_eq!(op, 0x8);
    assert_eq!(&payload[..2], &1002u16.to_be_bytes());
}

#[test]
fn an_abrupt_disconnect_mid_frame_harms_no_one() {
    let server = TestServer::start();
    let mut bystander = server.client();
    bystander.call(
        r#"{"type":"subscribe","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    {
        let mut s = raw_ws(server.addr);
        let frame = client_frame(0x1, br#"{"type":"set","id":"a","key":"k","value":"never"}"#);
        s.write_all(&frame[..frame.len() / 2]).unwrap();
    } // dropped with half a frame sent
    server.wait_for("the half-frame client to be gone", |s| s.connections == 1);
    bystander.expect_nothing_before_marker();
    bystander.call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
}

#[test]
fn server_shutdown_sends_going_away() {
    let server = TestServer::start();
    let mut c = server.client();
    c.expect_nothing_before_marker();
    server.handle.shutdown();
    assert_eq!(c.expect_close(), Some(1001));
    drop(c);
    server.stop();
}

/// Frames sent in the same write as the request head, the head ending
/// exactly where a read of the head stops (2 KiB), so that the head's reads
/// leave them in the socket: they are read and answered.
#[test]
fn frames_right_behind_a_head_that_fills_a_read_are_answered() {
    use std::io::Read;
    let server = TestServer::start();
    let start = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Pad: ";
    let pad = 2048 - start.len() - "\r\n\r\n".len();
    let head = format!("{start}{}\r\n\r\n", "p".repeat(pad));
    assert_eq!(head.len(), 2048);
    let mut bytes = head.into_bytes();
    bytes.extend(client_frame(0x1, br#"{"type":"get","id":"a","key":"k"}"#));
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(common::PATIENCE)).unwrap();
    s.write_all(&bytes).unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        answer.push(b[0]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 101 "));
    let (op, payload) = read_frame(&mut s);
    assert_eq!(op, 0x1);
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#
    );
}
