//! Property tests: whatever arrives from the network, the parser, the HTTP
//! head reader and the engine never panic, and every request is answered
//! (or, over a socket, the connection is closed cleanly).

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;

use kvws::engine::{Engine, Outbound};
use kvws::http;
use kvws::protocol::frame::FrameRef;
use kvws::protocol::{ParseLimits, parse};
use kvws::{Config, ConnId};
use proptest::prelude::*;

const LIMITS: ParseLimits = ParseLimits {
    max_name_length: 64,
};

/// Counts what each connection receives and whether it was told to close.
#[derive(Default)]
struct Tally {
    replies: HashMap<ConnId, usize>,
    closed: Vec<ConnId>,
}

impl Outbound for Tally {
    fn send(&mut self, to: ConnId, json: &[u8]) {
        // Everything the engine sends is one JSON object.
        let v: serde_json::Value = serde_json::from_slice(json).expect("replies are JSON");
        assert!(
            v.get("type").and_then(|t| t.as_str()).is_some(),
            "replies have a type"
        );
        *self.replies.entry(to).or_default() += 1;
    }
    fn send_frame(&mut self, to: ConnId, frame: FrameRef<'_>) {
        assert_eq!(frame.bytes[0], 0x81, "a final text frame");
        let _: serde_json::Value = serde_json::from_slice(frame.payload()).expect("JSON");
        *self.replies.entry(to).or_default() += 1;
    }
    fn close(&mut self, to: ConnId, _code: u16, _reason: &'static str) {
        self.closed.push(to);
    }
}

/// JSON values of every shape, nested a little.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::hash_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Messages that look like requests: known types and fields with values of
/// arbitrary type, so every validation path is reached.
fn request_like() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just("set"),
        Just("get"),
        Just("delete"),
        Just("subscribe"),
        Just("unsubscribe"),
        Just("list"),
        Just("auth"),
        Just("upgrade"),
        Just("other"),
    ];
    let field = prop_oneof![
        Just("id"),
        Just("key"),
        Just("value"),
        Just("req"),
        Just("prefix"),
        Just("since"),
        Just("if_rev"),
        Just("ttl_ms"),
        Just("ephemeral"),
        Just("after"),
        Just("limit"),
        Just("token"),
    ];
    let name = prop_oneof![
        Just(serde_json::json!("app")),
        Just(serde_json::json!("k")),
        json_value()
    ];
    (kind, prop::collection::vec((field, name), 0..6)).prop_map(|(kind, fields)| {
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), kind.into());
        for (f, v) in fields {
            obj.insert(f.into(), v);
        }
        serde_json::Value::Object(obj).to_string()
    })
}

fn any_message() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => request_like(),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => ".{0,80}",
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_and_errors_explain_themselves(text in any_message()) {
        if let Err(e) = parse(&text, LIMITS) {
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn http_head_reading_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(Some(req)) = http::parse_head(&bytes) {
            let _ = http::route(&req);
            let _ = kvws::http::origin_allowed(&req, &[]);
        }
    }

    #[test]
    fn http_heads_built_from_parts_never_panic(
        method in "[A-Z]{1,7}",
        path in "/[ -~]{0,20}",
        headers in prop::collection::vec(("[A-Za-z-]{1,20}", "[ -~]{0,40}"), 0..8),
    ) {
        let mut text = format!("{method} {path} HTTP/1.1\r\n");
        for (n, v) in &headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        text.push_str("\r\n");
        if let Ok(Some(req)) = http::parse_head(text.as_bytes()) {
            let _ = http::route(&req);
            let _ = kvws::http::origin_allowed(&req, &["https://a.example".into()]);
        }
    }

}

