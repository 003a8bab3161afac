//! The test page over https:// in headless Chromium, which trusts the
//! test's certificate by its public key (`--ignore-certificate-errors-spki-
//! list`, with the blanket `--ignore-certificate-errors` off): the page is
//! a secure context, its WebSocket is `wss://`, and a value set on the page
//! reaches a client of the project's own library, and back.
//!
//! Like `tests/browser.rs`, it says it skipped where there is no Chromium
//! unless `KVWS_REQUIRE_BROWSER` is set (CI).

#![cfg(feature = "tls")]

mod common;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use common::tls::{self, Pki};
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn chromium_or_skip() -> Option<PathBuf> {
    let path = [
        std::env::var("CHROME").ok(),
        Some("/usr/bin/chromium".into()),
        Some("/usr/bin/chromium-browser".into()),
    ]
    .into_iter()
    .flatten()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if path.is_none() {
        assert!(
            std::env::var_os("KVWS_REQUIRE_BROWSER").is_none(),
            "KVWS_REQUIRE_BROWSER is set but no Chromium was found"
        );
        eprintln!("SKIPPED: no Chromium (apt-get install chromium, or set CHROME)");
    }
    path
}

/// Chromium trusting the certificate whose key is `pki`'s, and no other
/// that a public CA did not sign.
fn launch(path: PathBuf, pki: &Pki) -> Browser {
    let pin = data_encoding::BASE64.encode(&Sha256::digest(&pki.spki_der));
    let profile = std::env::temp_dir().join(format!("kvws-chromium-{}-tls", std::process::id()));
    let args: Vec<OsString> = [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
    ]
    .iter()
    .map(OsString::from)
    .chain([OsString::from(format!(
        "--ignore-certificate-errors-spki-list={pin}"
    ))])
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(path))
        .headless(true)
        .sandbox(false) // CI runs as root
        .ignore_certificate_errors(false)
        .window_size(Some((1280, 900)))
        .user_data_dir(Some(profile))
        .idle_browser_timeout(Duration::from_secs(120))
        .args(args.iter().map(|a| a.as_os_str()).collect())
        .build()
        .expect("launch options");
    Browser::new(options).expect("start chromium")
}

fn eval(tab: &Tab, js: &str) -> Value {
    tab.evaluate(js, false)
        .expect("evaluate")
        .value
        .unwrap_or(Value::Null)
}

fn wait_until(tab: &Tab, what: &str, js: &str) {
    let start = Instant::now();
    while eval(tab, js) != Value::Bool(true) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn fill(tab: &Tab, id: &str, value: &str) {
    let js = format!(
        "(() => {{ const e = document.getElementById({id:?}); e.value = {value:?}; e.dispatchEvent(new Event('input')); return true; }})()"
    );
    assert_eq!(eval(tab, &js), Value::Bool(true));
}

fn click(tab: &Tab, id: &str) {
    let js = format!("(() => {{ document.getElementById({id:?}).click(); return true; }})()");
    assert_eq!(eval(tab, &js), Value::Bool(true), "click {id}");
}

fn log_has(class: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#log .{class}')].some(e => e.textContent.includes({text:?}))"
    )
}

#[test]
fn the_test_page_works_over_https_with_a_trusted_certificate() {
    let Some(path) = chromium_or_skip() else {
        return;
    };
    let pki = Pki::new("browser");
    let server = TestServer::with(pki.config());
    let url = format!("https://localhost:{}/", server.addr.port());
    let browser = launch(path, &pki);
    let tab: Arc<Tab> = browser.new_tab().expect("tab");
    tab.navigate_to(&url)
        .expect("navigate")
        .wait_until_navigated()
        .expect("loaded");
    wait_until(
        &tab,
        "the page to connect",
        "document.getElementById('status').textContent.includes('Connected')",
    );
    // Served over TLS that Chromium accepted: a secure context, and the
    // page's client went to wss:// on the same host.
    assert_eq!(
        eval(
            &tab,
            "[location.protocol, window.isSecureContext, window.kvws.client().state].join(' ')"
        ),
        Value::String("https: true open".into())
    );
    assert_eq!(
        eval(
            &tab,
            "performance.getEntriesByType('resource').some(e => e.name === location.origin + '/kvws.js')"
        ),
        Value::Bool(true),
        "the page did not load /kvws.js over https"
    );

    // A value set on the page reaches a Rust client subscribed over wss://.
    let mut watcher = tls::client(server.addr, &pki.ca);
    watcher.call(
        r#"{"type":"subscribe","id":"web","key":"k","req":1}"#,
        &[r#"{"type":"value","id":"web","key":"k","value":null,"rev":0,"req":1}"#],
    );
    fill(&tab, "appId", "web");
    fill(&tab, "key", "k");
    fill(&tab, "value", r#"{"from":"the page"}"#);
    click(&tab, "setBtn");
    wait_until(
        &tab,
        "the set's reply",
        &log_has("received", r#""value":{"from":"the page"},"rev":1"#),
    );
    watcher.expect(r#"{"type":"value","id":"web","key":"k","value":{"from":"the page"},"rev":1}"#);

    // And a change from the Rust client reaches the page.
    click(&tab, "subscribeBtn");
    wait_until(
        &tab,
        "the subscription",
        &log_has("received", r#""type":"value","id":"web","key":"k""#),
    );
    let mut writer = tls::client(server.addr, &pki.ca);
    writer.call(
        r#"{"type":"set","id":"web","key":"k","value":"from Rust","req":2}"#,
        &[r#"{"type":"value","id":"web","key":"k","value":"from Rust","rev":2,"req":2}"#],
    );
    wait_until(
        &tab,
        "the change to reach the page",
        &log_has("received", r#""value":"from Rust","rev":2"#),
    );
}
