//! The test page in a real browser: headless Chromium (Debian's `chromium`)
//! driven over the DevTools protocol against a live server. The page runs on
//! the JavaScript client the server serves at `/kvws.js`.
//!
//! Screenshots go to `target/tmp/screenshots/`: `test-page.png` at the
//! default window size (docs/test-page.png is a copy of it) and
//! `test-page-WIDTH.png`, the whole page at each width the layout is
//! checked at.
//!
//! CI installs Chromium and sets `KVWS_REQUIRE_BROWSER=1`, so there the test
//! always runs. On a machine without Chromium it says so and passes, so
//! that `cargo test` works on a fresh checkout; install the `chromium`
//! package (or point `CHROME` at a binary) to run it.

mod common;

use std::path::PathBuf;

use common::TestServer;
use common::browser::{chromium_or_skip, click, eval, fill, launch, log_has, open, wait_until};
use headless_chrome::Tab;
use headless_chrome::protocol::cdp::Emulation::SetDeviceMetricsOverride;
use headless_chrome::protocol::cdp::Page::{self, CaptureScreenshotFormatOption};
use kvws::Config;
use kvws::auth::{Access, Claims, Role, Secret, mint};
use serde_json::Value;

/// Whether the subscriptions panel shows `key` holding a value containing `text`.
fn panel_has(key: &str, text: &str) -> String {
    format!(
        "[...document.querySelectorAll('#subscriptions [data-key=' + JSON.stringify({key:?}) + ']')].some(e => e.textContent.includes({text:?}))"
    )
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

/// Emulates a window `width` × `height` CSS pixels wide (a phone's below
/// 600) and waits for the page to take it.
fn resize(tab: &Tab, width: u32, height: u32) {
    tab.call_method(SetDeviceMetricsOverride {
        width,
        height,
        device_scale_factor: 1.0,
        mobile: width < 600,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    })
    .expect("resize");
    // Two frames: the new size is laid out.
    tab.evaluate(
        "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
        true,
    )
    .expect("a frame");
}

/// A window `WIDTH` px wide lays the page out at that width (a phone zooms
/// out to show a page that is wider), and nothing scrolls sideways; every
/// control shown (not under `[hidden]`) is visible, inside the window once
/// scrolled into view, and the element (or holds the element) that a click
/// at its centre lands on. Returns the problems found and the controls
/// checked.
const LAYOUT_CHECK: &str = r##"((width) => {
  const problems = [];
  const name = (e) => e ? (e.id ? "#" + e.id : e.getAttribute("aria-label") || e.tagName.toLowerCase() + "." + e.className) : "nothing";
  const page = document.documentElement;
  if (innerWidth !== width) problems.push(`the page is laid out ${innerWidth} px wide in a ${width} px window`);
  if (page.scrollWidth > page.clientWidth) problems.push(`the page is ${page.scrollWidth} px wide in a ${page.clientWidth} px window`);
  for (const e of document.querySelectorAll("body *")) {
    const s = getComputedStyle(e);
    if (["auto", "scroll"].includes(s.overflowX) && e.scrollWidth > e.clientWidth + 1)
      problems.push(`${name(e)} scrolls sideways (${e.scrollWidth} px in ${e.clientWidth} px)`);
  }
  const controls = [...document.querySelectorAll("button, input, select, textarea")].filter((e) => !e.closest("[hidden]"));
  for (const e of controls) {
    e.scrollIntoView({ block: "center", inline: "center" });
    const r = e.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || getComputedStyle(e).visibility !== "visible") { problems.push(`${name(e)} is not visible`); continue; }
    if (r.left < 0 || r.top < 0 || r.right > page.clientWidth || r.bottom > page.clientHeight)
      problems.push(`${name(e)} is outside the window: ${Math.round(r.left)},${Math.round(r.top)} to ${Math.round(r.right)},${Math.round(r.bottom)}`);
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !e.contains(hit)) problems.push(`a click at the centre of ${name(e)} lands on ${name(hit)}`);
  }
  window.scrollTo(0, 0);
  return JSON.stringify({ problems, checked: controls.map(name) });
})(WIDTH)"##;

/// Runs [`LAYOUT_CHECK`]; fails on any problem or if a control in `must`
/// was not checked. Returns how many controls were checked.
fn check_layout(tab: &Tab, width: u32, must: &[&str]) -> usize {
    let Value::String(json) = eval(tab, &LAYOUT_CHECK.replace("WIDTH", &width.to_string())) else {
        panic!("the layout check did not run");
    };
    let report: Value = serde_json::from_str(&json).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems.is_empty(),
        "at {width} px:\n{}",
        problems
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let checked: Vec<&str> = report["checked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for id in must {
        assert!(
            checked.contains(id),
            "at {width} px {id} was not checked: {checked:?}"
        );
    }
    checked.len()
}

/// The whole page (not just the window) as a PNG.
fn full_page_screenshot(tab: &Tab) -> Vec<u8> {
    let size = eval(
        tab,
        "JSON.stringify([document.documentElement.scrollWidth, document.documentElement.scrollHeight])",
    );
    let [width, height]: [f64; 2] = serde_json::from_str(size.as_str().unwrap()).unwrap();
    let shot = tab
        .call_method(Page::CaptureScreenshot {
            format: Some(CaptureScreenshotFormatOption::Png),
            quality: None,
            clip: Some(Page::Viewport {
                x: 0.0,
                y: 0.0,
                width,
                height,
                scale: 1.0,
            }),
            from_surface: Some(true),
            capture_beyond_viewport: Some(true),
            optimize_for_speed: None,
        })
        .expect("screenshot");
    data_encoding::BASE64
        .decode(shot.data.as_bytes())
        .expect("base64")
}

