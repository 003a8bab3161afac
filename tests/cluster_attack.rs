//! Cluster mode under attack: while Redis hangs, clients flooding a node
//! with large pipelined writes make it hold a bounded amount (the writes in
//! flight are capped), and a reader on the same node is still served from
//! its copy at once. When Redis is back every write is answered.

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::redis::{Redis, node};
use tungstenite::Message;

const ATTACKERS: usize = 20;
const WRITES: usize = 200;
const VALUE: usize = 64 << 10;

#[test]
fn a_write_flood_while_redis_hangs_is_bounded_and_reads_go_on() {
    let Some(redis) = Redis::start() else { return };
    let a = node(&redis, "kvws", &["--start-revision", "0"]);
    let addr = a.addr;
    let rss_before = a.rss();
    redis.freeze(true);
    // Each attacker pipelines 200 sets of 64 KiB: 256 MiB offered in all.
    let value = format!("\"{}\"", "x".repeat(VALUE));
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|n| {
            let value = value.clone();
            std::thread::spawn(move || {
                let s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), s).unwrap();
                let writer = ws.get_ref().try_clone().unwrap();
                // Send everything without reading (the socket blocks when
                // the node stops reading), on a thread of its own.
                let sender = std::thread::spawn(move || {
                    let mut w = tungstenite::WebSocket::from_raw_socket(
                        writer,
                        tungstenite::protocol::Role::Client,
                        None,
                    );
                    for i in 0..WRITES {
                        let msg =
                            format!(r#"{{"type":"set","id":"a{n}","key":"k{i}","value":{value}}}"#);
                        if w.send(Message::text(msg)).is_err() {
                            return;
                        }
                    }
                });
                let (mut made, mut refused) = (0, 0);
                while made + refused < WRITES {
                    match ws.read() {
                        Ok(Message::Text(t)) if t.starts_with(r#"{"type":"value""#) => made += 1,
                        Ok(Message::Text(t)) => {
                            assert!(t.contains(r#""code":"unavailable""#), "{t}");
                            refused += 1;
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                            panic!("no reply for 60 s")
                        }
                        Err(e) => panic!("attacker {n}: {e}"),
                    }
                }
                sender.join().unwrap();
                (made, refused)
            })
        })
        .collect();
    // A reader on the same node, timing its gets.
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut c = common::Client::connect(addr);
        let mut worst = Duration::ZERO;
        while !flag.load(Ordering::Relaxed) {
            let t = Instant::now();
            c.call(
                r#"{"type":"get","id":"r","key":"k"}"#,
                &[r#"{"type":"value","id":"r","key":"k","value":null,"rev":0}"#],
            );
            worst = worst.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(5));
        }
        worst
    });
    std::thread::sleep(Duration::from_secs(3));
    let held = a.rss().saturating_sub(rss_before);
    redis.freeze(false);
    let (mut made, mut refused) = (0, 0);
    for t in attackers {
        let (m, r) = t.join().unwrap();
        made += m;
        refused += r;
    }
    stop.store(true, Ordering::Relaxed);
    let worst = reader.join().unwrap();
    eprintln!(
        "while Redis hung: the node grew by {} MiB for {} MiB offered; the reader waited at most {worst:?}; afterwards {made} writes made, {refused} refused",
        held >> 20,
        (ATTACKERS * WRITES * VALUE) >> 20
    );
    // The writes in flight are capped at 16 MiB (plus one message per
    // connection); the rest waits in the attackers' sockets.
    assert!(held < 96 << 20, "the node grew by {held} bytes");
    assert!(
        worst < Duration::from_secs(1),
        "the reader waited {worst:?}"
    );
    assert_eq!(made + refused, ATTACKERS * WRITES);
    assert!(made > 0);
}
