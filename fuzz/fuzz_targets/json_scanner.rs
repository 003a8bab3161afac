//! Differential: the fast JSON scanner must accept exactly what serde_json
//! accepts as one JSON value, with the same extent, and a message object's
//! members must be what serde_json sees.
#![no_main]

use kvws::protocol::Json;
use kvws::protocol::json::object_members;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ours = Json::parse(text).map(|j| j.get());
    let theirs = serde_json::from_str::<&RawValue>(text).ok().map(|r| r.get());
    assert_eq!(ours, theirs, "{text:?}");

    let mut members = Vec::new();
    if object_members(text, |k, v| {
        members.push((k, v.get()));
        true
    })
    .is_some()
    {
        let map: std::collections::BTreeMap<String, &RawValue> =
            serde_json::from_str(text).expect("serde accepts what the scanner accepts");
        for (k, v) in members {
            // With duplicate keys serde keeps the last; compare only unique ones.
            if let Some(theirs) = map.get(k) {
                if text.matches(&format!("\"{k}\"")).count() == 1 {
                    assert_eq!(v, theirs.get());
                }
            }
        }
    }
});