#[test]
fn every_control_can_be_clicked_from_phone_to_desktop_widths() {
    let Some(path) = chromium_or_skip() else {
        return;
    };
    let server = TestServer::start();
    let browser = launch(path, "layout", &[]);
    let tab = open(
        &browser,
        &format!("http://127.0.0.1:{}/", server.addr.port()),
    );

    // What could push the layout wide: long keys, values and log lines
    // without a place to break, a key and a prefix subscription.
    let long = "x".repeat(240);
    fill(&tab, "key", &format!("key-{long}"));
    fill(&tab, "value", &format!("\"{long}\""));
    click(&tab, "setBtn");
    click(&tab, "subscribeBtn");
    fill(&tab, "prefix", "");
    click(&tab, "subscribePrefixBtn");
    click(&tab, "listBtn");
    wait_until(
        &tab,
        "both subscriptions to show the key",
        &format!(
            "document.querySelectorAll('#subscriptions [data-key=\"key-{long}\"]').length === 2"
        ),
    );
    wait_until(&tab, "the list", &log_has("received", "1 key"));

    let controls = [
        "#appId",
        "#key",
        "#value",
        "#ttl",
        "#ifRev",
        "#ephemeral",
        "#setBtn",
        "#getBtn",
        "#deleteBtn",
        "#subscribeBtn",
        "#unsubscribeBtn",
        "#prefix",
        "#subscribePrefixBtn",
        "#unsubscribePrefixBtn",
        "#listBtn",
        "#token",
        "#authBtn",
        "#customJson",
        "#sendCustomBtn",
        "#clearBtn",
    ];
    let dir = screenshot_dir();
    // Phones, 700 px (where the two columns used to overlap), a tablet, both
    // sides of the 900 px breakpoint, desktops.
    let sizes = [
        (360, 740),
        (375, 812),
        (700, 900),
        (768, 1024),
        (900, 900),
        (901, 900),
        (1280, 900),
        (1920, 1080),
    ];
    for (width, height) in sizes {
        resize(&tab, width, height);
        let checked = check_layout(&tab, width, &controls);
        // The two subscriptions' close buttons too.
        assert_eq!(checked, controls.len() + 2, "at {width} px");
        let png = full_page_screenshot(&tab);
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(dir.join(format!("test-page-{width}.png")), &png).unwrap();
    }

    // Disconnected, the header also has its Reconnect button.
    server.stop();
    wait_until(
        &tab,
        "the page to notice",
        "!document.getElementById('reconnectBtn').hidden",
    );
    for (width, height) in [(360, 740), (1280, 900)] {
        resize(&tab, width, height);
        check_layout(&tab, width, &["#reconnectBtn"]);
    }
}

/// JavaScript: whether the Server card shows `value` for `metric`.
fn metric_is(metric: &str, value: &str) -> String {
    format!(
        "document.querySelector('#metrics dd[data-metric={metric:?}]')?.textContent === {value:?}"
    )
}

#[test]
fn the_page_shows_a_few_metrics_live_and_says_when_it_may_not_read_them() {
    let Some(path) = chromium_or_skip() else {
        return;
    };
    let server = TestServer::start();
    let browser = launch(path, "metrics", &[]);
    let tab = open(
        &browser,
        &format!("http://127.0.0.1:{}/", server.addr.port()),
    );
    wait_until(
        &tab,
        "the page's own WebSocket",
        &metric_is("websockets", "1"),
    );
    let mut c = server.client();
    for (i, key) in ["a", "b"].iter().enumerate() {
        c.call(
            &format!(r#"{{"type":"set","id":"m","key":"{key}","value":1}}"#),
            &[&format!(
                r#"{{"type":"value","id":"m","key":"{key}","value":1,"rev":{}}}"#,
                i + 1
            )],
        );
    }
    wait_until(
        &tab,
        "two WebSockets, two keys, revision 2",
        &format!(
            "{} && {} && {}",
            metric_is("websockets", "2"),
            metric_is("keys", "2"),
            metric_is("revision", "2")
        ),
    );
    assert_eq!(
        eval(&tab, "document.getElementById('metricsHint').textContent"),
        Value::String(String::new())
    );

    // With --metrics-token, a page has no token to send: the card says why.
    let token = kvws::metrics::MetricsToken::new(b"a-metrics-token-of-some-length").unwrap();
    let guarded = TestServer::with(Config::default().metrics_token(Some(token)));
    let tab = open(
        &browser,
        &format!("http://127.0.0.1:{}/", guarded.addr.port()),
    );
    wait_until(
        &tab,
        "the card to say /metrics is not for the page",
        "document.getElementById('metricsHint').textContent.startsWith('Not shown here (HTTP 401)')",
    );
    assert_eq!(
        eval(&tab, "document.querySelectorAll('#metrics dd').length"),
        Value::from(0)
    );
}
