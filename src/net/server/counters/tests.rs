//! Tests of the counters: what each message and close is counted as, and
//! what the page shows of it.

use super::*;
use crate::metrics::Exposition;
use crate::protocol::frame;
use tungstenite::protocol::frame::coding::CloseCode;

#[test]
fn messages_are_counted_by_type_and_errors_by_code() {
    let mut c = Counters::default();
    c.sent(br#"{"type":"value","id":"a","key":"k","value":1,"rev":2}"#);
    c.sent(br#"{"type":"error","code":"store_full","message":"x"}"#);
    c.sent(br#"{"type":"error","code":"made_up","message":"x"}"#);
    c.sent(br#"{"type":"valuesque"}"#);
    c.sent(br#"  {"type":"value"}"#);
    let mut framed = Vec::new();
    frame::text_frame_into(
        &mut framed,
        br#"{"type":"deleted","id":"a","key":"k","rev":3}"#,
    );
    c.sent_frame(&framed);
    let mut big = Vec::new();
    let long = format!(r#"{{"type":"keys","pad":"{}"}}"#, "x".repeat(70_000));
    frame::text_frame_into(&mut big, long.as_bytes());
    c.sent_frame(&big);
    c.sent_frame(&[0x81]);
    assert_eq!(c.sent, [1, 1, 0, 0, 1, 0, 2, 3]);
    assert_eq!(c.errors[9], 1); // store_full
    assert_eq!(c.errors[12], 1); // not a code kvws sends
}

#[test]
fn closes_are_told_apart_by_reason() {
    let mut c = Counters::default();
    c.closed(
        &Ending::Close(CloseCode::Policy, "output buffer limit"),
        None,
    );
    c.closed(
        &Ending::Close(CloseCode::Policy, "too many failed authentication attempts"),
        None,
    );
    c.closed(&Ending::Fail(CloseCode::Size, "message too large"), None);
    c.closed(
        &Ending::Close(CloseCode::Policy, "a hook's own reason"),
        None,
    );
    c.closed(&Ending::Close(CloseCode::from(4000), "custom"), None);
    c.closed(&Ending::Reply, Some(1000));
    c.closed(&Ending::Reply, None);
    c.closed(&Ending::Drop, None);
    assert_eq!(c.server_closes, [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!((c.client_closes[0], c.client_closes[17]), (1, 1));
    assert_eq!((c.embedder_closes[8], c.embedder_closes[16]), (1, 1));
    let mut page = Exposition::new();
    c.write(&mut page);
    let page = page.finish();
    assert!(page.contains("kvws_ws_closes_total{reason=\"slow_consumer\",code=\"1008\"} 1\n"));
    assert!(page.contains("kvws_ws_closes_total{reason=\"client\",code=\"1005\"} 1\n"));
    assert!(page.contains("kvws_ws_closes_total{reason=\"embedder\",code=\"other\"} 1\n"));
}
