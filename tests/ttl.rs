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
    // All five sets go in one batch, so that no deadline can pass before
    // the last of them is applied, however slow the machine.
    for (key, ttl) in [
        ("third", 900),
        ("first", 300),
        ("second", 600),
        ("kept", 300),
    ] {
        w.send(&format!(
            r#"{{"type":"set","id":"a","key":"{key}","value":1,"ttl_ms":{ttl}}}"#
        ));
    }
    // A set without ttl_ms makes the key permanent again.
    w.send(r#"{"type":"set","id":"a","key":"kept","value":2}"#);
    for _ in 0..4 {
        w.recv();
        watcher.recv();
    }
    w.expect(r#"{"type":"value","id":"a","key":"kept","value":2,"rev":5}"#);
    watcher.recv();
    watcher.expect(r#"{"type":"deleted","id":"a","key":"first","rev":6,"reason":"expired"}"#);
    assert!(start.elapsed() >= Duration::from_millis(300));
    watcher.expect(r#"{"type":"deleted","id":"a","key":"second","rev":7,"reason":"expired"}"#);
    watcher.expect(r#"{"type":"deleted","id":"a","key":"third","rev":8,"reason":"expired"}"#);
    assert!(start.elapsed() >= Duration::from_millis(900));
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
    w.send(r#"{"type":"set","id":"a","key":"k","value":1,"ttl_ms":1000}"#);
    w.send(r#"{"type":"set","id":"a","key":"k","value":2,"ttl_ms":60000}"#);
    for _ in 0..4 {
        w.recv();
    }
    std::thread::sleep(Duration::from_millis(1500));
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
