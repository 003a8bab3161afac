//! One client message through the parser: any bytes, any JSON.
#![no_main]

use kvws::protocol::{ParseLimits, encode, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text, ParseLimits { max_name_length: 64 }) {
        Ok(env) => {
            // Whatever parsed must encode back into valid JSON replies.
            let mut out = Vec::new();
            if let kvws::protocol::Request::Get { id, key } = &env.request {
                encode::value(&mut out, id, key, None, 0, env.req);
                let _: serde_json::Value = serde_json::from_slice(&out).expect("valid reply");
            }
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            let mut out = Vec::new();
            encode::error(&mut out, e.code, &e.message, e.req);
            let _: serde_json::Value = serde_json::from_slice(&out).expect("valid error reply");
        }
    }
});
