//! Cluster mode: three nodes on one real Redis behave as one store. A
//! change made on any node reaches every node's subscribers with the same
//! revision, in the same order; compare-and-set across nodes has one
//! winner; a writer reads its own write at once.

mod common;

use std::time::{Duration, Instant};

use common::Client;
use common::daemon::Daemon;
use common::redis::{Redis, node};
use serde_json::Value;

/// Three nodes whose revisions start at 0 (`--start-revision`), so that
/// replies can be asserted exactly.
fn cluster(redis: &Redis) -> [Daemon; 3] {
    let extra = ["--start-revision", "0"];
    [
        node(redis, "kvws", &extra),
        node(redis, "kvws", &extra),
        node(redis, "kvws", &extra),
    ]
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_set_on_one_node_reaches_subscribers_on_every_node_with_its_revision() {
    let Some(redis) = Redis::start() else { return };
    let [a, b, c] = cluster(&redis);
    let mut subs: Vec<Client> = [&a, &b, &c]
        .iter()
        .map(|n| Client::connect(n.addr))
        .collect();
    for s in &mut subs {
        s.call(
            r#"{"type":"subscribe","id":"app","key":"k"}"#,
            &[r#"{"type":"value","id":"app","key":"k","value":null,"rev":0}"#],
        );
    }
    let mut writer = Client::connect(a.addr);
    writer.call(
        r#"{"type":"set","id":"app","key":"k","value":{"n":1},"req":7}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":{"n":1},"rev":1,"req":7}"#],
    );
    for s in &mut subs {
        s.expect(r#"{"type":"value","id":"app","key":"k","value":{"n":1},"rev":1}"#);
    }
    let mut deleter = Client::connect(c.addr);
    deleter.call(
        r#"{"type":"delete","id":"app","key":"k"}"#,
        &[r#"{"type":"deleted","id":"app","key":"k","rev":2}"#],
    );
    for s in &mut subs {
        s.expect(r#"{"type":"deleted","id":"app","key":"k","rev":2}"#);
    }
    // Deleting a missing key changes nothing anywhere.
    writer.call(
        r#"{"type":"delete","id":"app","key":"k"}"#,
        &[r#"{"type":"deleted","id":"app","key":"k","rev":0}"#],
    );
    for s in &mut subs {
        s.expect_nothing_before_marker();
    }
}

#[test]
fn concurrent_writers_on_three_nodes_are_seen_in_one_order_everywhere() {
    const EACH: usize = 300;
    let Some(redis) = Redis::start() else { return };
    let nodes = cluster(&redis);
    let mut subs: Vec<Client> = nodes.iter().map(|n| Client::connect(n.addr)).collect();
    for s in &mut subs {
        s.call(
            r#"{"type":"subscribe","id":"app","prefix":"w"}"#,
            &[r#"{"type":"subscribed","id":"app","prefix":"w","rev":0}"#],
        );
    }
    // Each writer pipelines all its sets on its own node at once.
    let writers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(w, n)| {
            let addr = n.addr;
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..EACH {
                    c.send(&format!(
                        r#"{{"type":"set","id":"app","key":"w{w}/{i}","value":{i}}}"#
                    ));
                }
                (0..EACH).map(|_| json(&c.recv())).collect::<Vec<_>>()
            })
        })
        .collect();
    let acks: Vec<Value> = writers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let total = 3 * EACH;
    let seen: Vec<Vec<(u64, String, i64)>> = subs
        .iter_mut()
        .map(|s| {
            (0..total)
                .map(|_| {
                    let v = json(&s.recv());
                    assert_eq!(v["type"], "value", "{v}");
                    let key = v["key"].as_str().unwrap().to_string();
                    (
                        v["rev"].as_u64().unwrap(),
                        key,
                        v["value"].as_i64().unwrap(),
                    )
                })
                .collect()
        })
        .collect();
    // One order on every node: revisions 1..=total, each once.
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
    let revs: Vec<u64> = seen[0].iter().map(|(r, _, _)| *r).collect();
    assert_eq!(revs, (1..=total as u64).collect::<Vec<_>>());
    // Every write is there once, with the revision its writer was told.
    let mut keys: Vec<&str> = seen[0].iter().map(|(_, k, _)| k.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total);
    for ack in &acks {
        let rev = ack["rev"].as_u64().unwrap();
        let (_, key, value) = &seen[0][rev as usize - 1];
        assert_eq!(
            (key.as_str(), *value),
            (ack["key"].as_str().unwrap(), ack["value"].as_i64().unwrap())
        );
    }
    // And each writer's own revisions increase in the order it wrote.
    for w in 0..3 {
        let mine: Vec<u64> = acks[w * EACH..(w + 1) * EACH]
            .iter()
            .map(|a| a["rev"].as_u64().unwrap())
            .collect();
        assert!(mine.windows(2).all(|p| p[0] < p[1]), "writer {w}: {mine:?}");
    }
}

#[test]
fn compare_and_set_across_nodes_has_exactly_one_winner() {
    let Some(redis) = Redis::start() else { return };
    let nodes = cluster(&redis);
    let mut clients: Vec<Client> = nodes.iter().map(|n| Client::connect(n.addr)).collect();
    clients[0].call(
        r#"{"type":"set","id":"app","key":"c","value":0}"#,
        &[r#"{"type":"value","id":"app","key":"c","value":0,"rev":1}"#],
    );
    let mut current = 1;
    for round in 0..50 {
        // Every node sees the current revision before the race starts.
        for c in &mut clients {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                c.send(r#"{"type":"get","id":"app","key":"c"}"#);
                if json(&c.recv())["rev"] == current {
                    break;
                }
                assert!(Instant::now() < deadline, "round {round}: a node is behind");
            }
        }
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(&format!(
                r#"{{"type":"set","id":"app","key":"c","value":{i},"if_rev":{current}}}"#
            ));
        }
        let replies: Vec<Value> = clients.iter_mut().map(|c| json(&c.recv())).collect();
        let winners: Vec<&Value> = replies.iter().filter(|r| r["type"] == "value").collect();
        assert_eq!(winners.len(), 1, "round {round}: {replies:?}");
        let won = winners[0]["rev"].as_u64().unwrap();
        assert_eq!(won, current + 1);
        for r in replies.iter().filter(|r| r["type"] != "value") {
            assert_eq!(r["code"], "conflict", "{r}");
            assert_eq!(r["rev"], won, "a loser is told the winner's revision: {r}");
        }
        current = won;
    }
}

#[test]
fn a_writer_reads_its_own_write_at_once_and_other_nodes_soon() {
    let Some(redis) = Redis::start() else { return };
    let [a, b, _c] = cluster(&redis);
    let mut on_a = Client::connect(a.addr);
    let mut on_b = Client::connect(b.addr);
    let mut worst = Duration::ZERO;
    for i in 1..=20u64 {
        on_a.send(&format!(
            r#"{{"type":"set","id":"app","key":"r","value":{i}}}"#
        ));
        on_a.expect(&format!(
            r#"{{"type":"value","id":"app","key":"r","value":{i},"rev":{i}}}"#
        ));
        let acked = Instant::now();
        // The writer's node has it already: no waiting.
        on_a.call(
            r#"{"type":"get","id":"app","key":"r"}"#,
            &[&format!(
                r#"{{"type":"value","id":"app","key":"r","value":{i},"rev":{i}}}"#
            )],
        );
        // Another node has it within a bound (measured; the margin is wide).
        loop {
            on_b.send(r#"{"type":"get","id":"app","key":"r"}"#);
            let v = json(&on_b.recv());
            if v["rev"] == i {
                break;
            }
            assert!(
                v["rev"].as_u64().unwrap() < i,
                "revisions never go backwards"
            );
            assert!(
                acked.elapsed() < Duration::from_secs(5),
                "node B is not catching up"
            );
        }
        worst = worst.max(acked.elapsed());
    }
    eprintln!("slowest write to show on another node: {worst:?}");
}

#[test]
fn pipelined_requests_behind_writes_are_answered_in_order() {
    let Some(redis) = Redis::start() else { return };
    let [a, _b, _c] = cluster(&redis);
    let mut c = Client::connect(a.addr);
    let requests = [
        r#"{"type":"set","id":"app","key":"a","value":1,"req":1}"#,
        r#"{"type":"set","id":"app","value":2,"req":2}"#,
        r#"{"type":"delete","id":"app","key":"missing","req":3}"#,
        r#"{"type":"set","id":"app","key":"a","value":2,"if_rev":7,"req":4}"#,
        r#"{"type":"get","id":"app","key":"a","req":5}"#,
        r#"{"type":"set","id":"app","key":"c","value":3,"req":6}"#,
        r#"{"type":"delete","id":"app","key":"a","if_rev":1,"req":7}"#,
        r#"{"type":"frobnicate","req":8}"#,
        r#"{"type":"get","id":"app","key":"a","req":9}"#,
    ];
    for r in requests {
        c.send(r);
    }
    let replies: Vec<String> = (0..requests.len()).map(|_| c.recv()).collect();
    assert_eq!(
        replies[0],
        r#"{"type":"value","id":"app","key":"a","value":1,"rev":1,"req":1}"#
    );
    assert!(
        replies[1].starts_with(r#"{"type":"error","code":"bad_request""#),
        "{}",
        replies[1]
    );
    assert!(replies[1].ends_with(r#","req":2}"#), "{}", replies[1]);
    assert_eq!(
        replies[2],
        r#"{"type":"deleted","id":"app","key":"missing","rev":0,"req":3}"#
    );
    assert_eq!(
        replies[3],
        r#"{"type":"error","code":"conflict","message":"if_rev does not match: the key's revision is 1","id":"app","key":"a","rev":1,"req":4}"#
    );
    assert_eq!(
        replies[4],
        r#"{"type":"value","id":"app","key":"a","value":1,"rev":1,"req":5}"#
    );
    assert_eq!(
        replies[5],
        r#"{"type":"value","id":"app","key":"c","value":3,"rev":2,"req":6}"#
    );
    assert_eq!(
        replies[6],
        r#"{"type":"deleted","id":"app","key":"a","rev":3,"req":7}"#
    );
    assert!(
        replies[7].contains(r#""code":"bad_request""#) && replies[7].ends_with(r#""req":8}"#),
        "{}",
        replies[7]
    );
    assert_eq!(
        replies[8],
        r#"{"type":"value","id":"app","key":"a","value":null,"rev":0,"req":9}"#
    );
}

#[test]
fn nodes_sharing_a_secret_file_accept_each_others_tokens() {
    let Some(redis) = Redis::start() else { return };
    let (path, token) = common::daemon::secret("cluster-auth");
    let path = path.to_str().unwrap();
    let extra = ["--start-revision", "0", "--secret-file", path];
    let (a, b) = (node(&redis, "kvws", &extra), node(&redis, "kvws", &extra));
    for n in [&a, &b] {
        let mut c = Client::connect(n.addr);
        c.call(
            r#"{"type":"get","id":"app","key":"k","req":1}"#,
            &[r#"{"type":"error","code":"unauthenticated","message":"authenticate first with {\"type\":\"auth\",\"token\":...}","req":1}"#],
        );
        c.send(&format!(r#"{{"type":"auth","token":"{token}"}}"#));
        assert_eq!(json(&c.recv())["type"], "authenticated");
        c.call(
            r#"{"type":"get","id":"app","key":"k"}"#,
            &[r#"{"type":"value","id":"app","key":"k","value":null,"rev":0}"#],
        );
    }
}
