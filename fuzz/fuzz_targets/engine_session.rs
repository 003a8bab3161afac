//! A whole session: the input is split into messages (one per line), sent
//! by three connections in turn to one engine, with authentication on or
//! off, the clock advancing. Nothing may panic and every request must be
//! answered.
#![no_main]

use std::collections::HashMap;

use kvws::auth::{Access, Claims, Role, Secret, mint};
use kvws::engine::{Engine, Outbound};
use kvws::protocol::frame::FrameRef;
use kvws::{Config, ConnId};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Tally(HashMap<ConnId, usize>);

impl Outbound for Tally {
    fn send(&mut self, to: ConnId, json: &[u8]) {
        let _: serde_json::Value = serde_json::from_slice(json).expect("replies are JSON");
        *self.0.entry(to).or_default() += 1;
    }
    fn send_frame(&mut self, to: ConnId, frame: FrameRef<'_>) {
        let _: serde_json::Value = serde_json::from_slice(frame.payload()).expect("JSON");
        *self.0.entry(to).or_default() += 1;
    }
}

const SECRET: &[u8] = b"a secret of thirty-two bytes, ok";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let auth = flags & 1 == 1;
    let config = Config::default()
        .max_name_length(64)
        .max_value_size(256)
        .max_memory(8192)
        .max_subscriptions(8)
        .max_prefix_snapshot(4)
        .history_len(8)
        .secret(auth.then(|| Secret::new(SECRET).unwrap()));
    let mut engine = Engine::new(&config, 0);
    let mut out = Tally::default();
    let mut now = 1_000_000_000;
    for conn in 0..3 {
        engine.open(ConnId::from(conn), None);
    }
    if auth {
        for (conn, role) in [(0, Role::Manager), (1, Role::Guest)] {
            let claims = Claims { role, ids: vec!["app".into()], access: Access::ReadWrite, exp: now / 1000 + 2, nbf: None };
            let msg = format!(r#"{{"type":"auth","token":"{}"}}"#, mint(SECRET, &claims));
            engine.handle(ConnId::from(conn), &msg, now, &mut out);
        }
    }
    for (i, line) in text.lines().enumerate() {
        let conn = ConnId::from((i % 3) as u64);
        let before = out.0.get(&conn).copied().unwrap_or(0);
        let unknown = engine.handle(conn, line, now, &mut out).is_some();
        let after = out.0.get(&conn).copied().unwrap_or(0);
        assert!(after > before || unknown || line.contains("unsubscribe"), "unanswered: {line}");
        now += u64::from(flags >> 1) * 10;
        engine.expire(now, &mut out);
    }
    for conn in 0..3 {
        engine.close(ConnId::from(conn), &mut out);
    }
    assert_eq!(engine.subscription_count(), 0);
});
