//! The reconnecting `Subscriber` of the client library: after a dropped
//! connection (a TCP proxy in front of the server drops it on demand) it
//! resumes with exactly the changes it missed, or reports a resync, and it
//! presents its `auth` and `upgrade` tokens again, against a scripted peer
//! and against a real server that requires tokens.

mod common;

use std::time::{Duration, Instant};

use common::peer::auth_peer;
use common::proxy::Proxy;
use common::{PATIENCE, TestServer};
use kvws::Config;
use kvws::auth::{Access, Claims, Role, Secret, mint};
use kvws::client::{Client, ConnectOptions, Error, Notice, SetOptions, Subscriber, Topic};

fn connect(server: &TestServer) -> Client {
    Client::connect_with(&server.url(), &ConnectOptions::timeout(PATIENCE)).expect("connect")
}

/// The server's error code of a failed call.
fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> Option<String> {
    r.unwrap_err().code().map(str::to_string)
}

fn subscriber(url: &str) -> Subscriber {
    Subscriber::connect(url, ConnectOptions::timeout(PATIENCE))
        .unwrap()
        .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
}

/// Notices, shortened for assertions, until `resumed` subscriptions are back.
fn until_resumed(sub: &mut Subscriber, resumed: usize) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|s: &&String| s.starts_with("resumed"))
        .count()
        < resumed
    {
        assert!(Instant::now() < deadline, "still waiting, after {seen:?}");
        match sub.next(Some(Duration::from_millis(100))).unwrap() {
            Some(Notice::Event(e)) => seen.push(e.text),
            Some(Notice::Lost(_)) => seen.push("lost".into()),
            Some(Notice::RetryFailed { .. }) | None => {}
            Some(Notice::Reconnected) => seen.push("reconnected".into()),
            Some(Notice::Resumed { since, reply, .. }) => {
                seen.push(format!("resumed since {since}: {}", reply.text))
            }
            Some(other) => panic!("{other:?}"),
        }
    }
    seen
}

