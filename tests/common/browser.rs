//! Headless Chromium driving the test page over the DevTools protocol
//! (`tests/browser.rs`, and `tests/tls_browser.rs` over https): finding and
//! starting the browser, and the few page actions the tests need.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;

/// Chromium (`$CHROME`, or Debian's `chromium`), if the machine has one.
pub fn chromium() -> Option<PathBuf> {
    [
        std::env::var("CHROME").ok(),
        Some("/usr/bin/chromium".into()),
        Some("/usr/bin/chromium-browser".into()),
    ]
    .into_iter()
    .flatten()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Chromium, or `None` (after saying so) where there is none and the test
/// may skip: everywhere but where `KVWS_REQUIRE_BROWSER` is set (CI).
pub fn chromium_or_skip() -> Option<PathBuf> {
    let path = chromium();
    if path.is_none() {
        assert!(
            std::env::var_os("KVWS_REQUIRE_BROWSER").is_none(),
            "KVWS_REQUIRE_BROWSER is set but no Chromium was found"
        );
        eprintln!(
            "SKIPPED: no Chromium (apt-get install chromium, or set CHROME) – the browser test did not run"
        );
    }
    path
}

/// Starts Chromium with a profile of its own (`name` tells apart the tests
/// that run at once) and `extra` arguments. Certificate errors are never
/// ignored wholesale: a test over https says which key to trust.
pub fn launch(path: PathBuf, name: &str, extra: &[OsString]) -> Browser {
    let profile = std::env::temp_dir().join(format!("kvws-chromium-{}-{name}", std::process::id()));
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
    .chain(extra.iter().cloned())
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

/// Where screenshots go: `target/tmp/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `url` in a new tab and waits until the page says it is connected.
pub fn open(browser: &Browser, url: &str) -> Arc<Tab> {
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

/// Evaluates `js` in the page and returns its value as JSON.
pub fn eval(tab: &Tab, js: &str) -> Value {
    tab.evaluate(js, false)
        .expect("evaluate")
        .value
        .unwrap_or(Value::Null)
}

/// Waits until `js` evaluates to true.
pub fn wait_until(tab: &Tab, what: &str, js: &str) {
    let start = Instant::now();
    while eval(tab, js) != Value::Bool(true) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Types `value` into the input `id`, as the page's handlers see typing.
pub fn fill(tab: &Tab, id: &str, value: &str) {
    let js = format!(
        "(() => {{ const e = document.getElementById({id:?}); e.value = {value:?}; e.dispatchEvent(new Event('input')); return true; }})()"
    );
    assert_eq!(eval(tab, &js), Value::Bool(true));
}

/// Clicks a button the way the page's own handlers see a click. (DevTools
/// mouse events need the tab to be in front; only one tab can be.)
pub fn click(tab: &Tab, id: &str) {
    let js = format!("(() => {{ document.getElementById({id:?}).click(); return true; }})()");
    assert_eq!(eval(tab, &js), Value::Bool(true), "click {id}");
}

/// Whether the message log has a line of `class` whose text contains `text`.
pub fn log_has(class: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#log .{class}')].some(e => e.textContent.includes({text:?}))"
    )
}
