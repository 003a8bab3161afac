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

use common::TestServer;
use common::browser::{self, chromium_or_skip, click, eval, fill, log_has, wait_until};
use common::tls::{self, Pki};
use headless_chrome::{Browser, Tab};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Chromium trusting the certificate whose key is `pki`'s, and no other
/// that a public CA did not sign.
fn launch(path: PathBuf, pki: &Pki) -> Browser {
    let pin = data_encoding::BASE64.encode(&Sha256::digest(&pki.spki_der));
    let trust = OsString::from(format!("--ignore-certificate-errors-spki-list={pin}"));
    browser::launch(path, "tls", &[trust])
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
