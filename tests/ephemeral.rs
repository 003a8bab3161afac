//! Ephemeral keys: deleted when the connection that set them goes away.

mod common;

use common::TestServer;

#[test]
fn ephemeral_keys_vanish_when_their_owner_disconnects_abruptly() {
    let server = TestServer::start();
    let mut watcher = server.client();
    watcher.call(
        r#"{"type":"subscribe","id":"game","prefix":"who/"}"#,
        &[r#"{"type":"subscribed","id":"game","prefix":"who/","rev":0}"#],
    );
    let mut player = server.client();
    player.call(
        r#"{"type":"set","id":"game","key":"who/alice","value":{"x":1},"ephemeral":true}"#,
        &[r#"{"type":"value","id":"game","key":"who/alice","value":{"x":1},"rev":1}"#],
    );
    watcher.expect(r#"{"type":"value","id":"game","key":"who/alice","value":{"x":1},"rev":1}"#);
    drop(player); // no close handshake: the TCP connection just goes
    watcher.expect(
        r#"{"type":"deleted","id":"game","key":"who/alice","rev":2,"reason":"disconnected"}"#,
    );
    watcher.call(
        r#"{"type":"get","id":"game","key":"who/alice"}"#,
        &[r#"{"type":"value","id":"game","key":"who/alice","value":null,"rev":0}"#],
    );
}

#[test]
fn ownership_moves_and_a_plain_set_makes_the_key_permanent() {
    let server = TestServer::start();
    let mut watcher = server.client();
    watcher.call(
        r#"{"type":"subscribe","id":"g","prefix":""}"#,
        &[r#"{"type":"subscribed","id":"g","prefix":"","rev":0}"#],
    );
    let mut a = server.client();
    let mut b = server.client();
    a.send(r#"{"type":"set","id":"g","key":"moved","value":"a","ephemeral":true}"#);
    a.send(r#"{"type":"set","id":"g","key":"kept","value":"a","ephemeral":true}"#);
    a.recv();
    a.recv();
    b.send(r#"{"type":"set","id":"g","key":"moved","value":"b","ephemeral":true}"#);
    b.send(r#"{"type":"set","id":"g","key":"kept","value":"b"}"#);
    b.recv();
    b.recv();
    for _ in 0..4 {
        watcher.recv();
    }
    a.close();
    // a owns nothing any more: nothing is deleted.
    watcher.expect_nothing_before_marker();
    b.close();
    watcher.expect(r#"{"type":"deleted","id":"g","key":"moved","rev":5,"reason":"disconnected"}"#);
    watcher.call(
        r#"{"type":"get","id":"g","key":"kept"}"#,
        &[r#"{"type":"value","id":"g","key":"kept","value":"b","rev":4}"#],
    );
}
