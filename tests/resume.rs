//! `subscribe` with `since`: a client that reconnects gets exactly what it
//! missed, or is told to resync; it never silently misses an update.

mod common;

use common::TestServer;
use kvws::Config;

fn set(n: u64) -> String {
    format!(r#"{{"type":"set","id":"a","key":"k","value":{n}}}"#)
}

#[test]
fn a_reconnecting_subscriber_receives_exactly_the_100_changes_it_missed() {
    let server = TestServer::start();
    let mut writer = server.client();
    let mut watcher = server.client();
    watcher.call(
        r#"{"type":"subscribe","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    writer.send(&set(0));
    writer.recv();
    watcher.expect(r#"{"type":"value","id":"a","key":"k","value":0,"rev":1}"#);
    drop(watcher);
    // 100 changes to the key, interleaved with changes to others.
    for n in 1..=100 {
        writer.send(&set(n));
        writer.recv();
        writer.send(&format!(
            r#"{{"type":"set","id":"a","key":"other{n}","value":{n}}}"#
        ));
        writer.recv();
    }
    let mut back = server.client();
    back.send(r#"{"type":"subscribe","id":"a","key":"k","since":1,"req":"resume"}"#);
    for n in 1..=100 {
        let rev = 2 * n;
        back.expect(&format!(
            r#"{{"type":"value","id":"a","key":"k","value":{n},"rev":{rev}}}"#
        ));
    }
    back.expect(r#"{"type":"subscribed","id":"a","key":"k","rev":201,"req":"resume"}"#);
    // And it is live again.
    writer.send(&set(101));
    writer.recv();
    back.expect(r#"{"type":"value","id":"a","key":"k","value":101,"rev":202}"#);
}

#[test]
fn a_delete_while_away_is_replayed_too() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        &set(1),
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
    );
    c.call(
        r#"{"type":"delete","id":"a","key":"k"}"#,
        &[r#"{"type":"deleted","id":"a","key":"k","rev":2}"#],
    );
    c.call(
        r#"{"type":"subscribe","id":"a","key":"k","since":1}"#,
        &[
            r#"{"type":"deleted","id":"a","key":"k","rev":2}"#,
            r#"{"type":"subscribed","id":"a","key":"k","rev":2}"#,
        ],
    );
}

#[test]
fn when_the_history_no_longer_reaches_back_the_reply_says_resync() {
    let server = TestServer::with(Config::default().history_len(10));
    let mut c = server.client();
    for n in 1..=20 {
        c.send(&set(n));
        c.recv();
    }
    c.call(
        r#"{"type":"subscribe","id":"a","key":"k","since":5,"req":1}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":20,"rev":20,"resync":true,"req":1}"#],
    );
    // Still within reach: a replay.
    let mut d = server.client();
    d.call(
        r#"{"type":"subscribe","id":"a","key":"k","since":19}"#,
        &[
            r#"{"type":"value","id":"a","key":"k","value":20,"rev":20}"#,
            r#"{"type":"subscribed","id":"a","key":"k","rev":20}"#,
        ],
    );
    // Up to date: nothing to replay.
    d.call(
        r#"{"type":"subscribe","id":"a","key":"k","since":20}"#,
        &[r#"{"type":"subscribed","id":"a","key":"k","rev":20}"#],
    );
    // A key that is gone resyncs to null with rev 0.
    let mut e = server.client();
    e.call(
        r#"{"type":"subscribe","id":"a","key":"gone","since":1}"#,
        &[r#"{"type":"value","id":"a","key":"gone","value":null,"rev":0,"resync":true}"#],
    );
}

#[test]
fn the_history_byte_bound_also_forces_resync() {
    let server = TestServer::with(Config::default().history_bytes(4096));
    let mut c = server.client();
    let big = format!("\"{}\"", "x".repeat(1000));
    for _ in 0..10 {
        c.send(&format!(
            r#"{{"type":"set","id":"a","key":"k","value":{big}}}"#
        ));
        c.recv();
    }
    c.send(r#"{"type":"subscribe","id":"a","key":"k","since":1}"#);
    assert!(c.recv().ends_with(r#","rev":10,"resync":true}"#));
}

#[test]
fn revisions_from_before_a_restart_resync() {
    // Default revisions: derived from the clock, so a new server's history
    // starts above anything an earlier run handed out.
    let first = TestServer::exactly(Config::default());
    let mut c = first.client();
    c.send(&set(1));
    let reply: serde_json::Value = serde_json::from_str(&c.recv()).unwrap();
    let old_rev = reply["rev"].as_u64().unwrap();
    assert!(
        old_rev > 1_600_000_000_000_000,
        "clock-derived revision: {old_rev}"
    );
    drop(c);
    first.stop();
    std::thread::sleep(std::time::Duration::from_millis(2));

    let second = TestServer::exactly(Config::default());
    let mut c = second.client();
    c.send(&format!(
        r#"{{"type":"subscribe","id":"a","key":"k","since":{old_rev}}}"#
    ));
    assert_eq!(
        c.recv(),
        r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"resync":true}"#
    );
    // Even after the new server has made more changes than the old one.
    c.send(&set(2));
    let new_rev: serde_json::Value = serde_json::from_str(&c.recv()).unwrap();
    assert!(new_rev["rev"].as_u64().unwrap() > old_rev);
    c.recv(); // its own notification
    let mut d = second.client();
    d.send(&format!(
        r#"{{"type":"subscribe","id":"a","key":"k","since":{old_rev}}}"#
    ));
    assert!(d.recv().ends_with(r#""resync":true}"#));
}

#[test]
fn a_revision_from_the_future_resyncs() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"subscribe","id":"a","key":"k","since":999}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"resync":true}"#],
    );
}
