//! `list`: paging through the keys of a namespace in byte order.

mod common;

use common::TestServer;

#[test]
fn pages_through_a_namespace_with_after_and_more() {
    let server = TestServer::start();
    let mut c = server.client();
    for i in 0..250 {
        c.send(&format!(
            r#"{{"type":"set","id":"a","key":"item/{i:03}","value":{i}}}"#
        ));
    }
    c.send(r#"{"type":"set","id":"a","key":"other","value":0}"#);
    for _ in 0..251 {
        c.recv();
    }
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let after_field = after
            .as_ref()
            .map(|a| format!(r#","after":"{a}""#))
            .unwrap_or_default();
        c.send(&format!(
            r#"{{"type":"list","id":"a","prefix":"item/"{after_field}}}"#
        ));
        let page: serde_json::Value = serde_json::from_str(&c.recv()).unwrap();
        let keys: Vec<String> = page["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().into())
            .collect();
        assert!(keys.len() <= 100);
        seen.extend(keys.iter().cloned());
        after = keys.last().cloned();
        if !page["more"].as_bool().unwrap() {
            break;
        }
    }
    let want: Vec<String> = (0..250).map(|i| format!("item/{i:03}")).collect();
    assert_eq!(seen, want);
}

#[test]
fn keys_come_in_byte_order_and_limit_is_capped() {
    let server = TestServer::start();
    let mut c = server.client();
    for k in ["b", "a", "B", "é", "z", "aa"] {
        c.send(&format!(
            r#"{{"type":"set","id":"x","key":"{k}","value":0}}"#
        ));
        c.recv();
    }
    c.call(
        r#"{"type":"list","id":"x","limit":5000}"#,
        &[r#"{"type":"keys","id":"x","prefix":"","keys":["B","a","aa","b","z","é"],"more":false}"#],
    );
    c.call(
        r#"{"type":"list","id":"x","after":"aa","limit":2,"req":3}"#,
        &[r#"{"type":"keys","id":"x","prefix":"","keys":["b","z"],"more":true,"req":3}"#],
    );
    c.call(
        r#"{"type":"list","id":"empty"}"#,
        &[r#"{"type":"keys","id":"empty","prefix":"","keys":[],"more":false}"#],
    );
}
