//! The HTTP request head reader, router and origin check: any bytes.
#![no_main]

use kvws::http;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(req)) = http::parse_head(data) {
        let _ = http::route(&req);
        let _ = kvws::http::origin_allowed(&req, &[]);
        let _ = kvws::http::origin_allowed(&req, &["https://app.example:8443".to_string()]);
    }
});
