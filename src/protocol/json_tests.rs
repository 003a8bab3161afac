//! Tests of the JSON scanner.

use super::*;

fn valid(text: &str) -> bool {
    Json::parse(text).is_some()
}

#[test]
fn accepts_every_kind_of_value() {
    for text in [
        "null",
        "true",
        "false",
        "0",
        "-0",
        "12",
        "-1.5e+10",
        "1E3",
        "0.25",
        r#""""#,
        r#""a\"b\\c\/\b\f\n\r\t\u00e9\uD83D\uDE00 é""#,
        "[]",
        "{}",
        " [1, [2, {}], {\"a\": [null]}] ",
        r#"{"a":{"b":{"c":[1,2,{"d":"e"}]}}}"#,
    ] {
        assert!(valid(text), "{text}");
    }
}

#[test]
fn rejects_what_json_does_not_allow() {
    for text in [
        "",
        " ",
        "nul",
        "True",
        "01",
        "1.",
        ".5",
        "1e",
        "-",
        "+1",
        "NaN",
        "\"a",
        "\"\\x\"",
        "\"\\u12\"",
        "\"tab\tinside\"",
        "[1,]",
        "[,1]",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\":1,}",
        "[1 2]",
        "[}",
        "{]",
        "1 2",
        "[[]",
        "{\"a\":1}}",
    ] {
        assert!(!valid(text), "{text:?}");
    }
}

#[test]
fn special_bytes_are_found_wherever_they_are() {
    for len in 0..40 {
        for at in 0..len {
            for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                let mut s = vec![b'a'; len];
                s[at] = special;
                assert_eq!(find_special(&s, 0), at, "{len} {at} {special}");
            }
        }
        let plain: Vec<u8> = "é€😀 ~\x7f".bytes().cycle().take(len).collect();
        assert_eq!(find_special(&plain, 0), len);
    }
}

#[test]
fn deep_nesting_needs_no_recursion() {
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    assert!(valid(&deep));
    assert!(!valid(&deep[1..]));
}

#[test]
fn objects_yield_members_in_order() {
    let mut seen = Vec::new();
    let text = r#" { "type" : "set", "value": {"x": [1, "}"]}, "n":-1 } "#;
    assert!(
        object_members(text, |k, v| {
            seen.push((k, v.get()));
            true
        })
        .is_some()
    );
    assert_eq!(
        seen,
        [
            ("type", r#""set""#),
            ("value", r#"{"x": [1, "}"]}"#),
            ("n", "-1")
        ]
    );
    assert!(object_members("{}", |_, _| true).is_some());
    assert!(
        object_members(r#"{"a\u0041":1}"#, |_, _| true).is_none(),
        "escaped keys go slow"
    );
    assert!(object_members("[1]", |_, _| true).is_none());
    assert!(object_members(r#"{"a":1} x"#, |_, _| true).is_none());
}
