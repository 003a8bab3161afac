//! The test page in a real browser: headless Chromium (Debian's `chromium`)
//! driven over the DevTools protocol against a live server. The page runs on
//! the JavaScript client the server serves at `/kvws.js`.
//!
//! The screenshot `target/tmp/screenshots/test-page.png` is taken at the
//! default window size (docs/test-page.png is a copy of it). The layout at
//! every width is `tests/browser_layout.rs`, the live metrics
//! `tests/browser_metrics.rs`.
//!
//! CI installs Chromium and sets `KVWS_REQUIRE_BROWSER=1`, so there the test
//! always runs. On a machine without Chromium it says so and passes, so
//! that `cargo test` works on a fresh checkout; install the `chromium`
//! package (or point `CHROME` at a binary) to run it.

mod common;

use common::TestServer;
use common::browser::{
    chromium_or_skip, click, eval, fill, launch, log_has, open, screenshot_dir, wait_until,
};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use kvws::Config;
use kvws::auth::{Access, Claims, Role, Secret, mint};
use serde_json::Value;

/// Whether the subscriptions panel shows `key` holding a value containing `text`.
fn panel_has(key: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#subscriptions [data-key=' + JSON.stringify({key:?}) + ']')].some(e => e.textContent.includes({text:?}))"
    )
}

