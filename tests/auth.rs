//! Authentication and roles: tokens, guests and managers, read-only access,
//! expiry and refresh, upgrade, and repeated failures.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, TestServer};
use kvws::Config;
use kvws::auth::{Access, Claims, Role, Secret, mint};

const SECRET: &[u8] = b"correct horse battery staple, 32+ bytes";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(role: Role, ids: &[&str], access: Access, exp: u64) -> String {
    let claims = Claims {
        role,
        ids: ids.iter().map(|s| s.to_string()).collect(),
        access,
        exp,
        nbf: None,
    };
    mint(SECRET, &claims)
}

fn guest(ids: &[&str], access: Access) -> String {
    token(Role::Guest, ids, access, now() + 3600)
}

fn manager() -> String {
    token(Role::Manager, &[], Access::ReadWrite, now() + 3600)
}

fn server() -> TestServer {
    TestServer::with(Config::default().secret(Some(Secret::new(SECRET).unwrap())))
}

fn auth(c: &mut Client, token: &str) -> String {
    c.send(&format!(r#"{{"type":"auth","token":"{token}"}}"#));
    c.recv()
}

#[test]
fn nothing_but_auth_works_before_authenticating() {
    let server = server();
    let mut c = server.client();
    let unauth = r#"{"type":"error","code":"unauthenticated","message":"authenticate first with {\"type\":\"auth\",\"token\":...}"}"#;
    for msg in [
        r#"{"type":"get","id":"a","key":"k"}"#,
        r#"{"type":"set","id":"a","key":"k","value":1}"#,
        r#"{"type":"subscribe","id":"a","prefix":""}"#,
        r#"{"type":"list","id":"a"}"#,
        r#"{"type":"custom"}"#,
    ] {
        c.call(msg, &[unauth]);
    }
}

#[test]
fn a_guest_reaches_only_its_ids_and_cannot_tell_what_else_exists() {
    let server = server();
    let mut admin = server.client();
    let exp = now() + 3600;
    admin.send(&format!(
        r#"{{"type":"auth","token":"{}","req":1}}"#,
        token(Role::Manager, &[], Access::ReadWrite, exp)
    ));
    admin.expect(&format!(r#"{{"type":"authenticated","role":"manager","ids":["*"],"access":"readwrite","expires":{exp},"req":1}}"#));
    admin.call(
        r#"{"type":"set","id":"secret","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"secret","key":"k","value":1,"rev":1}"#],
    );

    let mut g = server.client();
    assert_eq!(
        auth(
            &mut g,
            &token(Role::Guest, &["mine"], Access::ReadWrite, exp)
        ),
        format!(
            r#"{{"type":"authenticated","role":"guest","ids":["mine"],"access":"readwrite","expires":{exp}}}"#
        )
    );
    g.call(
        r#"{"type":"set","id":"mine","key":"k","value":2}"#,
        &[r#"{"type":"value","id":"mine","key":"k","value":2,"rev":2}"#],
    );
    // An id that exists and one that does not get the very same answer.
    for id in ["secret", "nothing-here"] {
        g.call(
            &format!(r#"{{"type":"get","id":"{id}","key":"k"}}"#),
            &[&format!(r#"{{"type":"error","code":"forbidden","message":"your token does not allow reading '{id}'"}}"#)],
        );
        g.call(
            &format!(r#"{{"type":"set","id":"{id}","key":"k","value":0,"if_rev":0}}"#),
            &[&format!(r#"{{"type":"error","code":"forbidden","message":"your token does not allow changing '{id}'"}}"#)],
        );
    }
    // The manager reads everyone's data (the seed's manager role).
    admin.call(
        r#"{"type":"get","id":"mine","key":"k"}"#,
        &[r#"{"type":"value","id":"mine","key":"k","value":2,"rev":2}"#],
    );
}

#[test]
fn read_access_may_get_subscribe_and_list_but_not_write() {
    let server = server();
    let mut c = server.client();
    auth(&mut c, &guest(&["a"], Access::Read));
    c.call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    c.call(
        r#"{"type":"subscribe","id":"a","prefix":""}"#,
        &[r#"{"type":"subscribed","id":"a","prefix":"","rev":0}"#],
    );
    c.call(
        r#"{"type":"list","id":"a"}"#,
        &[r#"{"type":"keys","id":"a","prefix":"","keys":[],"more":false}"#],
    );
    for msg in [
        r#"{"type":"set","id":"a","key":"k","value":1}"#,
        r#"{"type":"delete","id":"a","key":"k"}"#,
    ] {
        c.call(msg, &[r#"{"type":"error","code":"forbidden","message":"your token does not allow changing 'a'"}"#]);
    }
}

#[test]
fn several_guest_tokens_add_up() {
    let server = server();
    let mut c = server.client();
    auth(&mut c, &guest(&["a"], Access::ReadWrite));
    auth(&mut c, &guest(&["b", "c"], Access::Read));
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
    );
    c.call(
        r#"{"type":"get","id":"c","key":"k"}"#,
        &[r#"{"type":"value","id":"c","key":"k","value":null,"rev":0}"#],
    );
    c.call(r#"{"type":"get","id":"d","key":"k"}"#, &[r#"{"type":"error","code":"forbidden","message":"your token does not allow reading 'd'"}"#]);
}

#[test]
fn bad_and_expired_tokens_are_refused_and_five_failures_close_the_connection() {
    let server = server();
    let mut c = server.client();
    let expired = token(Role::Guest, &["a"], Access::ReadWrite, now() - 1);
    assert_eq!(
        auth(&mut c, &expired),
        r#"{"type":"error","code":"token_expired","message":"the token has expired"}"#
    );
    let forged = mint(
        b"not the server's secret but long enough",
        &Claims {
            role: Role::Manager,
            ids: vec![],
            access: Access::ReadWrite,
            exp: now() + 60,
            nbf: None,
        },
    );
    assert_eq!(
        auth(&mut c, &forged),
        r#"{"type":"error","code":"invalid_token","message":"invalid token: bad signature"}"#
    );
    assert_eq!(
        auth(&mut c, "not.a.token"),
        r#"{"type":"error","code":"invalid_token","message":"invalid token: bad signature encoding"}"#
    );
    c.call(
        r#"{"type":"upgrade","token":"x"}"#,
        &[r#"{"type":"error","code":"invalid_token","message":"invalid token: not a JWT (expected three dot-separated parts)"}"#],
    );
    c.send(r#"{"type":"auth","token":"x"}"#);
    c.recv();
    assert_eq!(c.expect_close(), Some(1008));
}

#[test]
fn upgrade_raises_a_guest_only_with_a_manager_token() {
    let server = server();
    let mut c = server.client();
    auth(&mut c, &guest(&["a"], Access::ReadWrite));
    c.call(
        &format!(
            r#"{{"type":"upgrade","token":"{}"}}"#,
            guest(&["b"], Access::ReadWrite)
        ),
        &[r#"{"type":"error","code":"forbidden","message":"upgrade needs a manager token"}"#],
    );
    c.call(r#"{"type":"get","id":"b","key":"k"}"#, &[r#"{"type":"error","code":"forbidden","message":"your token does not allow reading 'b'"}"#]);
    c.send(&format!(r#"{{"type":"upgrade","token":"{}"}}"#, manager()));
    assert!(c.recv().starts_with(
        r#"{"type":"authenticated","role":"manager","ids":["*"],"access":"readwrite","expires":"#
    ));
    c.call(
        r#"{"type":"get","id":"b","key":"k"}"#,
        &[r#"{"type":"value","id":"b","key":"k","value":null,"rev":0}"#],
    );
}

#[test]
fn an_expiring_token_drops_subscriptions_and_a_refresh_keeps_them() {
    let server = server();
    let mut writer = server.client();
    auth(&mut writer, &manager());
    // Expires in two to three seconds: time enough to set up on a slow
    // machine, short enough for a quick test.
    let soon = now() + 3;
    let mut lapsing = server.client();
    auth(
        &mut lapsing,
        &token(Role::Guest, &["a"], Access::Read, soon),
    );
    lapsing.call(
        r#"{"type":"subscribe","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    let mut refreshed = server.client();
    auth(
        &mut refreshed,
        &token(Role::Guest, &["a"], Access::Read, soon),
    );
    refreshed.call(
        r#"{"type":"subscribe","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    auth(&mut refreshed, &guest(&["a"], Access::Read));
    server.wait_for("two subscriptions", |s| s.subscriptions == 2);

    // The lapsing client is told, and loses its subscription.
    lapsing.expect(r#"{"type":"error","code":"token_expired","message":"your token expired; 1 subscriptions were dropped; send a fresh token with auth","ids":["a"]}"#);
    assert!(now() >= soon);
    server.wait_for("one subscription", |s| s.subscriptions == 1);
    lapsing.call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        &[r#"{"type":"error","code":"token_expired","message":"the token granting 'a' has expired; send a fresh one with auth"}"#],
    );
    writer.call(
        r#"{"type":"set","id":"a","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
    );
    refreshed.expect(r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#);
    // Nothing was delivered to the lapsed subscription: the next message is
    // the answer to this request.
    lapsing.call(
        r#"{"type":"get","id":"a","key":"k","req":"m"}"#,
        &[r#"{"type":"error","code":"token_expired","message":"the token granting 'a' has expired; send a fresh one with auth","req":"m"}"#],
    );

    // Re-authenticating and resubscribing with since misses nothing.
    auth(&mut lapsing, &guest(&["a"], Access::Read));
    lapsing.call(
        r#"{"type":"subscribe","id":"a","key":"k","since":0}"#,
        &[
            r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#,
            r#"{"type":"subscribed","id":"a","key":"k","rev":1}"#,
        ],
    );
}

#[test]
fn token_leeway_tolerates_a_slow_clock() {
    let server = TestServer::with(
        Config::default()
            .secret(Some(Secret::new(SECRET).unwrap()))
            .token_leeway(Duration::from_secs(30)),
    );
    let mut c = server.client();
    let recent = token(Role::Guest, &["a"], Access::Read, now() - 5);
    assert!(auth(&mut c, &recent).starts_with(r#"{"type":"authenticated""#));
    let old = token(Role::Guest, &["a"], Access::Read, now() - 60);
    assert!(auth(&mut c, &old).contains("token_expired"));
}

#[test]
fn without_a_secret_auth_is_not_enabled() {
    let server = TestServer::start();
    server.client().call(
        &format!(r#"{{"type":"auth","token":"{}"}}"#, manager()),
        &[r#"{"type":"error","code":"bad_request","message":"authentication is not enabled on this server"}"#],
    );
}