fn event(sub: &mut Subscriber) -> String {
    match sub.next(Some(PATIENCE)).unwrap() {
        Some(Notice::Event(e)) => e.text,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[test]
fn a_subscriber_resumes_with_exactly_the_changes_it_missed() {
    let server = TestServer::start();
    let proxy = Proxy::start(server.addr);
    let mut writer = connect(&server);
    let mut sub = subscriber(&proxy.url());
    let k = sub.subscribe("a", Topic::key("k"), None).unwrap();
    assert_eq!(
        k.text,
        r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":1}"#
    );
    sub.subscribe("a", Topic::prefix("p/"), None).unwrap();
    writer.set("a", "k", "1", &SetOptions::new()).unwrap();
    assert_eq!(
        event(&mut sub),
        r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#
    );

    proxy.cut(false);
    assert!(matches!(
        sub.next(Some(PATIENCE)).unwrap(),
        Some(Notice::Lost(_))
    ));
    writer.set("a", "k", "2", &SetOptions::new()).unwrap();
    writer
        .set("a", "p/x", r#""x""#, &SetOptions::new())
        .unwrap();
    writer.delete("a", "k", None).unwrap();
    writer
        .set("a", "elsewhere", "9", &SetOptions::new())
        .unwrap();
    // A few attempts fail while the proxy refuses.
    for _ in 0..3 {
        match sub.next(Some(PATIENCE)).unwrap() {
            Some(Notice::RetryFailed { error, .. }) => assert!(error.is_connection()),
            other => panic!("expected a failed attempt, got {other:?}"),
        }
    }
    proxy.reopen(server.addr);
    assert_eq!(
        until_resumed(&mut sub, 2),
        [
            "reconnected",
            r#"{"type":"value","id":"a","key":"k","value":2,"rev":2}"#,
            r#"{"type":"deleted","id":"a","key":"k","rev":4}"#,
            r#"resumed since 1: {"type":"subscribed","id":"a","key":"k","rev":5,"req":1}"#,
            r#"{"type":"value","id":"a","key":"p/x","value":"x","rev":3}"#,
            r#"resumed since 0: {"type":"subscribed","id":"a","prefix":"p/","rev":5,"req":2}"#,
        ]
    );
    let revs: Vec<u64> = sub.subscriptions().iter().map(|s| s.last_rev).collect();
    assert_eq!(revs, [5, 5]);
    writer.set("a", "p/y", "6", &SetOptions::new()).unwrap();
    assert_eq!(
        event(&mut sub),
        r#"{"type":"value","id":"a","key":"p/y","value":6,"rev":6}"#
    );
    assert_eq!(sub.subscriptions()[1].last_rev, 6);
}

#[test]
fn a_subscriber_reports_a_resync_when_the_server_cannot_replay() {
    let first = TestServer::start();
    let proxy = Proxy::start(first.addr);
    let mut sub = subscriber(&proxy.url());
    sub.subscribe("a", Topic::key("k"), None).unwrap();
    sub.subscribe("a", Topic::prefix("p/"), None).unwrap();
    let mut writer = connect(&first);
    for (key, n) in [("p/a", 1), ("p/a", 2), ("k", 3)] {
        writer
            .set("a", key, &n.to_string(), &SetOptions::new())
            .unwrap();
        event(&mut sub);
    }
    // A new, empty server (its revisions start again from 0).
    let second = TestServer::start();
    connect(&second)
        .set("a", "p/z", r#""fresh""#, &SetOptions::new())
        .unwrap();
    proxy.cut(false);
    proxy.reopen(second.addr);
    let seen = until_resumed(&mut sub, 2);
    assert_eq!(
        seen,
        [
            "lost",
            "reconnected",
            r#"resumed since 3: {"type":"value","id":"a","key":"k","value":null,"rev":0,"resync":true,"req":1}"#,
            r#"{"type":"value","id":"a","key":"p/z","value":"fresh","rev":1}"#,
            r#"resumed since 2: {"type":"subscribed","id":"a","prefix":"p/","rev":1,"resync":true,"req":2}"#,
        ]
    );
    let revs: Vec<u64> = sub.subscriptions().iter().map(|s| s.last_rev).collect();
    assert_eq!(revs, [0, 1]);
    drop(sub); // before the servers, which wait for their clients to close
}

#[test]
fn auth_and_upgrade_are_presented_again_after_a_reconnect() {
    let (url, seen) = auth_peer();
    let mut sub = subscriber(&url);
    let e = sub.auth("forged").unwrap_err();
    assert_eq!(e.code(), Some("invalid_token"));
    let user = sub.auth("user").unwrap();
    assert_eq!(
        (user.role.as_str(), &user.ids),
        ("user", &vec!["a".into(), "b".into()])
    );
    assert_eq!(user.access.as_deref(), Some(r#"{"a":"rw"}"#));
    assert_eq!(user.expires, Some(1_700_000_000));
    assert_eq!(sub.upgrade("manager").unwrap().role, "manager");
    sub.subscribe("a", Topic::key("k"), None).unwrap();
    let mut notices = Vec::new();
    while notices.len() < 3 {
        match sub.next(Some(PATIENCE)).unwrap() {
            Some(Notice::RetryFailed { .. }) => {}
            Some(n) => notices.push(format!("{n:?}")),
            None => panic!("nothing after {notices:?}"),
        }
    }
    assert!(notices[0].starts_with("Lost"), "{notices:?}");
    assert!(notices[1].starts_with("Reconnected"), "{notices:?}");
    assert!(notices[2].starts_with("Resumed"), "{notices:?}");
    let second: Vec<String> = seen
        .try_iter()
        .filter(|(n, _)| *n == 1)
        .map(|(_, text)| text)
        .collect();
    assert_eq!(
        second,
        [
            r#"{"type":"auth","token":"user","req":1}"#,
            r#"{"type":"upgrade","token":"manager","req":2}"#,
            r#"{"type":"subscribe","id":"a","key":"k","since":0,"req":3}"#,
        ]
    );
}

const SECRET: &[u8] = b"a secret for the client tests, 32+ bytes";

/// A token signed with [`SECRET`], valid for an hour.
fn token(role: Role, ids: &[&str], access: Access) -> (String, u64) {
    let now = std::time::SystemTime::now();
    let exp = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let ids = ids.iter().map(|s| s.to_string()).collect();
    let claims = Claims {
        role,
        ids,
        access,
        exp,
        nbf: None,
    };
    (mint(SECRET, &claims), exp)
}

#[test]
fn tokens_on_a_real_server_and_a_subscriber_that_authenticates_again() {
    let config = Config::default().secret(Some(Secret::new(SECRET).unwrap()));
    let server = TestServer::with(config);
    let mut c = connect(&server);
    assert_eq!(code(c.get("a", "k")).as_deref(), Some("unauthenticated"));
    assert_eq!(
        code(c.auth("not.a.token")).as_deref(),
        Some("invalid_token")
    );
    let (reader, exp) = token(Role::Guest, &["a"], Access::Read);
    let guest = c.auth(&reader).unwrap();
    assert_eq!(
        (guest.role.as_str(), &guest.ids, guest.access.as_deref()),
        ("guest", &vec!["a".to_string()], Some("read"))
    );
    assert_eq!(guest.expires, Some(exp));
    assert_eq!(
        code(c.set("a", "k", "1", &SetOptions::new())).as_deref(),
        Some("forbidden")
    );
    let (manager, _) = token(Role::Manager, &[], Access::ReadWrite);
    let up = c.upgrade(&manager).unwrap();
    assert_eq!(
        (up.role.as_str(), &up.ids[..]),
        ("manager", &["*".to_string()][..])
    );
    assert_eq!(c.set("a", "k", "1", &SetOptions::new()).unwrap().rev, 1);

    let proxy = Proxy::start(server.addr);
    let mut sub = subscriber(&proxy.url());
    sub.auth(&reader).unwrap();
    sub.subscribe("a", Topic::key("k"), None).unwrap();
    proxy.cut(false);
    assert!(matches!(
        sub.next(Some(PATIENCE)).unwrap(),
        Some(Notice::Lost(_))
    ));
    c.set("a", "k", "2", &SetOptions::new()).unwrap();
    proxy.reopen(server.addr);
    assert_eq!(
        until_resumed(&mut sub, 1),
        [
            "reconnected",
            r#"{"type":"value","id":"a","key":"k","value":2,"rev":2}"#,
            r#"resumed since 1: {"type":"subscribed","id":"a","key":"k","rev":2,"req":2}"#,
        ]
    );
    drop(sub);
}
