//! Subscriptions to every key under a prefix.

mod common;

use common::TestServer;
use kvws::Config;

fn set(key: &str, value: u32) -> String {
    format!(r#"{{"type":"set","id":"app","key":"{key}","value":{value}}}"#)
}

#[test]
fn a_prefix_subscription_sends_a_snapshot_in_key_order_then_changes() {
    let server = TestServer::start();
    let mut w = server.client();
    for (k, v) in [("room/b", 2), ("room/a", 1), ("lobby", 0)] {
        w.send(&set(k, v));
        w.recv();
    }
    let mut s = server.client();
    s.call(
        r#"{"type":"subscribe","id":"app","prefix":"room/","req":"p"}"#,
        &[
            r#"{"type":"value","id":"app","key":"room/a","value":1,"rev":2}"#,
            r#"{"type":"value","id":"app","key":"room/b","value":2,"rev":1}"#,
            r#"{"type":"subscribed","id":"app","prefix":"room/","rev":3,"req":"p"}"#,
        ],
    );
    w.send(&set("room/c", 3));
    w.recv();
    s.expect(r#"{"type":"value","id":"app","key":"room/c","value":3,"rev":4}"#);
    w.send(&set("lobby", 9));
    w.recv();
    w.send(r#"{"type":"delete","id":"app","key":"room/a"}"#);
    w.recv();
    s.expect(r#"{"type":"deleted","id":"app","key":"room/a","rev":6}"#);
}

#[test]
fn overlapping_prefixes_deliver_each_change_once() {
    let server = TestServer::start();
    let mut s = server.client();
    for p in ["", "r", "room/", "room/1"] {
        s.send(&format!(
            r#"{{"type":"subscribe","id":"app","prefix":"{p}"}}"#
        ));
        s.expect(&format!(
            r#"{{"type":"subscribed","id":"app","prefix":"{p}","rev":0}}"#
        ));
    }
    s.call(
        r#"{"type":"subscribe","id":"app","key":"room/17"}"#,
        &[r#"{"type":"value","id":"app","key":"room/17","value":null,"rev":0}"#],
    );
    let mut w = server.client();
    w.send(&set("room/17", 1));
    w.recv();
    s.expect(r#"{"type":"value","id":"app","key":"room/17","value":1,"rev":1}"#);
    s.expect_nothing_before_marker();
    // Dropping some of the overlapping subscriptions keeps the others.
    s.send(r#"{"type":"unsubscribe","id":"app","prefix":""}"#);
    s.send(r#"{"type":"unsubscribe","id":"app","key":"room/17"}"#);
    s.send(r#"{"type":"unsubscribe","id":"app","prefix":"room/1","req":1}"#);
    s.expect(r#"{"type":"unsubscribed","id":"app","prefix":"room/1","req":1}"#);
    w.send(&set("room/17", 2));
    w.recv();
    s.expect(r#"{"type":"value","id":"app","key":"room/17","value":2,"rev":2}"#);
    s.send(r#"{"type":"unsubscribe","id":"app","prefix":"r"}"#);
    s.send(r#"{"type":"unsubscribe","id":"app","prefix":"room/"}"#);
    w.send(&set("room/17", 3));
    w.recv();
    s.expect_nothing_before_marker();
}

#[test]
fn too_many_matching_keys_fails_and_subscribes_nothing() {
    let server = TestServer::with(Config::default().max_prefix_snapshot(3));
    let mut w = server.client();
    for k in ["p/1", "p/2", "p/3"] {
        w.send(&set(k, 0));
        w.recv();
    }
    let mut s = server.client();
    s.call(
        r#"{"type":"subscribe","id":"app","prefix":"p/"}"#,
        &[
            r#"{"type":"value","id":"app","key":"p/1","value":0,"rev":1}"#,
            r#"{"type":"value","id":"app","key":"p/2","value":0,"rev":2}"#,
            r#"{"type":"value","id":"app","key":"p/3","value":0,"rev":3}"#,
            r#"{"type":"subscribed","id":"app","prefix":"p/","rev":3}"#,
        ],
    );
    w.send(&set("p/4", 0));
    w.recv();
    s.recv();
    let mut t = server.client();
    t.call(
        r#"{"type":"subscribe","id":"app","prefix":"p/","req":2}"#,
        &[r#"{"type":"error","code":"too_many_keys","message":"more than 3 keys match prefix 'p/'; page through them with list","req":2}"#],
    );
    server.wait_for("only the first subscription", |s| s.subscriptions == 1);
}

#[test]
fn a_prefix_subscription_resumes_with_since() {
    let server = TestServer::start();
    let mut w = server.client();
    w.send(&set("room/a", 1));
    w.recv();
    w.send(&set("elsewhere", 1));
    w.recv();
    w.send(&set("room/b", 2));
    w.recv();
    let mut s = server.client();
    s.call(
        r#"{"type":"subscribe","id":"app","prefix":"room/","since":1}"#,
        &[
            r#"{"type":"value","id":"app","key":"room/b","value":2,"rev":3}"#,
            r#"{"type":"subscribed","id":"app","prefix":"room/","rev":3}"#,
        ],
    );
}

#[test]
fn a_prefix_resync_sends_a_fresh_snapshot() {
    let server = TestServer::with(Config::default().history_len(1));
    let mut w = server.client();
    for (k, v) in [("room/a", 1), ("room/b", 2), ("room/c", 3)] {
        w.send(&set(k, v));
        w.recv();
    }
    let mut s = server.client();
    s.call(
        r#"{"type":"subscribe","id":"app","prefix":"room/","since":1}"#,
        &[
            r#"{"type":"value","id":"app","key":"room/a","value":1,"rev":1}"#,
            r#"{"type":"value","id":"app","key":"room/b","value":2,"rev":2}"#,
            r#"{"type":"value","id":"app","key":"room/c","value":3,"rev":3}"#,
            r#"{"type":"subscribed","id":"app","prefix":"room/","rev":3,"resync":true}"#,
        ],
    );
}
