//! Tests of the message parser.

use super::*;

const LIMITS: ParseLimits = ParseLimits { max_name_length: 8 };

fn err(text: &str) -> (ErrorCode, String, Option<String>) {
    let e = parse(text, LIMITS).expect_err(text);
    (e.code, e.message, e.req.map(|r| r.get().to_string()))
}

#[test]
fn every_field_name_maps_to_its_own_slot() {
    for (i, name) in FIELDS.iter().enumerate() {
        assert_eq!(field_index(name), Some(i), "{name}");
    }
    assert_eq!(field_index("types"), None);
}

#[test]
fn set_keeps_the_value_text_and_borrows_names() {
    let text = r#"{"value": {"a" : 1.0}, "key":"k", "id":"app", "type":"set", "extra":[1]}"#;
    let env = parse(text, LIMITS).unwrap();
    let Request::Set { id, key, value, .. } = env.request else {
        panic!()
    };
    assert!(matches!(id, Cow::Borrowed("app")));
    assert_eq!(key, "k");
    assert_eq!(value.get(), r#"{"a" : 1.0}"#);
}

#[test]
fn escaped_names_are_decoded() {
    let env = parse(r#"{"type":"get","id":"a\"b","key":"\u00e9"}"#, LIMITS).unwrap();
    let Request::Get { id, key } = env.request else {
        panic!()
    };
    assert_eq!((&*id, &*key), ("a\"b", "é"));
}

#[test]
fn null_is_a_value_but_a_missing_value_is_an_error() {
    let env = parse(r#"{"type":"set","id":"a","key":"k","value":null}"#, LIMITS).unwrap();
    assert!(matches!(env.request, Request::Set { value, .. } if value.get() == "null"));
    let (code, message, _) = err(r#"{"type":"set","id":"a","key":"k"}"#);
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(message.contains("'value'"), "{message}");
}

#[test]
fn errors_name_the_problem_and_keep_req() {
    let cases = [
        ("{", "invalid JSON"),
        ("[1,2]", "message must be a JSON object"),
        ("\"set\"", "message must be a JSON object"),
        (r#"{"id":"a"}"#, "missing 'type' field"),
        (r#"{"type":5}"#, "'type' must be a string"),
        (r#"{"type":"get","key":"k"}"#, "missing 'id' field"),
        (
            r#"{"type":"get","id":"","key":"k"}"#,
            "'id' must be a non-empty string",
        ),
        (
            r#"{"type":"get","id":7,"key":"k"}"#,
            "'id' must be a non-empty string",
        ),
        (
            r#"{"type":"get","id":"a","key":"k","id":"b"}"#,
            "duplicate field 'id'",
        ),
        (
            r#"{"type":"set","id":"a","key":"k","value":1,"if_rev":-1}"#,
            "'if_rev' must be",
        ),
        (
            r#"{"type":"set","id":"a","key":"k","value":1,"ttl_ms":0}"#,
            "'ttl_ms' must be at least 1",
        ),
        (
            r#"{"type":"set","id":"a","key":"k","value":1,"ephemeral":1}"#,
            "'ephemeral' must be",
        ),
        (
            r#"{"type":"subscribe","id":"a","key":"k","prefix":"p"}"#,
            "either 'key' or 'prefix'",
        ),
        (
            r#"{"type":"list","id":"a","limit":0}"#,
            "'limit' must be at least 1",
        ),
        (r#"{"type":"auth"}"#, "missing 'token' field"),
        (r#"{"type":"get","id":"a","key":"k"} x"#, "invalid JSON"),
    ];
    for (text, want) in cases {
        let (code, message, _) = err(text);
        assert_eq!(code, ErrorCode::BadRequest, "{text}");
        assert!(message.contains(want), "{text}: {message}");
    }
    let (_, _, req) = err(r#"{"type":"get","id":"","key":"k","req":"r1"}"#);
    assert_eq!(req.as_deref(), Some("\"r1\""));
    let (_, message, req) = err(r#"{"type":"get","id":"a","key":"k","req":{}}"#);
    assert!(message.contains("'req'") && req.is_none());
}

#[test]
fn names_over_the_limit_are_too_large() {
    let (code, message, _) = err(r#"{"type":"get","id":"123456789","key":"k"}"#);
    assert_eq!(code, ErrorCode::TooLarge);
    assert!(message.contains("longer than the limit of 8"), "{message}");
    assert!(parse(r#"{"type":"get","id":"12345678","key":"k"}"#, LIMITS).is_ok());
}

#[test]
fn unknown_types_are_passed_on_with_their_text() {
    let text = r#"{"type":"hello","x":1}"#;
    let env = parse(text, LIMITS).unwrap();
    assert!(
        matches!(env.request, Request::Other { kind, text: t } if kind == "hello" && t == text)
    );
}

#[test]
fn prefix_may_be_empty_but_key_may_not() {
    let env = parse(r#"{"type":"subscribe","id":"a","prefix":""}"#, LIMITS).unwrap();
    assert!(
        matches!(env.request, Request::Subscribe { topic: Topic::Prefix(p), .. } if p.is_empty())
    );
    let (_, message, _) = err(r#"{"type":"subscribe","id":"a","key":""}"#);
    assert!(message.contains("'key' must be a non-empty string"));
}
