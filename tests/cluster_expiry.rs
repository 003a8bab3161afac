//! Cluster mode: a key's deadline is the store's, not a node's. With every
//! node sweeping, each expired key is deleted once and every subscriber
//! hears of it once; a node's ephemeral keys go with its connections, and
//! with the node itself when it dies (within its lease).

mod common;

use std::time::{Duration, Instant};

use common::Client;
use common::redis::{Redis, node};
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn each_expired_key_is_deleted_once_with_three_nodes_sweeping() {
    const KEYS: usize = 60;
    let Some(redis) = Redis::start() else { return };
    let extra = ["--start-revision", "0"];
    let nodes = [
        node(&redis, "kvws", &extra),
        node(&redis, "kvws", &extra),
        node(&redis, "kvws", &extra),
    ];
    let mut subs: Vec<Client> = nodes.iter().map(|n| Client::connect(n.addr)).collect();
    for s in &mut subs {
        s.call(
            r#"{"type":"subscribe","id":"app","prefix":"t/"}"#,
            &[r#"{"type":"subscribed","id":"app","prefix":"t/","rev":0}"#],
        );
    }
    let mut writers: Vec<Client> = nodes.iter().map(|n| Client::connect(n.addr)).collect();
    for i in 0..KEYS {
        let w = &mut writers[i % 3];
        w.send(&format!(
            r#"{{"type":"set","id":"app","key":"t/{i}","value":{i},"ttl_ms":300}}"#
        ));
        assert_eq!(json(&w.recv())["type"], "value");
    }
    for s in &mut subs {
        let mut sets = 0;
        let mut expired = std::collections::BTreeSet::new();
        while sets + expired.len() < 2 * KEYS {
            let v = json(&s.recv());
            match v["type"].as_str().unwrap() {
                "value" => sets += 1,
                "deleted" => {
                    assert_eq!(v["reason"], "expired", "{v}");
                    assert!(
                        expired.insert(v["key"].as_str().unwrap().to_string()),
                        "twice: {v}"
                    );
                }
                _ => panic!("{v}"),
            }
        }
        assert_eq!((sets, expired.len()), (KEYS, KEYS));
    }
    // One revision per set and one per expiry, store-wide: no node deleted
    // a key that another had deleted already.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(redis.cmd(&["GET", "kvws:rev"]), (2 * KEYS).to_string());
    for s in &mut subs {
        s.expect_nothing_before_marker();
    }
}

#[test]
fn a_closed_connections_ephemeral_keys_go_at_once_and_a_dead_nodes_within_its_lease() {
    let Some(redis) = Redis::start() else { return };
    let extra = ["--start-revision", "0"];
    let (mut a, b) = (node(&redis, "kvws", &extra), node(&redis, "kvws", &extra));
    let mut sub = Client::connect(b.addr);
    sub.call(
        r#"{"type":"subscribe","id":"app","prefix":"e/"}"#,
        &[r#"{"type":"subscribed","id":"app","prefix":"e/","rev":0}"#],
    );
    // A connection that closes: its key goes now.
    let mut owner = Client::connect(a.addr);
    owner.call(
        r#"{"type":"set","id":"app","key":"e/closed","value":1,"ephemeral":true}"#,
        &[r#"{"type":"value","id":"app","key":"e/closed","value":1,"rev":1}"#],
    );
    sub.expect(r#"{"type":"value","id":"app","key":"e/closed","value":1,"rev":1}"#);
    owner.close();
    sub.expect(r#"{"type":"deleted","id":"app","key":"e/closed","rev":2,"reason":"disconnected"}"#);
    // A node that dies: its connections' keys go once its lease lapses.
    let mut owner = Client::connect(a.addr);
    for i in 0..5 {
        owner.send(&format!(
            r#"{{"type":"set","id":"app","key":"e/{i}","value":{i},"ephemeral":true}}"#
        ));
        owner.recv();
        sub.recv();
    }
    // A permanent key of the same node stays.
    owner.call(
        r#"{"type":"set","id":"app","key":"e/kept","value":0}"#,
        &[r#"{"type":"value","id":"app","key":"e/kept","value":0,"rev":8}"#],
    );
    sub.recv();
    let killed = Instant::now();
    a.child.kill().unwrap();
    let mut gone = std::collections::BTreeSet::new();
    while gone.len() < 5 {
        let v = json(&sub.recv_within(Duration::from_secs(30)));
        assert_eq!(
            (v["type"].as_str(), v["reason"].as_str()),
            (Some("deleted"), Some("disconnected")),
            "{v}"
        );
        gone.insert(v["key"].as_str().unwrap().to_string());
    }
    let took = killed.elapsed();
    eprintln!("a dead node's ephemeral keys were deleted {took:?} after it died");
    // The bound: the lease (10 s) and one sweep (3 s), with a wide margin.
    assert!(took < Duration::from_secs(25), "{took:?}");
    sub.call(
        r#"{"type":"get","id":"app","key":"e/kept"}"#,
        &[r#"{"type":"value","id":"app","key":"e/kept","value":0,"rev":8}"#],
    );
}
