//! Subscribing, being notified, unsubscribing, and what closing leaves behind.

mod common;

use common::TestServer;

#[test]
fn subscribe_replies_with_the_current_value_then_every_change() {
    let server = TestServer::start();
    let mut writer = server.client();
    let mut watcher = server.client();
    watcher.call(
        r#"{"type":"subscribe","id":"app","key":"k"}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":null,"rev":0}"#],
    );
    writer.call(
        r#"{"type":"set","id":"app","key":"k","value":"a"}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":"a","rev":1}"#],
    );
    watcher.expect(r#"{"type":"value","id":"app","key":"k","value":"a","rev":1}"#);
    writer.call(
        r#"{"type":"delete","id":"app","key":"k"}"#,
        &[r#"{"type":"deleted","id":"app","key":"k","rev":2}"#],
    );
    watcher.expect(r#"{"type":"deleted","id":"app","key":"k","rev":2}"#);
    // A delete of a missing key changes nothing and notifies nobody.
    writer.call(
        r#"{"type":"delete","id":"app","key":"k"}"#,
        &[r#"{"type":"deleted","id":"app","key":"k","rev":0}"#],
    );
    watcher.expect_nothing_before_marker();
}

#[test]
fn a_subscribed_sender_gets_its_reply_and_then_the_notification() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"subscribe","id":"app","key":"k"}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":null,"rev":0}"#],
    );
    c.call(
        r#"{"type":"set","id":"app","key":"k","value":5}"#,
        &[
            r#"{"type":"value","id":"app","key":"k","value":5,"rev":1}"#,
            r#"{"type":"value","id":"app","key":"k","value":5,"rev":1}"#,
        ],
    );
}

#[test]
fn subscribing_twice_is_one_subscription() {
    let server = TestServer::start();
    let mut writer = server.client();
    let mut watcher = server.client();
    for _ in 0..2 {
        watcher.call(
            r#"{"type":"subscribe","id":"app","key":"k"}"#,
            &[r#"{"type":"value","id":"app","key":"k","value":null,"rev":0}"#],
        );
    }
    server.wait_for("one subscription", |s| s.subscriptions == 1);
    writer.call(
        r#"{"type":"set","id":"app","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":1,"rev":1}"#],
    );
    watcher.expect(r#"{"type":"value","id":"app","key":"k","value":1,"rev":1}"#);
    watcher.expect_nothing_before_marker();
}

#[test]
fn unsubscribe_has_no_reply_and_stops_notifications() {
    let server = TestServer::start();
    let mut writer = server.client();
    let mut watcher = server.client();
    watcher.call(
        r#"{"type":"subscribe","id":"app","key":"k"}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":null,"rev":0}"#],
    );
    watcher.send(r#"{"type":"unsubscribe","id":"app","key":"k"}"#);
    watcher.expect_nothing_before_marker();
    writer.call(
        r#"{"type":"set","id":"app","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":1,"rev":1}"#],
    );
    watcher.expect_nothing_before_marker();
}

#[test]
fn subscriptions_are_scoped_by_id() {
    let server = TestServer::start();
    let mut writer = server.client();
    let mut watcher = server.client();
    watcher.call(
        r#"{"type":"subscribe","id":"one","key":"k"}"#,
        &[r#"{"type":"value","id":"one","key":"k","value":null,"rev":0}"#],
    );
    writer.call(
        r#"{"type":"set","id":"two","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"two","key":"k","value":1,"rev":1}"#],
    );
    watcher.expect_nothing_before_marker();
}

#[test]
fn closing_a_connection_removes_all_its_subscriptions() {
    let server = TestServer::start();
    let mut watcher = server.client();
    for i in 0..10 {
        watcher.send(&format!(
            r#"{{"type":"subscribe","id":"app","key":"k{i}"}}"#
        ));
        watcher.recv();
    }
    server.wait_for("ten subscriptions", |s| s.subscriptions == 10);
    watcher.close();
    server.wait_for("no subscriptions and no connection", |s| {
        s.subscriptions == 0 && s.connections == 0
    });

    // The same for a client that vanishes without a close handshake.
    let mut rude = server.client();
    rude.call(
        r#"{"type":"subscribe","id":"app","key":"k"}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":null,"rev":0}"#],
    );
    server.wait_for("one subscription", |s| s.subscriptions == 1);
    drop(rude);
    server.wait_for("no subscriptions", |s| {
        s.subscriptions == 0 && s.connections == 0
    });
}

#[test]
fn a_subscriber_sees_a_thousand_sets_in_order() {
    let server = TestServer::start();
    let mut writer = server.client();
    let mut watcher = server.client();
    watcher.call(
        r#"{"type":"subscribe","id":"app","key":"counter"}"#,
        &[r#"{"type":"value","id":"app","key":"counter","value":null,"rev":0}"#],
    );
    // Pipelined: all thousand go out before any reply is read.
    for i in 1..=1000 {
        writer.send(&format!(
            r#"{{"type":"set","id":"app","key":"counter","value":{i}}}"#
        ));
    }
    for i in 1..=1000 {
        assert_eq!(
            writer.recv(),
            format!(r#"{{"type":"value","id":"app","key":"counter","value":{i},"rev":{i}}}"#)
        );
        assert_eq!(
            watcher.recv(),
            format!(r#"{{"type":"value","id":"app","key":"counter","value":{i},"rev":{i}}}"#)
        );
    }
}

#[test]
fn a_hundred_concurrent_clients_each_see_every_write() {
    let server = TestServer::start();
    let addr = server.addr;
    let clients = 100;
    // Everyone subscribes before anyone writes.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|n| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut c = common::Client::connect(addr);
                c.call(
                    r#"{"type":"subscribe","id":"room","prefix":""}"#,
                    &[r#"{"type":"subscribed","id":"room","prefix":"","rev":0}"#],
                );
                barrier.wait();
                c.send(&format!(
                    r#"{{"type":"set","id":"room","key":"client{n}","value":{n},"req":{n}}}"#
                ));
                // The reply to our own set, plus one notification per client.
                let mut seen = std::collections::HashSet::new();
                let mut replied = false;
                while seen.len() < clients || !replied {
                    let msg: serde_json::Value = serde_json::from_str(&c.recv()).unwrap();
                    if msg.get("req").is_some() {
                        assert_eq!(msg["req"], n);
                        assert_eq!(msg["value"], n);
                        replied = true;
                    } else {
                        assert_eq!(msg["type"], "value");
                        assert!(
                            seen.insert(msg["key"].as_str().unwrap().to_string()),
                            "duplicate {msg}"
                        );
                    }
                }
                c.close();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = server.wait_for("all gone", |s| s.connections == 0);
    assert_eq!(stats.keys, clients as u64);
    assert_eq!(stats.rev, clients as u64);
}
