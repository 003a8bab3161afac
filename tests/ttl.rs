//! Keys with a time to live expire in deadline order and tell their
//! subscribers why.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;

#[test]
fn keys_expire_in_deadline_order_with_reason_expired() {
    let server = TestServer::start();
    let mut watcher = server.client();
    watcher.call(
        r#"{"type":"subscribe","id":"a","prefix":""}"#,
        &[r#"{"type":"subscribed","id":"a","prefix":"","rev":0}"#],
    );
    let mut w = server.client();
    let start = Instant::now();
    for (key, ttl) in [
        ("third", 600),
        ("first", 200),
        ("second", 400),
        ("kept", 200),
    ] {
        w.send(&format!(
            r#"{{"type":"set","id":"a","key":"{key}","value":1,"ttl_ms":{ttl}}}"#
        ));
        w.recv();
        watcher.recv();
    }
    // A set without ttl_ms makes the key permanent again.
    w.call(
        r#"{"type":"set","id":"a","key":"kept","value":2}"#,
        &[r#"{"type":"value","id":"a","key":"kept","value":2,"rev":5}"#],
    );
    watcher.recv();
    watcher.expect(r#"{"type":"deleted","id":"a","key":"first","rev":6,"reason":"expired"}"#);
    assert!(start.elapsed() >= Duration::from_millis(200));
    watcher.expect(r#"{"type":"deleted","id":"a","key":"second","rev":7,"reason":"expired"}"#);
    watcher.expect(r#"{"type":"deleted","id":"a","key":"third","rev":8,"reason":"expired"}"#);
    assert!(start.elapsed() >= Duration::from_millis(600));
    w.call(
        r#"{"type":"get","id":"a","key":"third"}"#,
        &[r#"{"type":"value","id":"a","key":"third","value":null,"rev":0}"#],
    );
    w.call(
        r#"{"type":"get","id":"a","key":"kept"}"#,
        &[r#"{"type":"value","id":"a","key":"kept","value":2,"rev":5}"#],
    );
    server.wait_for("one key left", |s| s.keys == 1);
}

#[test]
fn a_new_ttl_replaces_the_old_one() {
    let server = TestServer::start();
    let mut w = server.client();
    w.call(
        r#"{"type":"subscribe","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    w.send(r#"{"type":"set","id":"a","key":"k","value":1,"ttl_ms":100}"#);
    w.send(r#"{"type":"set","id":"a","key":"k","value":2,"ttl_ms":60000}"#);
    for _ in 0..4 {
        w.recv();
    }
    std::thread::sleep(Duration::from_millis(300));
    w.call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":2,"rev":2}"#],
    );
}

#[test]
fn a_thousand_keys_expiring_together_all_go_and_the_server_stays_responsive() {
    let server = TestServer::start();
    let mut w = server.client();
    for i in 0..1000 {
        w.send(&format!(
            r#"{{"type":"set","id":"a","key":"k{i}","value":{i},"ttl_ms":100}}"#
        ));
    }
    for _ in 0..1000 {
        w.recv();
    }
    server.wait_for("every key expired", |s| s.keys == 0 && s.rev == 2000);
    w.expect_nothing_before_marker();
}
