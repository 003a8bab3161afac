//! Every message of the R server's protocol, over a real socket, with the
//! exact replies kvws sends (the R shapes plus the optional `rev`).

mod common;

use common::TestServer;

#[test]
fn set_replies_with_the_value_and_get_reads_it_back() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"app1","key":"mykey","value":"myvalue"}"#,
        &[r#"{"type":"value","id":"app1","key":"mykey","value":"myvalue","rev":1}"#],
    );
    c.call(
        r#"{"type":"get","id":"app1","key":"mykey"}"#,
        &[r#"{"type":"value","id":"app1","key":"mykey","value":"myvalue","rev":1}"#],
    );
}

#[test]
fn values_of_every_json_type_round_trip_byte_for_byte() {
    let server = TestServer::start();
    let mut c = server.client();
    let values = [
        "null",
        "true",
        "0",
        "-1.50",
        "1e400",
        "123456789012345678901234567890",
        r#""unicode: é ✓ 😀 \u00e9 \n""#,
        "[]",
        r#"[1, "two", {"three": 3}]"#,
        r#"{"z": 1, "a": {"nested": [true, false]}, "m": null}"#,
    ];
    for (i, value) in values.iter().enumerate() {
        let rev = i + 1;
        c.call(
            &format!(r#"{{"type":"set","id":"t","key":"k{i}","value":{value}}}"#),
            &[&format!(
                r#"{{"type":"value","id":"t","key":"k{i}","value":{value},"rev":{rev}}}"#
            )],
        );
    }
    let mut other = server.client();
    for (i, value) in values.iter().enumerate() {
        let rev = i + 1;
        other.call(
            &format!(r#"{{"type":"get","id":"t","key":"k{i}"}}"#),
            &[&format!(
                r#"{{"type":"value","id":"t","key":"k{i}","value":{value},"rev":{rev}}}"#
            )],
        );
    }
}

#[test]
fn get_of_a_missing_key_is_null() {
    let server = TestServer::start();
    server.client().call(
        r#"{"type":"get","id":"app1","key":"nothing"}"#,
        &[r#"{"type":"value","id":"app1","key":"nothing","value":null,"rev":0}"#],
    );
}

#[test]
fn delete_replies_deleted_and_removes_the_value() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1}"#],
    );
    c.call(
        r#"{"type":"delete","id":"a","key":"k"}"#,
        &[r#"{"type":"deleted","id":"a","key":"k","rev":2}"#],
    );
    c.call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#],
    );
    // Deleting what is not there still answers, but is not a change.
    c.call(
        r#"{"type":"delete","id":"a","key":"k"}"#,
        &[r#"{"type":"deleted","id":"a","key":"k","rev":0}"#],
    );
}

#[test]
fn ids_are_separate_namespaces() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"one","key":"k","value":1}"#,
        &[r#"{"type":"value","id":"one","key":"k","value":1,"rev":1}"#],
    );
    c.call(
        r#"{"type":"set","id":"two","key":"k","value":2}"#,
        &[r#"{"type":"value","id":"two","key":"k","value":2,"rev":2}"#],
    );
    c.call(
        r#"{"type":"get","id":"one","key":"k"}"#,
        &[r#"{"type":"value","id":"one","key":"k","value":1,"rev":1}"#],
    );
    c.call(
        r#"{"type":"delete","id":"two","key":"k"}"#,
        &[r#"{"type":"deleted","id":"two","key":"k","rev":3}"#],
    );
    c.call(
        r#"{"type":"get","id":"one","key":"k"}"#,
        &[r#"{"type":"value","id":"one","key":"k","value":1,"rev":1}"#],
    );
}

#[test]
fn null_is_a_value_and_a_missing_value_is_an_error() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":null}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":1}"#],
    );
    c.call(
        r#"{"type":"set","id":"a","key":"k"}"#,
        &[r#"{"type":"error","code":"bad_request","message":"set requires a 'value' field (null is a value)"}"#],
    );
    // The stored null is still there: the bad request changed nothing.
    c.call(
        r#"{"type":"get","id":"a","key":"k"}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":null,"rev":1}"#],
    );
}

#[test]
fn escaped_names_are_echoed_as_valid_json() {
    let server = TestServer::start();
    let mut c = server.client();
    c.call(
        r#"{"type":"set","id":"a\"b","key":"tab\there","value":0}"#,
        &[r#"{"type":"value","id":"a\"b","key":"tab\there","value":0,"rev":1}"#],
    );
}