proptest! {
    // Fewer cases: each one is a whole session of up to 40 requests.
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_answers_every_request_from_any_sequence(
        messages in prop::collection::vec((0..3u64, any_message()), 1..40),
        with_auth in any::<bool>(),
    ) {
        let secret = b"a secret of thirty-two bytes, ok";
        let config = Config::default().max_name_length(64).max_value_size(256).max_memory(4096)
            .max_subscriptions(8).max_prefix_snapshot(4).history_len(16)
            .secret(with_auth.then(|| kvws::auth::Secret::new(*secret).unwrap()));
        let mut engine = Engine::new(&config, 0);
        let mut out = Tally::default();
        for conn in 0..3 {
            engine.open(ConnId::from(conn), None);
        }
        let mut now = 1_000_000;
        if with_auth {
            // Connection 0 is a manager, 1 a guest of "app", 2 has nothing.
            use kvws::auth::{Access, Claims, Role, mint};
            let exp = now / 1000 + 1;
            for (conn, role, ids) in [(0, Role::Manager, vec![]), (1, Role::Guest, vec!["app".to_string()])] {
                let token = mint(secret, &Claims { role, ids, access: Access::ReadWrite, exp, nbf: None });
                engine.handle(ConnId::from(conn), &format!(r#"{{"type":"auth","token":"{token}"}}"#), now, &mut out);
            }
        }
        for (conn, text) in &messages {
            let conn = ConnId::from(*conn);
            let before = out.replies.get(&conn).copied().unwrap_or(0);
            let unknown = engine.handle(conn, text, now, &mut out).is_some();
            let after = out.replies.get(&conn).copied().unwrap_or(0);
            let silent_unsubscribe = text.contains("unsubscribe") && !text.contains("\"req\"");
            prop_assert!(after > before || unknown || silent_unsubscribe, "no reply to {text}");
            now += 37;
            engine.expire(now, &mut out);
        }
        for conn in 0..3 {
            engine.close(ConnId::from(conn), &mut out);
        }
        prop_assert_eq!(engine.subscription_count(), 0);
    }
}

/// Over a real socket: random frames (valid or not) either get replies or
/// a clean close, and the server keeps serving everyone else.
#[test]
fn random_frames_over_a_socket_get_replies_or_a_clean_close() {
    let server = common::TestServer::with(
        Config::default()
            .max_message_size(512)
            .max_value_size(128)
            .max_name_length(64),
    );
    let mut bystander = server.client();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    });
    let frames = prop::collection::vec(
        (
            prop_oneof![
                Just(0x1u8),
                Just(0x2),
                Just(0x0),
                Just(0x8),
                Just(0x9),
                Just(0xA),
                Just(0x3)
            ],
            any::<bool>(),
            prop_oneof![
                any_message().prop_map(String::into_bytes),
                prop::collection::vec(any::<u8>(), 0..700)
            ],
        ),
        1..6,
    );
    runner
        .run(&frames, |frames| {
            let mut s = common::raw_ws(server.addr);
            for (opcode, fin, payload) in &frames {
                let mut f = common::client_frame(*opcode, payload);
                if !fin {
                    f[0] &= 0x7f;
                }
                if s.write_all(&f).is_err() {
                    break; // the server already closed: fine
                }
            }
            // Then a request that must be answered unless the connection was closed.
            let _ = s.write_all(&common::client_frame(
                0x1,
                br#"{"type":"get","id":"p","key":"q","req":"end"}"#,
            ));
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break, // closed by the server
                    Ok(n) => {
                        seen.extend_from_slice(&buf[..n]);
                        if seen.windows(11).any(|w| w == br#""req":"end""#) {
                            break; // answered
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                    Err(e) => panic!("no answer and no close after {frames:?}: {e}"),
                }
            }
            Ok(())
        })
        .unwrap();
    bystander.expect_nothing_before_marker();
}

/// The fast scanner and serde_json agree on what is one valid JSON value,
/// and on where it starts and ends.
fn agrees_with_serde(text: &str) -> Result<(), TestCaseError> {
    let ours = kvws::protocol::Json::parse(text).map(|j| j.get());
    let theirs = serde_json::from_str::<&serde_json::value::RawValue>(text)
        .ok()
        .map(|r| r.get());
    prop_assert_eq!(ours, theirs, "{:?}", text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn the_json_scanner_agrees_with_serde_json_on_generated_json(v in json_value(), pad in "[ \t\n]{0,2}") {
        agrees_with_serde(&format!("{pad}{v}{pad}"))?;
        agrees_with_serde(&serde_json::to_string_pretty(&v).unwrap())?;
    }

    #[test]
    fn the_json_scanner_agrees_with_serde_json_on_near_json(
        v in json_value(),
        cut in any::<prop::sample::Index>(),
        junk in prop::sample::select(vec!["", ",", "]", "}", "\"", "\\", "\u{1}", "-", ".", "e", "0", "tru", "{\"a\":", "[1,"]),
    ) {
        // Valid JSON with a piece cut out or something spliced in.
        let text = v.to_string();
        let at = cut.index(text.len() + 1);
        let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        agrees_with_serde(&format!("{}{junk}{}", &text[..at], &text[at..]))?;
        agrees_with_serde(&text[..at])?;
    }

    #[test]
    fn the_json_scanner_agrees_with_serde_json_on_any_text(text in ".{0,40}") {
        agrees_with_serde(&text)?;
    }
}
