//! Memory a client can make the server hold: unfinished messages before and
//! after authentication, what all clients hold together, subscriptions, and
//! the store itself against `--max-memory`. Measured on the real binary
//! (its resident memory from /proc), with bounds wide enough not to flake
//! and far below what the same attacks cost before the fixes.

mod common;

use std::io::Write;
use std::time::Duration;

use common::daemon::{Daemon, raw, secret};
use common::{client_frame, read_frame};

/// Sends a frame header announcing 1 MiB and 1 MiB - 1 bytes of it, on
/// `n` connections; returns the connections (kept open).
fn unfinished_frames(addr: std::net::SocketAddr, n: usize) -> Vec<std::net::TcpStream> {
    let mut header = vec![0x81, 0xff];
    header.extend_from_slice(&(1u64 << 20).to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]);
    let body = vec![b'a'; (1 << 20) - 1];
    (0..n)
        .map(|_| {
            let mut s = raw(addr);
            // A closed connection stops taking bytes: that is the point.
            let _ = s.write_all(&header).and_then(|()| s.write_all(&body));
            s
        })
        .collect()
}

#[test]
fn strangers_cannot_make_a_server_with_authentication_hold_their_unfinished_messages() {
    let (secret_file, _) = secret("preauth");
    let server = Daemon::start(&["--secret-file", secret_file.to_str().unwrap()]);
    let before = server.rss();
    let held = unfinished_frames(server.addr, 300);
    std::thread::sleep(Duration::from_millis(500));
    let grew = server.peak_rss().saturating_sub(before);
    eprintln!(
        "300 unfinished 1 MiB frames before authentication: grew {} MB",
        grew >> 20
    );
    // 300 MB before (a megabyte each); now each is refused at its header.
    assert!(grew < 40 << 20, "the server grew by {} MB", grew >> 20);
    drop(held);
}

#[test]
fn unfinished_messages_of_all_clients_together_are_bounded() {
    let server = Daemon::start(&["--max-client-memory", "64M"]);
    let before = server.rss();
    let mut held = unfinished_frames(server.addr, 200);
    std::thread::sleep(Duration::from_millis(500));
    let grew = server.peak_rss().saturating_sub(before);
    eprintln!(
        "200 unfinished 1 MiB frames, --max-client-memory 64M: grew {} MB",
        grew >> 20
    );
    assert!(grew < 150 << 20, "the server grew by {} MB", grew >> 20);
    // Those that went past the limit were told to come back later (1013).
    let mut refused = 0;
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut byte = [0u8; 2];
        if std::io::Read::read_exact(s, &mut byte).is_ok() && byte[0] == 0x88 {
            refused += 1;
        }
    }
    assert!(refused >= 100, "{refused} connections were closed");
}

/// Sets keys over one connection, a thousand at a time, until the store is
/// full; returns how many were stored.
fn fill(addr: std::net::SocketAddr, value_len: usize) -> usize {
    let mut s = raw(addr);
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let value = format!("\"{}\"", "v".repeat(value_len));
    let mut stored = 0;
    loop {
        let batch: Vec<u8> = (stored..stored + 1000)
            .flat_map(|i| {
                let set =
                    format!(r#"{{"type":"set","id":"fill","key":"key:{i:08}","value":{value}}}"#);
                client_frame(0x1, set.as_bytes())
            })
            .collect();
        s.write_all(&batch).unwrap();
        let mut full = false;
        for _ in 0..1000 {
            let (_, reply) = read_frame(&mut s);
            if reply.windows(10).any(|w| w == b"store_full") {
                full = true;
            } else {
                stored += 1;
            }
        }
        if full {
            return stored;
        }
    }
}

#[test]
fn the_servers_memory_follows_max_memory_list_included() {
    let server = Daemon::start(&["--max-memory", "64M", "--history-bytes", "1M"]);
    let idle = server.rss();
    let stored = fill(server.addr, 100);
    assert!(stored > 100_000, "only {stored} keys fit in 64 MB");
    let mut c = raw(server.addr);
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    c.write_all(&client_frame(
        0x1,
        br#"{"type":"list","id":"fill","limit":3}"#,
    ))
    .unwrap();
    let (_, reply) = read_frame(&mut c);
    assert!(
        reply.starts_with(br#"{"type":"keys","id":"fill","prefix":"","keys":["key:00000000""#),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let used = server.peak_rss() - idle;
    eprintln!(
        "{stored} keys in --max-memory 64M: {} MB resident over idle",
        used >> 20
    );
    // Within a quarter of the limit, plus the history and client buffers.
    assert!(
        used < (64 << 20) * 5 / 4 + (8 << 20),
        "{stored} keys: {} MB resident over the idle server's",
        used >> 20
    );
}

#[test]
fn subscriptions_count_against_max_memory() {
    let server = Daemon::start(&["--max-memory", "256k"]);
    let mut s = raw(server.addr);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let key = "k".repeat(1000);
    let mut answers = Vec::new();
    for i in 0..1000 {
        let msg = format!(r#"{{"type":"subscribe","id":"subs","key":"{key}{i}"}}"#);
        s.write_all(&client_frame(0x1, msg.as_bytes())).unwrap();
        let (_, reply) = read_frame(&mut s);
        let full = reply.windows(10).any(|w| w == b"store_full");
        answers.push(full);
        if full {
            break;
        }
    }
    let taken = answers.iter().filter(|f| !**f).count();
    assert!(
        answers.last() == Some(&true),
        "1,000 subscriptions of 1 KB names fit in 256 KB"
    );
    assert!((50..200).contains(&taken), "{taken} subscriptions fit");
}
