//! The client library (`kvws::client`) against a real server on loopback:
//! every typed request, errors with their codes, replies matched by `req`
//! while notifications interleave, prefix snapshots, and `list` paging.

mod common;

use std::thread;
use std::time::Duration;

use common::{PATIENCE, TestServer};
use kvws::Config;
use kvws::client::{Client, ConnectOptions, Error, ListOptions, SetOptions};
use kvws::client::{Event, Topic};

fn connect(server: &TestServer) -> Client {
    Client::connect_with(&server.url(), &ConnectOptions::timeout(PATIENCE)).expect("connect")
}

fn next(c: &mut Client) -> Event {
    c.next_event(Some(PATIENCE)).unwrap().expect("an event")
}

/// Asserts that no event is waiting: a `get` is answered first.
fn nothing_queued(c: &mut Client) {
    c.get("__marker", "m").unwrap();
    assert_eq!(c.next_event(Some(Duration::ZERO)).unwrap(), None);
}

#[test]
fn get_set_delete_keep_values_exact() {
    let server = TestServer::start();
    let mut c = connect(&server);
    let missing = c.get("a", "k").unwrap();
    assert_eq!((missing.value.as_str(), missing.rev), ("null", 0));
    assert!(!missing.exists());
    let value = r#"{"big":12345678901234567890123,"f":1.50,"e":"\u00e9"}"#;
    let set = c.set("a", "k", value, &SetOptions::new()).unwrap();
    assert_eq!((set.value.as_str(), set.rev), (value, 1));
    assert_eq!(
        set.text,
        format!(r#"{{"type":"value","id":"a","key":"k","value":{value},"rev":1,"req":2}}"#)
    );
    assert_eq!(c.get("a", "k").unwrap().value, value);
    // A stored null exists; a typed Rust value goes through serde.
    assert!(
        c.set("a", "n", "null", &SetOptions::new())
            .unwrap()
            .exists()
    );
    let list = c
        .set_value("a", "v", &vec![1, 2, 3], &SetOptions::new())
        .unwrap();
    assert_eq!(list.value, "[1,2,3]");
    assert_eq!(
        c.get("a", "v").unwrap().decode::<Vec<u8>>().unwrap(),
        [1, 2, 3]
    );
    let gone = c.delete("a", "k", None).unwrap();
    assert_eq!(
        (gone.id.as_str(), gone.key.as_str(), gone.rev),
        ("a", "k", 4)
    );
    assert_eq!(c.delete("a", "k", None).unwrap().rev, 0);
    // A value that is not JSON is refused before it is sent.
    let e = c.set("a", "k", "{nope", &SetOptions::new()).unwrap_err();
    assert!(matches!(e, Error::BadInput(_)), "{e}");
    assert_eq!(c.get("a", "k").unwrap().rev, 0);
}

#[test]
fn compare_and_set_ttl_and_ephemeral_keys() {
    let server = TestServer::start();
    let mut c = connect(&server);
    let created = c.set("a", "k", "1", &SetOptions::new().if_rev(0)).unwrap();
    assert_eq!(created.rev, 1);
    match c.set("a", "k", "2", &SetOptions::new().if_rev(0)) {
        Err(Error::Server {
            code, rev, text, ..
        }) => {
            assert_eq!((code.as_str(), rev), ("conflict", Some(1)));
            assert!(text.contains(r#""req":2"#), "{text}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        c.delete("a", "k", Some(7)).unwrap_err().code(),
        Some("conflict")
    );
    assert_eq!(
        c.set("a", "k", "3", &SetOptions::new().if_rev(1))
            .unwrap()
            .rev,
        2
    );

    let mut watcher = connect(&server);
    watcher.subscribe("a", &Topic::prefix("t/"), None).unwrap();
    let ttl = SetOptions::new().ttl(Duration::from_millis(50));
    c.set("a", "t/ttl", r#""soon gone""#, &ttl).unwrap();
    assert_eq!(next(&mut watcher).rev, Some(3));
    let expired = next(&mut watcher);
    assert_eq!(
        (
            expired.kind.as_str(),
            expired.reason.as_deref(),
            expired.rev
        ),
        ("deleted", Some("expired"), Some(4))
    );

    let mut owner = connect(&server);
    let eph = SetOptions::new().ephemeral(true);
    owner.set("a", "t/here", "true", &eph).unwrap();
    assert_eq!(next(&mut watcher).key.as_deref(), Some("t/here"));
    owner.close().unwrap();
    let left = next(&mut watcher);
    assert_eq!(
        left.text,
        r#"{"type":"deleted","id":"a","key":"t/here","rev":6,"reason":"disconnected"}"#
    );
}

/// The server's error code of a failed call.
fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> Option<String> {
    r.unwrap_err().code().map(str::to_string)
}

#[test]
fn server_errors_carry_their_codes_and_the_connection_stays_usable() {
    let config = Config::default()
        .max_value_size(16)
        .max_prefix_snapshot(2)
        .max_subscriptions(1);
    let server = TestServer::with(config);
    let mut c = connect(&server);
    let big = format!("\"{}\"", "x".repeat(100));
    assert_eq!(
        code(c.set("a", "k", &big, &SetOptions::new())).as_deref(),
        Some("too_large")
    );
    assert_eq!(code(c.get("a", "")).as_deref(), Some("bad_request"));
    for k in ["p1", "p2", "p3"] {
        c.set("a", k, "0", &SetOptions::new()).unwrap();
    }
    let prefix = c.subscribe("a", &Topic::prefix("p"), None);
    assert_eq!(code(prefix).as_deref(), Some("too_many_keys"));
    c.subscribe("a", &Topic::key("p1"), None).unwrap();
    let second = c.subscribe("a", &Topic::key("p2"), None);
    assert_eq!(code(second).as_deref(), Some("too_many_subscriptions"));
    match c.request(r#"{"type":"frobnicate"}"#) {
        Err(e @ Error::Server { .. }) => {
            assert_eq!(e.code(), Some("bad_request"));
            assert!(e.to_string().starts_with("bad_request: "), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let bad = c.request("[1,2]").unwrap_err();
    assert!(matches!(bad, Error::BadInput(_)), "{bad}");
    assert_eq!(c.get("a", "p1").unwrap().value, "0");
}

#[test]
fn replies_are_matched_by_req_while_notifications_interleave() {
    let server = TestServer::start();
    let mut c = connect(&server);
    c.set("b", "probe", r#""here""#, &SetOptions::new())
        .unwrap();
    let sub = c.subscribe("a", &Topic::prefix(""), None).unwrap();
    assert_eq!(sub.rev, 1);
    let url = server.url();
    let writer = thread::spawn(move || {
        let mut w = Client::connect(&url).unwrap();
        for n in 0..200 {
            w.set(
                "a",
                &format!("k{}", n % 7),
                &n.to_string(),
                &SetOptions::new(),
            )
            .unwrap();
        }
    });
    for _ in 0..100 {
        let probe = c.get("b", "probe").unwrap();
        assert_eq!(
            (probe.key.as_str(), probe.value.as_str()),
            ("probe", r#""here""#)
        );
    }
    writer.join().unwrap();
    // Our own set: the reply first, its notification queued after.
    let own = c.set("a", "mine", "1", &SetOptions::new()).unwrap();
    assert_eq!(own.rev, 202);
    let mut revs = Vec::new();
    while revs.last() != Some(&202) {
        let e = next(&mut c);
        assert_eq!(
            (e.kind.as_str(), e.req.as_deref()),
            ("value", None),
            "{}",
            e.text
        );
        revs.push(e.rev.unwrap());
    }
    assert_eq!(revs, (2..=202).collect::<Vec<_>>());
    nothing_queued(&mut c);
}

#[test]
fn prefix_snapshots_arrive_as_events_before_the_reply_and_unsubscribe_stops_them() {
    let server = TestServer::start();
    let mut c = connect(&server);
    for k in ["room/b", "room/a", "other"] {
        c.set("a", k, &format!("\"{k}\""), &SetOptions::new())
            .unwrap();
    }
    let topic = Topic::prefix("room/");
    let reply = c.subscribe("a", &topic, None).unwrap();
    assert_eq!(
        reply.text,
        r#"{"type":"subscribed","id":"a","prefix":"room/","rev":3,"req":4}"#
    );
    assert_eq!(
        (reply.rev, reply.value.as_deref(), reply.resync),
        (3, None, false)
    );
    assert_eq!(next(&mut c).key.as_deref(), Some("room/a"));
    let b = next(&mut c);
    assert_eq!(
        (b.key.as_deref(), b.value.as_deref(), b.rev),
        (Some("room/b"), Some(r#""room/b""#), Some(1))
    );
    let key = c.subscribe("a", &Topic::key("other"), None).unwrap();
    assert_eq!((key.value.as_deref(), key.rev), (Some(r#""other""#), 3));
    let un = c.unsubscribe("a", &topic).unwrap();
    assert_eq!(
        un.text,
        r#"{"type":"unsubscribed","id":"a","prefix":"room/","req":6}"#
    );
    c.set("a", "room/c", "1", &SetOptions::new()).unwrap();
    nothing_queued(&mut c);
    // Resuming a key subscription: replayed changes, then `subscribed`.
    c.set("a", "other", "2", &SetOptions::new()).unwrap();
    c.unsubscribe("a", &Topic::key("other")).unwrap();
    c.set("a", "other", "3", &SetOptions::new()).unwrap();
    assert_eq!(next(&mut c).rev, Some(5));
    let back = c.subscribe("a", &Topic::key("other"), Some(5)).unwrap();
    assert_eq!((back.rev, back.resync), (6, false));
    assert_eq!(next(&mut c).rev, Some(6));
}

#[test]
fn list_pages_and_list_all() {
    let server = TestServer::start();
    let mut c = connect(&server);
    let mut want = Vec::new();
    for n in 0..2100 {
        let key = format!("k{n:04}");
        c.set("a", &key, "0", &SetOptions::new()).unwrap();
        want.push(key);
    }
    c.set("a", "z", "0", &SetOptions::new()).unwrap();
    let page = c
        .list("a", &ListOptions::prefix("k").after("k0007").limit(2))
        .unwrap();
    assert_eq!(
        (page.keys, page.more),
        (vec!["k0008".into(), "k0009".into()], true)
    );
    let mut pages = 0;
    let count = c.list_pages("a", "k", |_| pages += 1).unwrap();
    assert_eq!((count, pages), (2100, 3));
    assert_eq!(c.list_all("a", "k").unwrap(), want);
    assert_eq!(c.list_all("a", "").unwrap().len(), 2101);
    assert_eq!(c.list_all("nobody", "").unwrap(), Vec::<String>::new());
}
