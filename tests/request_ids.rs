//! `req`: every direct reply and error carries the request's id verbatim;
//! notifications never carry anybody's.

mod common;

use common::TestServer;

#[test]
fn every_reply_echoes_req_verbatim() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":1,"req":"s-1"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1,"req":"s-1"}"#],
    );
    c.call(
        r#"{"type":"get","id":"a","key":"k","req":1.50}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1,"req":1.50}"#],
    );
    c.call(
        r#"{"type":"subscribe","id":"a","key":"k","req":-7}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1,"req":-7}"#],
    );
    c.call(
        r#"{"type":"unsubscribe","id":"a","key":"k","req":"\u00e9"}"#,
        &[r#"{"type":"unsubscribed","id":"a","key":"k","req":"\u00e9"}"#],
    );
    c.call(r#"{"type":"list","id":"a","req":123456789012345678901234567890}"#, &[r#"{"type":"keys","id":"a","prefix":"","keys":["k"],"more":false,"req":123456789012345678901234567890}"#]);
    c.call(
        r#"{"type":"delete","id":"a","key":"k","req":0}"#,
        &[r#"{"type":"deleted","id":"a","key":"k","rev":2,"req":0}"#],
    );
    c.call(r#"{"type":"nope","req":"e"}"#, &[r#"{"type":"error","code":"bad_request","message":"unknown message type 'nope' (expected set, get, delete, subscribe, unsubscribe or list)","req":"e"}"#]);
}

#[test]
fn notifications_never_carry_another_clients_req() {
    let server = TestServer::start();
    let mut watcher = server.client();
    let mut writer = server.client();
    watcher.call(
        r#"{"type":"subscribe","id":"a","key":"k","req":"mine"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0,"req":"mine"}"#],
    );
    writer.call(
        r#"{"type":"set","id":"a","key":"k","value":2,"req":"theirs"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":2,"rev":1,"req":"theirs"}"#],
    );
    watcher.expect(r#"{"type":"value","id":"a","key":"k","value":2,"rev":1}"#);
    writer.call(
        r#"{"type":"delete","id":"a","key":"k","req":"theirs"}"#,
        &[r#"{"type":"deleted","id":"a","key":"k","rev":2,"req":"theirs"}"#],
    );
    watcher.expect(r#"{"type":"deleted","id":"a","key":"k","rev":2}"#);
}

#[test]
fn unsubscribe_without_req_stays_silent_as_in_the_r_protocol() {
    let server = TestServer::start();
    let mut c = server.client();
    c.send(r#"{"type":"unsubscribe","id":"a","key":"k"}"#);
    c.expect_nothing_before_marker();
}
