//! Single requests and events whose work grows with the data: the first
//! `list` of a large namespace, a client holding many ephemeral keys
//! leaving, a slow subscriber coming back, and keys expiring on a full
//! disk. None may stop the loop for the others (a canary client measures
//! its longest wait) or spin the CPU.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::canary::Canary;
use common::daemon::{Daemon, raw};
use common::{Client, client_frame, read_frame};

const WAIT: Duration = Duration::from_millis(500);

/// Sends `messages` over `s` a thousand at a time, reading the replies.
fn pipeline(s: &mut std::net::TcpStream, messages: impl Iterator<Item = String>) {
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let messages: Vec<String> = messages.collect();
    for batch in messages.chunks(1000) {
        let bytes: Vec<u8> = batch
            .iter()
            .flat_map(|m| client_frame(0x1, m.as_bytes()))
            .collect();
        s.write_all(&bytes).unwrap();
        for _ in batch {
            read_frame(s);
        }
    }
}

fn fill(addr: SocketAddr, id: &str, n: usize, extra: &str) -> std::net::TcpStream {
    let mut s = raw(addr);
    pipeline(
        &mut s,
        (0..n).map(|i| {
            format!(r#"{{"type":"set","id":"{id}","key":"key:{i:08}","value":1{extra}}}"#)
        }),
    );
    s
}

#[test]
fn the_first_list_of_a_large_namespace_stalls_no_one() {
    let server = Daemon::start(&[]);
    let n = 300_000;
    fill(server.addr, "big", n, "");
    let canary = Canary::start(server.addr, None);
    std::thread::sleep(Duration::from_millis(50));
    let mut c = Client::connect(server.addr);
    let t = Instant::now();
    c.call(
        r#"{"type":"list","id":"big","prefix":"key:0029999","limit":2}"#,
        &[r#"{"type":"keys","id":"big","prefix":"key:0029999","keys":["key:00299990","key:00299991"],"more":true}"#],
    );
    let took = t.elapsed();
    std::thread::sleep(Duration::from_millis(50));
    let (worst, _) = canary.finish();
    eprintln!("first list of {n} keys answered in {took:?}; the canary waited at most {worst:?}");
    assert!(worst < WAIT, "the canary waited {worst:?}");
}

#[test]
fn a_client_holding_many_ephemeral_keys_leaves_without_stopping_the_loop() {
    let server = Daemon::start(&[]);
    let n = 300_000;
    let owner = fill(server.addr, "eph", n, r#","ephemeral":true"#);
    let canary = Canary::start(server.addr, None);
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    drop(owner);
    // All of them go, a batch a step.
    let mut c = Client::connect(server.addr);
    loop {
        c.send(r#"{"type":"get","id":"eph","key":"key:00299999"}"#);
        if c.recv().contains(r#""rev":0"#) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the keys were never deleted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (worst, _) = canary.finish();
    eprintln!(
        "{n} ephemeral keys deleted in {:?}; the canary waited at most {worst:?}",
        t.elapsed()
    );
    assert!(worst < WAIT, "the canary waited {worst:?}");
}

/// Reads text messages until one contains `until`; returns them all.
fn read_until(
    ws: &mut tungstenite::WebSocket<std::net::TcpStream>,
    until: &str,
) -> Result<Vec<String>, String> {
    let mut got = Vec::new();
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let done = t.contains(until);
                got.push(t.to_string());
                if done {
                    return Ok(got);
                }
            }
            Ok(tungstenite::Message::Close(f)) => {
                return Err(format!("closed: {f:?} after {} messages", got.len()));
            }
            Ok(_) => {}
            Err(e) => return Err(format!("{e} after {} messages", got.len())),
        }
    }
}

#[test]
fn a_subscriber_closed_for_reading_slowly_can_resume() {
    let server = Daemon::start(&["--max-output-buffer", "2M"]);
    let mut sub = common::RawClient::connect(server.addr);
    sub.ws
        .send(tungstenite::Message::text(
            r#"{"type":"subscribe","id":"slow","prefix":"","req":1}"#,
        ))
        .unwrap();
    let first = read_until(&mut sub.ws, r#""req":1"#).unwrap();
    let since: u64 = first[0]
        .rsplit_once(r#""rev":"#)
        .unwrap()
        .1
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // 9 MB of changes while it reads nothing: past its 2 MB queue, within
    // the history (10,000 changes, 16 MB).
    let value = format!("\"{}\"", "v".repeat(1000));
    let mut writer = raw(server.addr);
    pipeline(
        &mut writer,
        (0..9_000).map(|i| {
            format!(
                r#"{{"type":"set","id":"slow","key":"k{}","value":{value}}}"#,
                i % 500
            )
        }),
    );
    let lost = read_until(&mut sub.ws, "never").unwrap_err();
    assert!(lost.contains("Policy"), "{lost}");
    // It comes back with the last revision it saw: every change since, in
    // order, then `subscribed` (the history holds them), though they are
    // over four times its queue.
    for _ in 0..2 {
        let mut again = common::RawClient::connect(server.addr);
        again
            .ws
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        again
            .ws
            .send(tungstenite::Message::text(format!(
                r#"{{"type":"subscribe","id":"slow","prefix":"","since":{since},"req":2}}"#
            )))
            .unwrap();
        let got =
            read_until(&mut again.ws, r#""req":2"#).expect("a replay or a resync, not a close");
        let last = got.last().unwrap();
        assert!(
            last.starts_with(r#"{"type":"subscribed","id":"slow","prefix":"""#),
            "{last}"
        );
        assert_eq!(got.len(), 9_001, "every change, then subscribed");
    }
}

#[test]
fn keys_expiring_on_a_full_disk_do_not_spin_the_cpu() {
    let dir = std::env::temp_dir().join(format!("kvws-attack-{}-full-expiry", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = Daemon::start_with(
        &["--data-dir", dir.to_str().unwrap(), "--fsync", "never"],
        Some(256 << 10),
    );
    let mut c = Client::connect(server.addr);
    // Keys that expire soon, then writes until the disk is full.
    let mut s = raw(server.addr);
    pipeline(
        &mut s,
        (0..2500).map(|i| {
            format!(r#"{{"type":"set","id":"ttl","key":"k{i:04}","value":1,"ttl_ms":1500}}"#)
        }),
    );
    let value = format!("\"{}\"", "v".repeat(1000));
    for i in 0.. {
        c.send(&format!(
            r#"{{"type":"set","id":"fill","key":"f{i}","value":{value}}}"#
        ));
        if c.recv().contains("storage_failed") {
            break;
        }
        assert!(i < 1000, "the disk never filled");
    }
    std::thread::sleep(Duration::from_millis(1600));
    let canary = Canary::start(server.addr, None);
    let cpu = server.cpu_secs();
    std::thread::sleep(Duration::from_secs(2));
    let used = server.cpu_secs() - cpu;
    let (worst, _) = canary.finish();
    eprintln!("expiry on a full disk: {used:.2} s CPU in 2 s; the canary waited at most {worst:?}");
    // The canary's own requests cost a little; a spinning loop costs 2 s.
    assert!(used < 0.6, "{used:.2} s of CPU in 2 s");
    assert!(worst < WAIT, "the canary waited {worst:?}");
    // The last keys are still there: their deletion could not be written
    // (the first ones went into the space kept for such changes).
    c.send(r#"{"type":"get","id":"ttl","key":"k2499"}"#);
    assert!(!c.recv().contains(r#""rev":0"#));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
