//! Cluster mode: a subscriber that leaves one node and comes back on
//! another resumes with `since` and gets exactly what it missed, or
//! `resync` when the node's history no longer reaches back.

mod common;

use std::time::{Duration, Instant};

use common::Client;
use common::redis::{Redis, node};

/// Waits until the node `c` talks to has applied revision `rev` of `key`.
fn wait_for(c: &mut Client, key: &str, rev: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        c.send(&format!(r#"{{"type":"get","id":"app","key":"{key}"}}"#));
        let v: serde_json::Value = serde_json::from_str(&c.recv()).unwrap();
        if v["rev"] == rev {
            return;
        }
        assert!(Instant::now() < deadline, "the node did not apply {rev}");
    }
}

/// A subscriber on A sees rev 1; while it is away B makes revisions 2-5.
fn leave_and_write(a: &common::daemon::Daemon, b: &common::daemon::Daemon) {
    let mut sub = Client::connect(a.addr);
    sub.call(
        r#"{"type":"subscribe","id":"app","prefix":"room/"}"#,
        &[r#"{"type":"subscribed","id":"app","prefix":"room/","rev":0}"#],
    );
    let mut w = Client::connect(b.addr);
    w.call(
        r#"{"type":"set","id":"app","key":"room/1","value":1}"#,
        &[r#"{"type":"value","id":"app","key":"room/1","value":1,"rev":1}"#],
    );
    sub.expect(r#"{"type":"value","id":"app","key":"room/1","value":1,"rev":1}"#);
    sub.close();
    for (msg, reply) in [
        (
            r#"{"type":"set","id":"app","key":"room/2","value":2}"#,
            r#"{"type":"value","id":"app","key":"room/2","value":2,"rev":2}"#,
        ),
        (
            r#"{"type":"delete","id":"app","key":"room/1"}"#,
            r#"{"type":"deleted","id":"app","key":"room/1","rev":3}"#,
        ),
        (
            r#"{"type":"set","id":"app","key":"other","value":4}"#,
            r#"{"type":"value","id":"app","key":"other","value":4,"rev":4}"#,
        ),
        (
            r#"{"type":"set","id":"app","key":"room/3","value":5}"#,
            r#"{"type":"value","id":"app","key":"room/3","value":5,"rev":5}"#,
        ),
    ] {
        w.call(msg, &[reply]);
    }
}

#[test]
fn a_subscriber_resumes_on_another_node_with_exactly_what_it_missed() {
    let Some(redis) = Redis::start() else { return };
    let extra = ["--start-revision", "0"];
    let (a, b, c) = (
        node(&redis, "kvws", &extra),
        node(&redis, "kvws", &extra),
        node(&redis, "kvws", &extra),
    );
    leave_and_write(&a, &b);
    let mut back = Client::connect(c.addr);
    wait_for(&mut back, "room/3", 5);
    back.call(
        r#"{"type":"subscribe","id":"app","prefix":"room/","since":1}"#,
        &[
            r#"{"type":"value","id":"app","key":"room/2","value":2,"rev":2}"#,
            r#"{"type":"deleted","id":"app","key":"room/1","rev":3}"#,
            r#"{"type":"value","id":"app","key":"room/3","value":5,"rev":5}"#,
            r#"{"type":"subscribed","id":"app","prefix":"room/","rev":5}"#,
        ],
    );
    // And live changes from any node follow.
    let mut w = Client::connect(a.addr);
    w.call(
        r#"{"type":"set","id":"app","key":"room/4","value":6}"#,
        &[r#"{"type":"value","id":"app","key":"room/4","value":6,"rev":6}"#],
    );
    back.expect(r#"{"type":"value","id":"app","key":"room/4","value":6,"rev":6}"#);
}

#[test]
fn with_a_tiny_history_the_subscriber_gets_resync() {
    let Some(redis) = Redis::start() else { return };
    let extra = ["--start-revision", "0", "--history", "2"];
    let (a, b, c) = (
        node(&redis, "kvws", &extra),
        node(&redis, "kvws", &extra),
        node(&redis, "kvws", &extra),
    );
    leave_and_write(&a, &b);
    let mut back = Client::connect(c.addr);
    wait_for(&mut back, "room/3", 5);
    back.call(
        r#"{"type":"subscribe","id":"app","prefix":"room/","since":1}"#,
        &[
            r#"{"type":"value","id":"app","key":"room/2","value":2,"rev":2}"#,
            r#"{"type":"value","id":"app","key":"room/3","value":5,"rev":5}"#,
            r#"{"type":"subscribed","id":"app","prefix":"room/","rev":5,"resync":true}"#,
        ],
    );
}

#[test]
fn a_node_that_joins_late_loads_the_store_and_serves_it() {
    let Some(redis) = Redis::start() else { return };
    let extra = ["--start-revision", "0"];
    let a = node(&redis, "kvws", &extra);
    let mut w = Client::connect(a.addr);
    // More keys than one scan batch, some with deadlines far away.
    for i in 0..250 {
        w.send(&format!(
            r#"{{"type":"set","id":"app","key":"k{i:03}","value":{i},"ttl_ms":600000}}"#
        ));
        w.recv();
    }
    w.call(
        r#"{"type":"delete","id":"app","key":"k000"}"#,
        &[r#"{"type":"deleted","id":"app","key":"k000","rev":251}"#],
    );
    let late = node(&redis, "kvws", &extra);
    let mut r = Client::connect(late.addr);
    r.call(
        r#"{"type":"get","id":"app","key":"k000"}"#,
        &[r#"{"type":"value","id":"app","key":"k000","value":null,"rev":0}"#],
    );
    r.call(
        r#"{"type":"get","id":"app","key":"k249"}"#,
        &[r#"{"type":"value","id":"app","key":"k249","value":249,"rev":250}"#],
    );
    r.send(r#"{"type":"list","id":"app","limit":1000}"#);
    let list: serde_json::Value = serde_json::from_str(&r.recv()).unwrap();
    assert_eq!(list["keys"].as_array().map(Vec::len), Some(249), "{list}");
    // Its revisions go on from the store's.
    r.call(
        r#"{"type":"set","id":"app","key":"n","value":true}"#,
        &[r#"{"type":"value","id":"app","key":"n","value":true,"rev":252}"#],
    );
}
