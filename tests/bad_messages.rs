//! Every kind of bad message gets a clear `error` reply, the connection
//! stays usable, and nothing already stored is lost.

mod common;

use common::TestServer;

fn error(code: &str, message: &str) -> String {
    format!(r#"{{"type":"error","code":"{code}","message":"{message}"}}"#)
}

#[test]
fn each_bad_message_gets_an_error_and_the_connection_keeps_working() {
    let server = TestServer::with(kvws::Config::default().max_name_length(16));
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":"kept"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":"kept","rev":1}"#],
    );
    let cases = [
        (
            "not json",
            error(
                "bad_request",
                "invalid JSON: expected ident at line 1 column 2",
            ),
        ),
        (
            "",
            error(
                "bad_request",
                "invalid JSON: EOF while parsing a value at line 1 column 0",
            ),
        ),
        (
            "[1,2,3]",
            error("bad_request", "message must be a JSON object"),
        ),
        ("42", error("bad_request", "message must be a JSON object")),
        (
            r#"{"id":"a","key":"k"}"#,
            error("bad_request", "missing 'type' field"),
        ),
        (
            r#"{"type":null}"#,
            error("bad_request", "'type' must be a string"),
        ),
        (
            r#"{"type":"frobnicate","id":"a"}"#,
            error(
                "bad_request",
                "unknown message type 'frobnicate' (expected set, get, delete, subscribe, unsubscribe or list)",
            ),
        ),
        (
            r#"{"type":"get","key":"k"}"#,
            error("bad_request", "missing 'id' field"),
        ),
        (
            r#"{"type":"get","id":"a"}"#,
            error("bad_request", "missing 'key' field"),
        ),
        (
            r#"{"type":"set","id":"","key":"k","value":1}"#,
            error("bad_request", "'id' must be a non-empty string"),
        ),
        (
            r#"{"type":"delete","id":"a","key":""}"#,
            error("bad_request", "'key' must be a non-empty string"),
        ),
        (
            r#"{"type":"subscribe","id":["a"],"key":"k"}"#,
            error("bad_request", "'id' must be a non-empty string"),
        ),
        (
            r#"{"type":"unsubscribe","id":"a","key":7}"#,
            error("bad_request", "'key' must be a non-empty string"),
        ),
        (
            r#"{"type":"get","id":"a","key":"12345678901234567"}"#,
            error(
                "too_large",
                "'key' is 17 bytes, longer than the limit of 16",
            ),
        ),
        (
            r#"{"type":"get","id":"a","key":"k","req":[1]}"#,
            error("bad_request", "'req' must be a string or a number"),
        ),
        (
            r#"{"type":"get","id":"a","key":"k","key":"j"}"#,
            error("bad_request", "duplicate field 'key'"),
        ),
    ];
    for (msg, reply) in &cases {
        c.call(msg, &[reply]);
    }
    // An error carries the request's id when it could be read.
    c.call(
        r#"{"type":"get","id":"","key":"k","req":"r-1"}"#,
        &[r#"{"type":"error","code":"bad_request","message":"'id' must be a non-empty string","req":"r-1"}"#],
    );
    // Nothing stored was touched, and the connection still works.
    c.call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":"kept","rev":1}"#],
    );
}

#[test]
fn unknown_extra_fields_are_ignored() {
    let server = TestServer::start();
    server.client().call(
        r#"{"type":"set","id":"a","key":"k","value":1,"future":{"x":[1,2]},"v":2}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
    );
}

#[test]
fn deeply_nested_json_neither_crashes_nor_stalls_the_server() {
    let server = TestServer::start();
    let mut c = server.client();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // A deep value is valid JSON: it is stored verbatim, never parsed into a tree.
    c.send(&format!(
        r#"{{"type":"set","id":"a","key":"k","value":{deep}}}"#
    ));
    assert_eq!(
        c.recv(),
        format!(r#"{{"type":"value","id":"a","key":"k","value":{deep},"rev":1}}"#)
    );
    // Deep nesting anywhere else is skipped the same way, without recursion.
    c.send(&format!(
        r#"{{"type":"get","id":"a","key":"j","extra":{deep}}}"#
    ));
    c.expect(r#"{"type":"value","id":"a","key":"j","value":null,"rev":0}"#);
    // Unbalanced nesting is invalid JSON.
    c.send(&"[".repeat(100_000));
    assert!(
        c.recv()
            .starts_with(r#"{"type":"error","code":"bad_request","message":"invalid JSON"#)
    );
    c.expect_nothing_before_marker();
}
