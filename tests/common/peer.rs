//! A scripted WebSocket peer standing in for the server side of `auth`
//! (which the test servers do not enable), for the client library tests.

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tungstenite::Message;

/// A scripted WebSocket peer playing the server side of `auth`: tokens
/// `user` and `manager` are accepted, others are not; anything else gets a
/// `value` (after 300 ms for type `slow`); the first connection is
/// dropped after its first subscribe. Every message received
/// is recorded with its connection's number.
pub fn auth_peer() -> (String, mpsc::Receiver<(usize, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (n, stream) in listener.incoming().map_while(Result::ok).enumerate() {
            let mut ws = tungstenite::accept(stream).unwrap();
            while let Ok(Message::Text(text)) = ws.read() {
                let _ = tx.send((n, text.to_string()));
                let m: serde_json::Value = serde_json::from_str(&text).unwrap();
                let (kind, req) = (m["type"].as_str().unwrap(), &m["req"]);
                if kind == "slow" {
                    thread::sleep(Duration::from_millis(300));
                }
                let reply = match (kind, m["token"].as_str()) {
                    ("auth" | "upgrade", Some(role @ ("user" | "manager"))) => format!(
                        r#"{{"type":"authenticated","role":"{role}","ids":["a","b"],"access":{{"a":"rw"}},"expires":1700000000,"req":{req}}}"#
                    ),
                    ("auth" | "upgrade", _) => format!(
                        r#"{{"type":"error","code":"invalid_token","message":"bad token","req":{req}}}"#
                    ),
                    _ => format!(
                        r#"{{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":{req}}}"#
                    ),
                };
                ws.send(Message::text(reply)).unwrap();
                if n == 0 && kind == "subscribe" {
                    break; // drop the first connection
                }
            }
        }
    });
    (url, rx)
}
