//! The engine driven directly, with output captured per connection.

use std::collections::HashMap;

use super::{Engine, Outbound};
use crate::config::Config;
use crate::conn_id::ConnId;
use crate::protocol::frame::FrameRef;

/// Captures what each connection would receive, as text.
#[derive(Default)]
struct Inbox(HashMap<ConnId, Vec<String>>);

impl Outbound for Inbox {
    fn send(&mut self, to: ConnId, json: &[u8]) {
        self.0
            .entry(to)
            .or_default()
            .push(String::from_utf8(json.to_vec()).unwrap());
    }
    fn send_frame(&mut self, to: ConnId, frame: FrameRef<'_>) {
        // The payload, without the WebSocket header the engine framed it with.
        self.send(to, frame.payload());
    }
}

impl Inbox {
    fn take(&mut self, conn: u64) -> Vec<String> {
        self.0.remove(&ConnId::from(conn)).unwrap_or_default()
    }
}

struct Harness {
    engine: Engine,
    inbox: Inbox,
    now: u64,
}

impl Harness {
    fn new(config: Config) -> Self {
        let mut engine = Engine::new(&config, 0);
        for conn in 1..=3 {
            engine.open(ConnId::from(conn), None);
        }
        Harness {
            engine,
            inbox: Inbox::default(),
            now: 1_000,
        }
    }

    /// Sends `msg` from `conn` and returns everything `conn` received.
    fn send(&mut self, conn: u64, msg: &str) -> Vec<String> {
        self.engine
            .handle(ConnId::from(conn), msg, self.now, &mut self.inbox);
        self.inbox.take(conn)
    }
}

fn h() -> Harness {
    Harness::new(Config::default())
}

