//! Cluster mode when Redis fails: restarted without its data (a new
//! epoch: clients are closed and resume with `resync`), restarted with it
//! (nothing happens to clients), stopped for a while (writes refused with
//! `unavailable`, reads go on, nothing acknowledged is lost), and its
//! connections killed under the node (it catches up; subscribers lose
//! nothing).

mod common;

use std::time::{Duration, Instant};

use common::Client;
use common::daemon::Daemon;
use common::redis::{Redis, node, wait_serving};
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

const PERSISTENT: &[&str] = &[
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
];

/// Sends `msg` until its reply is not `unavailable` (Redis coming back);
/// returns the reply.
fn when_back(c: &mut Client, msg: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        c.send(msg);
        let v = json(&c.recv());
        if v["code"] != "unavailable" {
            return v;
        }
        assert!(Instant::now() < deadline, "Redis did not come back: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two nodes on `redis`, a subscriber to `app/k` on the first and a
/// writer on the second, which has set it to 1, 2 and 3 (revisions 1 to 3),
/// each seen by the subscriber.
fn three_revisions(redis: &Redis) -> (Daemon, Daemon, Client, Client) {
    let extra = ["--start-revision", "0"];
    let (a, b) = (node(redis, "kvws", &extra), node(redis, "kvws", &extra));
    let mut sub = Client::connect(a.addr);
    sub.call(
        r#"{"type":"subscribe","id":"app","key":"k"}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":null,"rev":0}"#],
    );
    let mut w = Client::connect(b.addr);
    for rev in 1..=3 {
        w.call(
            &format!(r#"{{"type":"set","id":"app","key":"k","value":{rev}}}"#),
            &[&format!(
                r#"{{"type":"value","id":"app","key":"k","value":{rev},"rev":{rev}}}"#
            )],
        );
        sub.expect(&format!(
            r#"{{"type":"value","id":"app","key":"k","value":{rev},"rev":{rev}}}"#
        ));
    }
    (a, b, sub, w)
}

#[test]
fn redis_restarted_without_its_data_starts_a_new_epoch_and_clients_resync() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b, mut sub, mut w) = three_revisions(&redis);
    redis.restart();
    // Whatever the client holds may not be the store any more: 1012.
    assert_eq!(sub.expect_close(), Some(1012));
    assert_eq!(w.expect_close(), Some(1012));
    wait_serving(a.addr);
    wait_serving(b.addr);
    let mut back = Client::connect(a.addr);
    back.call(
        r#"{"type":"subscribe","id":"app","key":"k","since":3}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":null,"rev":0,"resync":true}"#],
    );
    // The new epoch's revisions go on above every revision clients saw.
    let mut w = Client::connect(b.addr);
    let v = when_back(
        &mut w,
        r#"{"type":"set","id":"app","key":"k","value":"new"}"#,
    );
    assert_eq!(v["type"], "value", "{v}");
    let rev = v["rev"].as_u64().unwrap();
    assert!(rev > 3, "revision {rev} after 3");
    back.expect(&format!(
        r#"{{"type":"value","id":"app","key":"k","value":"new","rev":{rev}}}"#
    ));
}

#[test]
fn redis_restarted_with_its_data_is_invisible_to_clients() {
    let Some(mut redis) = Redis::start_with(PERSISTENT) else {
        return;
    };
    let (_a, _b, mut sub, mut w) = three_revisions(&redis);
    redis.restart();
    // Same epoch: the revision continues and the subscriber stays.
    let v = when_back(&mut w, r#"{"type":"set","id":"app","key":"k","value":4}"#);
    assert_eq!(
        v,
        json(r#"{"type":"value","id":"app","key":"k","value":4,"rev":4}"#)
    );
    sub.expect(r#"{"type":"value","id":"app","key":"k","value":4,"rev":4}"#);
}

#[test]
fn while_redis_is_down_writes_are_unavailable_reads_go_on_and_nothing_acknowledged_is_lost() {
    let Some(mut redis) = Redis::start_with(PERSISTENT) else {
        return;
    };
    let extra = ["--start-revision", "0"];
    let (a, b) = (node(&redis, "kvws", &extra), node(&redis, "kvws", &extra));
    let mut on_a = Client::connect(a.addr);
    let mut sub = Client::connect(b.addr);
    sub.call(
        r#"{"type":"subscribe","id":"app","prefix":"k"}"#,
        &[r#"{"type":"subscribed","id":"app","prefix":"k","rev":0}"#],
    );
    on_a.call(
        r#"{"type":"set","id":"app","key":"k1","value":1}"#,
        &[r#"{"type":"value","id":"app","key":"k1","value":1,"rev":1}"#],
    );
    sub.expect(r#"{"type":"value","id":"app","key":"k1","value":1,"rev":1}"#);
    redis.stop();
    // Writes are refused at once, and say so.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        on_a.send(r#"{"type":"set","id":"app","key":"k2","value":2}"#);
        let v = json(&on_a.recv());
        assert_eq!(
            v["type"], "error",
            "a write acknowledged while Redis is down: {v}"
        );
        assert_eq!(v["code"], "unavailable");
        if v["message"] == "the store (Redis) cannot be reached; nothing was changed" {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    // Reads are served from the node's copy.
    on_a.call(
        r#"{"type":"get","id":"app","key":"k1"}"#,
        &[r#"{"type":"value","id":"app","key":"k1","value":1,"rev":1}"#],
    );
    std::thread::sleep(Duration::from_secs(2));
    redis.start_again();
    let v = when_back(
        &mut on_a,
        r#"{"type":"set","id":"app","key":"k3","value":3}"#,
    );
    assert_eq!(
        v,
        json(r#"{"type":"value","id":"app","key":"k3","value":3,"rev":2}"#)
    );
    // The subscriber stayed, and hears of it.
    sub.expect(r#"{"type":"value","id":"app","key":"k3","value":3,"rev":2}"#);
    sub.call(
        r#"{"type":"get","id":"app","key":"k1"}"#,
        &[r#"{"type":"value","id":"app","key":"k1","value":1,"rev":1}"#],
    );
}

#[test]
fn killed_redis_connections_are_noticed_and_subscribers_lose_nothing() {
    const WRITES: u64 = 400;
    let Some(redis) = Redis::start() else { return };
    let extra = ["--start-revision", "0"];
    let (a, b) = (node(&redis, "kvws", &extra), node(&redis, "kvws", &extra));
    let mut sub = Client::connect(a.addr);
    sub.call(
        r#"{"type":"subscribe","id":"app","prefix":"w/"}"#,
        &[r#"{"type":"subscribed","id":"app","prefix":"w/","rev":0}"#],
    );
    let addr = b.addr;
    let writer = std::thread::spawn(move || {
        let mut w = Client::connect(addr);
        let mut acked = Vec::new();
        for i in 0..WRITES {
            w.send(&format!(
                r#"{{"type":"set","id":"app","key":"w/{i}","value":{i}}}"#
            ));
            let v = json(&w.recv());
            if v["type"] == "value" {
                acked.push((v["rev"].as_u64().unwrap(), i));
            } else {
                assert_eq!(v["code"], "unavailable", "{v}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        acked
    });
    // Kill every node's stream readers, then every connection, while the
    // writes go on.
    std::thread::sleep(Duration::from_millis(200));
    let list = redis.cmd(&["CLIENT", "LIST"]);
    let mut killed = 0;
    for line in list.lines().filter(|l| l.contains("cmd=xread")) {
        let id = line
            .split_whitespace()
            .next()
            .unwrap()
            .trim_start_matches("id=");
        redis.cmd(&["CLIENT", "KILL", "ID", id]);
        killed += 1;
    }
    assert!(killed >= 2, "no stream readers found: {list}");
    std::thread::sleep(Duration::from_millis(200));
    redis.cmd(&["CLIENT", "KILL", "TYPE", "normal"]);
    let acked = writer.join().unwrap();
    assert!(
        acked.len() as u64 > WRITES / 2,
        "few writes made: {}",
        acked.len()
    );
    // Every change reaches the subscriber once, in order, without a gap:
    // the acknowledged ones and any whose reply was lost with Redis.
    let last = redis.cmd(&["GET", "kvws:rev"]).parse::<u64>().unwrap();
    let mut seen = Vec::new();
    while seen.len() < last as usize {
        let v = json(&sub.recv());
        assert_eq!(v["type"], "value", "{v}");
        seen.push((v["rev"].as_u64().unwrap(), v["value"].as_u64().unwrap()));
    }
    let revs: Vec<u64> = seen.iter().map(|(r, _)| *r).collect();
    assert_eq!(revs, (1..=last).collect::<Vec<_>>());
    for (rev, i) in acked {
        assert_eq!(seen[rev as usize - 1], (rev, i));
    }
    sub.expect_nothing_before_marker();
}

#[test]
fn redis_losing_acknowledged_changes_starts_a_new_epoch_instead_of_reusing_revisions() {
    let Some(redis) = Redis::start() else { return };
    let (a, b, mut sub, _w) = three_revisions(&redis);
    // Redis comes back with its data as of revision 1 (an older file, a
    // replica that had not caught up), and the nodes reconnect.
    redis.cmd(&["SET", "kvws:rev", "1"]);
    redis.cmd(&["HSET", "kvws:data", "3:appk", "1;;;1"]);
    redis.cmd(&["XTRIM", "kvws:stream", "MAXLEN", "1"]);
    redis.cmd(&["CLIENT", "KILL", "TYPE", "normal"]);
    // Revisions 2 and 3 must never name other changes: a new epoch, above
    // them, and clients resync.
    assert_eq!(sub.expect_close(), Some(1012));
    wait_serving(a.addr);
    let mut back = Client::connect(a.addr);
    back.call(
        r#"{"type":"subscribe","id":"app","key":"k","since":3}"#,
        &[r#"{"type":"value","id":"app","key":"k","value":1,"rev":1,"resync":true}"#],
    );
    let mut w = Client::connect(b.addr);
    let v = when_back(
        &mut w,
        r#"{"type":"set","id":"app","key":"k","value":"after"}"#,
    );
    assert!(v["rev"].as_u64().unwrap() > 3, "{v}");
}