#[test]
fn the_test_page_works_in_a_real_browser() {
    let Some(path) = chromium_or_skip() else {
        return;
    };
    let server = TestServer::start();
    let port = server.addr.port();
    let url = format!("http://127.0.0.1:{port}/");
    let browser = launch(path, "page", &[]);

    // Set a value and see the reply in the log.
    let writer = open(&browser, &url);
    // The page runs on the server's /kvws.js, and on nothing from elsewhere.
    assert_eq!(
        eval(
            &writer,
            "window.kvws.client().state === 'open' && performance.getEntriesByType('resource').some(e => e.name === location.origin + '/kvws.js')"
        ),
        Value::Bool(true),
        "the page did not load /kvws.js"
    );
    assert_eq!(
        eval(
            &writer,
            "JSON.stringify(performance.getEntriesByType('resource').filter(e => !e.name.startsWith(location.origin + '/')).map(e => e.name))"
        ),
        Value::String("[]".into()),
        "resources from elsewhere"
    );
    fill(&writer, "appId", "app1");
    fill(&writer, "key", "greeting");
    fill(&writer, "value", r#"{"text":"hello","n":1}"#);
    click(&writer, "setBtn");
    wait_until(
        &writer,
        "the set's reply",
        &log_has("received", r#""value":{"text":"hello","n":1}"#),
    );

    // Subscribe in one tab and see a change made in the other.
    let watcher = open(&browser, &url);
    fill(&watcher, "appId", "app1");
    fill(&watcher, "key", "greeting");
    click(&watcher, "subscribeBtn");
    wait_until(
        &watcher,
        "the subscription to show the current value",
        &panel_has("greeting", r#"{"text":"hello","n":1}"#),
    );
    fill(&writer, "value", "plain words");
    click(&writer, "setBtn");
    wait_until(
        &watcher,
        "the change to arrive",
        &log_has("received", r#""value":"plain words""#),
    );
    wait_until(
        &watcher,
        "the panel to update",
        &panel_has("greeting", r#""plain words""#),
    );

    // A prefix subscription sees new keys under it, shown as the exact text
    // the server holds; List lists them.
    fill(&watcher, "prefix", "room/");
    click(&watcher, "subscribePrefixBtn");
    wait_until(
        &watcher,
        "the prefix subscription",
        "document.querySelector('#subscriptions [data-sub=\"prefix\"]')?.textContent.includes('no keys')",
    );
    fill(&writer, "key", "room/1");
    fill(&writer, "value", "[1.50, 12345678901234567890]");
    fill(
        &writer,
        "customJson",
        r#"{"type":"set","id":"app1","key":"room/2","value":[1.50, 12345678901234567890]}"#,
    );
    click(&writer, "sendCustomBtn");
    wait_until(
        &watcher,
        "the exact text in the panel",
        &panel_has("room/2", "[1.50, 12345678901234567890]"),
    );
    click(&writer, "setBtn");
    wait_until(
        &watcher,
        "the value as JavaScript reads and sends it",
        &panel_has("room/1", "[1.5,12345678901234567000]"),
    );
    fill(&writer, "prefix", "room/");
    click(&writer, "listBtn");
    wait_until(
        &writer,
        "the list",
        &log_has("received", r#""keys":["room/1","room/2"]"#),
    );

    // Invalid JSON in the custom box is refused with a visible error, and
    // an error from the server is shown too.
    fill(&writer, "customJson", r#"{"type": "get", "id": "#);
    click(&writer, "sendCustomBtn");
    wait_until(
        &writer,
        "the invalid-JSON error",
        &log_has("error", "Invalid JSON:"),
    );
    fill(
        &writer,
        "customJson",
        r#"{"type":"subscribe","id":"app1","key":"raw"}"#,
    );
    click(&writer, "sendCustomBtn");
    wait_until(
        &writer,
        "the note that it is not tracked",
        &log_has("info", "Custom subscribe is sent as typed and not tracked"),
    );
    wait_until(
        &writer,
        "its reply",
        &log_has("received", r#""key":"raw","value":null,"rev":0,"req":"c"#),
    );
    fill(&writer, "customJson", r#"{"type":"get","id":"","key":"k"}"#);
    click(&writer, "sendCustomBtn");
    wait_until(
        &writer,
        "the server's error",
        &log_has("error", "must be a non-empty string"),
    );

    // A screenshot of the page in use, kept as a test artifact.
    let png = watcher
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    std::fs::write(screenshot_dir().join("test-page.png"), &png).unwrap();
    assert!(png.len() > 10_000 && png.starts_with(b"\x89PNG"));

    // The server restarts on the same port: the page notices, reconnects on
    // its own and resumes its subscription.
    server.stop();
    wait_until(
        &watcher,
        "the page to notice",
        "!document.getElementById('status').textContent.includes('Connected')",
    );
    let server = TestServer::on_port(Config::default(), port);
    wait_until(
        &watcher,
        "the page to reconnect",
        "document.getElementById('status').textContent.includes('Connected')",
    );
    server.wait_for("the watcher to resubscribe", |s| s.subscriptions == 2);
    // The new server has none of the old history: both subscriptions are
    // told to resync, and the panel shows the (empty) new state.
    wait_until(
        &watcher,
        "the resync",
        &log_has("info", "Subscriptions back: 0 resumed, 2 resynced"),
    );
    wait_until(
        &watcher,
        "the panel to show the key as absent",
        &panel_has("greeting", "absent"),
    );
    let mut c = server.client();
    c.send(r#"{"type":"set","id":"app1","key":"greeting","value":"after the restart"}"#);
    c.recv();
    wait_until(
        &watcher,
        "the change after the restart",
        &log_has("received", r#""value":"after the restart""#),
    );
    wait_until(
        &watcher,
        "the panel to show it",
        &panel_has("greeting", r#""after the restart""#),
    );
}

const SECRET: &[u8] = b"correct horse battery staple, 32+ bytes";

#[test]
fn a_token_entered_on_the_page_is_presented_again_after_a_restart() {
    let Some(path) = chromium_or_skip() else {
        return;
    };
    let config = || Config::default().secret(Some(Secret::new(SECRET).unwrap()));
    let server = TestServer::with(config());
    let port = server.addr.port();
    let browser = launch(path, "auth", &[]);
    let tab = open(&browser, &format!("http://127.0.0.1:{port}/"));

    fill(&tab, "appId", "app1");
    fill(&tab, "key", "k");
    click(&tab, "getBtn");
    wait_until(
        &tab,
        "the refusal",
        &log_has("error", "error unauthenticated"),
    );
    fill(&tab, "token", "not.a.token");
    click(&tab, "authBtn");
    wait_until(
        &tab,
        "the bad token's refusal",
        &log_has("error", "error invalid_token"),
    );

    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = Claims {
        role: Role::Guest,
        ids: vec!["app1".into()],
        access: Access::ReadWrite,
        exp,
        nbf: None,
    };
    fill(&tab, "token", &mint(SECRET, &claims));
    click(&tab, "authBtn");
    wait_until(
        &tab,
        "the status to show the role",
        "document.getElementById('status').textContent.includes('guest, readwrite')",
    );
    click(&tab, "subscribeBtn");
    wait_until(&tab, "the subscription", &panel_has("k", "absent"));

    // Another token typed but never accepted is not the one presented later.
    fill(&tab, "token", "also.not.a.token");
    click(&tab, "authBtn");
    wait_until(
        &tab,
        "the second refusal",
        "document.querySelectorAll('#log .error').length >= 3",
    );

    server.stop();
    wait_until(
        &tab,
        "the page to notice",
        "!document.getElementById('status').textContent.includes('Connected')",
    );
    let server = TestServer::on_port(config(), port);
    wait_until(
        &tab,
        "the page to reconnect as the guest",
        "document.getElementById('status').textContent.includes('Connected') && document.getElementById('status').textContent.includes('guest, readwrite')",
    );
    wait_until(&tab, "the automatic auth", &log_has("sent", "automatic"));
    server.wait_for("the page to resubscribe", |s| s.subscriptions == 1);
}
