//! The test page in a real browser: headless Chromium (Debian's `chromium`)
//! driven over the DevTools protocol against a live server.
//!
//! CI installs Chromium and sets `KVWS_REQUIRE_BROWSER=1`, so there the test
//! always runs. On a machine without Chromium it says so and passes, so
//! that `cargo test` works on a fresh checkout; install the `chromium`
//! package (or point `CHROME` at a binary) to run it.

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use kvws::Config;

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var("CHROME").ok(),
        Some("/usr/bin/chromium".into()),
        Some("/usr/bin/chromium-browser".into()),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn launch(path: PathBuf) -> Browser {
    let profile = std::env::temp_dir().join(format!("kvws-chromium-{}", std::process::id()));
    let args: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(path))
        .headless(true)
        .sandbox(false) // CI runs as root
        .window_size(Some((1280, 900)))
        .user_data_dir(Some(profile))
        .idle_browser_timeout(Duration::from_secs(120))
        .args(args)
        .build()
        .expect("launch options");
    Browser::new(options).expect("start chromium")
}

/// Evaluates `js` in the page and returns its value as JSON.
fn eval(tab: &Tab, js: &str) -> serde_json::Value {
    tab.evaluate(js, false)
        .expect("evaluate")
        .value
        .unwrap_or(serde_json::Value::Null)
}

/// Waits until `js` evaluates to true.
fn wait_until(tab: &Tab, what: &str, js: &str) {
    let start = Instant::now();
    while eval(tab, js) != serde_json::Value::Bool(true) {
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
    assert_eq!(eval(tab, &js), serde_json::Value::Bool(true));
}

/// Clicks a button the way the page's own handlers see a click. (DevTools
/// mouse events need the tab to be in front; only one tab can be.)
fn click(tab: &Tab, id: &str) {
    let js = format!("(() => {{ document.getElementById({id:?}).click(); return true; }})()");
    assert_eq!(eval(tab, &js), serde_json::Value::Bool(true), "click {id}");
}

/// Whether the message log has a line of `class` whose text contains `text`.
fn log_has(class: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#log .{class}')].some(e => e.textContent.includes({text:?}))"
    )
}

fn open(browser: &Browser, url: &str) -> Arc<Tab> {
    let tab = browser.new_tab().expect("tab");
    tab.navigate_to(url)
        .expect("navigate")
        .wait_until_navigated()
        .expect("loaded");
    wait_until(
        &tab,
        "the page to connect",
        "document.getElementById('status').textContent.includes('Connected')",
    );
    tab
}

#[test]
fn the_test_page_works_in_a_real_browser() {
    let Some(path) = chromium() else {
        assert!(
            std::env::var_os("KVWS_REQUIRE_BROWSER").is_none(),
            "KVWS_REQUIRE_BROWSER is set but no Chromium was found"
        );
        eprintln!(
            "SKIPPED: no Chromium (apt-get install chromium, or set CHROME) – the browser test did not run"
        );
        return;
    };
    let server = TestServer::start();
    let port = server.addr.port();
    let url = format!("http://127.0.0.1:{port}/");
    let browser = launch(path);

    // Set a value and see the reply in the log.
    let writer = open(&browser, &url);
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
        r#"[...document.querySelectorAll('#subscriptions [data-key="greeting"]')].some(e => e.textContent.includes('"hello"'))"#,
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
        r#"[...document.querySelectorAll('#subscriptions [data-key="greeting"]')].some(e => e.textContent.includes('"plain words"'))"#,
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
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("test-page.png"), &png).unwrap();
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
    server.wait_for("the watcher to resubscribe", |s| s.subscriptions == 1);
    let mut c = server.client();
    c.send(r#"{"type":"set","id":"app1","key":"greeting","value":"after the restart"}"#);
    c.recv();
    wait_until(
        &watcher,
        "the change after the restart",
        &log_has("received", r#""value":"after the restart""#),
    );
}