#[test]
fn set_then_get_returns_the_exact_json_text() {
    let mut h = h();
    let value = r#"{"b": 1, "a": [1.50, 18446744073709551616, "\u00e9"]}"#;
    let set = format!(r#"{{"type":"set","id":"app","key":"k","value":{value}}}"#);
    let expected = format!(r#"{{"type":"value","id":"app","key":"k","value":{value},"rev":1}}"#);
    assert_eq!(h.send(1, &set), std::slice::from_ref(&expected));
    assert_eq!(
        h.send(2, r#"{"type":"get","id":"app","key":"k"}"#),
        [expected]
    );
}

#[test]
fn get_of_a_missing_key_is_null_with_rev_zero() {
    let mut h = h();
    assert_eq!(
        h.send(1, r#"{"type":"get","id":"app","key":"nope"}"#),
        [r#"{"type":"value","id":"app","key":"nope","value":null,"rev":0}"#]
    );
}

#[test]
fn subscribers_get_changes_and_the_sender_gets_its_reply_first() {
    let mut h = h();
    h.send(1, r#"{"type":"subscribe","id":"app","key":"k"}"#);
    h.send(2, r#"{"type":"subscribe","id":"app","key":"k"}"#);
    let got = h.send(
        1,
        r#"{"type":"set","id":"app","key":"k","value":null,"req":7}"#,
    );
    assert_eq!(
        got,
        [
            r#"{"type":"value","id":"app","key":"k","value":null,"rev":1,"req":7}"#,
            r#"{"type":"value","id":"app","key":"k","value":null,"rev":1}"#,
        ]
    );
    assert_eq!(
        h.inbox.take(2),
        [r#"{"type":"value","id":"app","key":"k","value":null,"rev":1}"#]
    );
    assert!(h.inbox.take(3).is_empty());
}

#[test]
fn delete_notifies_only_when_something_was_removed() {
    let mut h = h();
    h.send(2, r#"{"type":"subscribe","id":"app","key":"k"}"#);
    assert_eq!(
        h.send(1, r#"{"type":"delete","id":"app","key":"k"}"#),
        [r#"{"type":"deleted","id":"app","key":"k","rev":0}"#]
    );
    assert!(h.inbox.take(2).is_empty());
    h.send(1, r#"{"type":"set","id":"app","key":"k","value":1}"#);
    h.inbox.take(2);
    assert_eq!(
        h.send(1, r#"{"type":"delete","id":"app","key":"k"}"#),
        [r#"{"type":"deleted","id":"app","key":"k","rev":2}"#]
    );
    assert_eq!(
        h.inbox.take(2),
        [r#"{"type":"deleted","id":"app","key":"k","rev":2}"#]
    );
}

#[test]
fn if_rev_conflicts_leave_the_value_alone() {
    let mut h = h();
    h.send(
        1,
        r#"{"type":"set","id":"app","key":"k","value":1,"if_rev":0}"#,
    );
    assert_eq!(
        h.send(
            1,
            r#"{"type":"set","id":"app","key":"k","value":2,"if_rev":0,"req":"a"}"#
        ),
        [
            r#"{"type":"error","code":"conflict","message":"if_rev does not match: the key's revision is 1","id":"app","key":"k","rev":1,"req":"a"}"#
        ]
    );
    h.send(
        1,
        r#"{"type":"set","id":"app","key":"k","value":3,"if_rev":1}"#,
    );
    assert_eq!(
        h.engine.store().get("app", "k").unwrap().value.as_ref(),
        "3"
    );
    let err = h.send(1, r#"{"type":"delete","id":"app","key":"k","if_rev":1}"#);
    assert!(
        err[0].contains(r#""code":"conflict""#) && err[0].contains(r#""rev":2"#),
        "{err:?}"
    );
}

#[test]
fn since_replays_exactly_the_missed_changes_then_marks_the_end() {
    let mut h = h();
    for v in 1..=3 {
        h.send(
            1,
            &format!(r#"{{"type":"set","id":"app","key":"k","value":{v}}}"#),
        );
    }
    h.send(1, r#"{"type":"set","id":"app","key":"other","value":0}"#);
    h.send(1, r#"{"type":"delete","id":"app","key":"k"}"#);
    let got = h.send(
        2,
        r#"{"type":"subscribe","id":"app","key":"k","since":1,"req":1}"#,
    );
    assert_eq!(
        got,
        [
            r#"{"type":"value","id":"app","key":"k","value":2,"rev":2}"#,
            r#"{"type":"value","id":"app","key":"k","value":3,"rev":3}"#,
            r#"{"type":"deleted","id":"app","key":"k","rev":5}"#,
            r#"{"type":"subscribed","id":"app","key":"k","rev":5,"req":1}"#,
        ]
    );
}

#[test]
fn since_beyond_the_history_resyncs_with_the_current_value() {
    let mut h = Harness::new(Config::default().history_len(2));
    for v in 1..=5 {
        h.send(
            1,
            &format!(r#"{{"type":"set","id":"app","key":"k","value":{v}}}"#),
        );
    }
    assert_eq!(
        h.send(2, r#"{"type":"subscribe","id":"app","key":"k","since":1}"#),
        [r#"{"type":"value","id":"app","key":"k","value":5,"rev":5,"resync":true}"#]
    );
    // A revision from the future (another store, a restart) also resyncs.
    assert_eq!(
        h.send(3, r#"{"type":"subscribe","id":"app","key":"k","since":99}"#),
        [r#"{"type":"value","id":"app","key":"k","value":5,"rev":5,"resync":true}"#]
    );
}

#[test]
fn prefix_subscription_snapshots_then_follows_changes_once_per_connection() {
    let mut h = h();
    h.send(1, r#"{"type":"set","id":"app","key":"room/b","value":2}"#);
    h.send(1, r#"{"type":"set","id":"app","key":"room/a","value":1}"#);
    h.send(1, r#"{"type":"set","id":"app","key":"other","value":0}"#);
    assert_eq!(
        h.send(2, r#"{"type":"subscribe","id":"app","prefix":"room/"}"#),
        [
            r#"{"type":"value","id":"app","key":"room/a","value":1,"rev":2}"#,
            r#"{"type":"value","id":"app","key":"room/b","value":2,"rev":1}"#,
            r#"{"type":"subscribed","id":"app","prefix":"room/","rev":3}"#,
        ]
    );
    h.send(2, r#"{"type":"subscribe","id":"app","prefix":"room"}"#);
    h.send(2, r#"{"type":"subscribe","id":"app","key":"room/a"}"#);
    h.send(1, r#"{"type":"set","id":"app","key":"room/a","value":5}"#);
    assert_eq!(
        h.inbox.take(2),
        [r#"{"type":"value","id":"app","key":"room/a","value":5,"rev":4}"#]
    );
}

#[test]
fn prefix_snapshot_over_the_cap_subscribes_nothing() {
    let mut h = Harness::new(Config::default().max_prefix_snapshot(2));
    for k in ["p1", "p2", "p3"] {
        h.send(
            1,
            &format!(r#"{{"type":"set","id":"app","key":"{k}","value":0}}"#),
        );
    }
    let got = h.send(2, r#"{"type":"subscribe","id":"app","prefix":"p"}"#);
    assert!(got[0].contains(r#""code":"too_many_keys""#), "{got:?}");
    h.send(1, r#"{"type":"set","id":"app","key":"p1","value":1}"#);
    assert!(h.inbox.take(2).is_empty());
}

#[test]
fn ttl_expires_in_deadline_order_with_a_reason() {
    let mut h = h();
    h.send(2, r#"{"type":"subscribe","id":"app","prefix":""}"#);
    h.send(
        1,
        r#"{"type":"set","id":"app","key":"slow","value":1,"ttl_ms":200}"#,
    );
    h.send(
        1,
        r#"{"type":"set","id":"app","key":"fast","value":1,"ttl_ms":100}"#,
    );
    h.send(
        1,
        r#"{"type":"set","id":"app","key":"kept","value":1,"ttl_ms":100}"#,
    );
    h.send(1, r#"{"type":"set","id":"app","key":"kept","value":2}"#);
    h.inbox.take(2);
    // Set at 1,000 ms with a 100 ms ttl: due once 1,100 has fully passed.
    assert_eq!(h.engine.next_deadline(), Some(1_101));
    assert_eq!(h.engine.expire(1_100, &mut h.inbox), 0);
    assert_eq!(h.engine.expire(1_300, &mut h.inbox), 2);
    assert_eq!(
        h.inbox.take(2),
        [
            r#"{"type":"deleted","id":"app","key":"fast","rev":5,"reason":"expired"}"#,
            r#"{"type":"deleted","id":"app","key":"slow","rev":6,"reason":"expired"}"#,
        ]
    );
    assert!(h.engine.store().get("app", "kept").is_some());
    assert_eq!(h.engine.next_deadline(), None);
}

#[test]
fn ephemeral_keys_vanish_with_their_owner() {
    let mut h = h();
    h.send(2, r#"{"type":"subscribe","id":"app","prefix":"who/"}"#);
    h.send(
        1,
        r#"{"type":"set","id":"app","key":"who/1","value":true,"ephemeral":true}"#,
    );
    h.send(
        1,
        r#"{"type":"set","id":"app","key":"who/x","value":true,"ephemeral":true}"#,
    );
    // Another connection takes ownership of who/x: it survives 1's close.
    h.send(
        3,
        r#"{"type":"set","id":"app","key":"who/x","value":3,"ephemeral":true}"#,
    );
    h.inbox.take(2);
    h.engine.close(ConnId::from(1), &mut h.inbox);
    assert_eq!(
        h.inbox.take(2),
        [r#"{"type":"deleted","id":"app","key":"who/1","rev":4,"reason":"disconnected"}"#]
    );
    assert!(h.engine.store().get("app", "who/x").is_some());
    // A plain set makes the key ordinary again.
    h.send(2, r#"{"type":"set","id":"app","key":"who/x","value":4}"#);
    h.engine.close(ConnId::from(3), &mut h.inbox);
    assert!(h.engine.store().get("app", "who/x").is_some());
}

#[test]
fn closing_drops_every_subscription() {
    let mut h = h();
    h.send(1, r#"{"type":"subscribe","id":"app","key":"k"}"#);
    h.send(1, r#"{"type":"subscribe","id":"app","prefix":"k"}"#);
    assert_eq!(h.engine.subscription_count(), 2);
    h.engine.close(ConnId::from(1), &mut h.inbox);
    assert_eq!(h.engine.subscription_count(), 0);
}

#[test]
fn list_pages_and_clamps_its_limit() {
    let mut h = h();
    for k in ["a", "b", "c"] {
        h.send(
            1,
            &format!(r#"{{"type":"set","id":"app","key":"{k}","value":0}}"#),
        );
    }
    assert_eq!(
        h.send(1, r#"{"type":"list","id":"app","limit":2,"req":1}"#),
        [r#"{"type":"keys","id":"app","prefix":"","keys":["a","b"],"more":true,"req":1}"#]
    );
    assert_eq!(
        h.send(1, r#"{"type":"list","id":"app","after":"b","limit":5000}"#),
        [r#"{"type":"keys","id":"app","prefix":"","keys":["c"],"more":false}"#]
    );
}

#[test]
fn unsubscribe_replies_only_when_asked() {
    let mut h = h();
    h.send(1, r#"{"type":"subscribe","id":"app","key":"k"}"#);
    assert!(
        h.send(1, r#"{"type":"unsubscribe","id":"app","key":"k"}"#)
            .is_empty()
    );
    assert_eq!(
        h.send(
            1,
            r#"{"type":"unsubscribe","id":"app","prefix":"p","req":"x"}"#
        ),
        [r#"{"type":"unsubscribed","id":"app","prefix":"p","req":"x"}"#]
    );
}

#[test]
fn limits_on_values_and_memory() {
    let mut h = Harness::new(Config::default().max_value_size(3).max_memory(800));
    let got = h.send(1, r#"{"type":"set","id":"a","key":"k","value":"abc"}"#);
    assert!(got[0].contains(r#""code":"too_large""#), "{got:?}");
    h.send(1, r#"{"type":"set","id":"a","key":"k","value":123}"#);
    // One key with its namespace and tables: most of the 800 bytes.
    assert!(h.engine.memory() > 600, "{}", h.engine.memory());
    let got = h.send(1, r#"{"type":"set","id":"a","key":"k2","value":123}"#);
    assert!(got[0].contains(r#""code":"store_full""#), "{got:?}");
    // Overwriting with something no larger is still allowed when full.
    assert!(h.send(1, r#"{"type":"set","id":"a","key":"k","value":1}"#)[0].contains("value"));
    // Subscriptions take memory too.
    let got = h.send(1, r#"{"type":"subscribe","id":"a","key":"k"}"#);
    assert!(got[0].contains(r#""code":"store_full""#), "{got:?}");
}

#[test]
fn limits_on_subscriptions() {
    let mut h = Harness::new(Config::default().max_subscriptions(1));
    h.send(1, r#"{"type":"subscribe","id":"a","key":"k"}"#);
    let got = h.send(1, r#"{"type":"subscribe","id":"a","key":"j"}"#);
    assert!(
        got[0].contains(r#""code":"too_many_subscriptions""#),
        "{got:?}"
    );
    // Re-subscribing to what it has is not a new subscription.
    assert!(h.send(1, r#"{"type":"subscribe","id":"a","key":"k"}"#)[0].contains("value"));
    // What subscriptions cost is counted, and given back when they end.
    let with = h.engine.memory();
    h.engine.close(ConnId::from(1), &mut h.inbox);
    assert!(h.engine.memory() < with);
    assert_eq!(h.engine.memory(), 0);
}
