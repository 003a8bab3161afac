//! The test page's layout in headless Chromium, from a phone to a wide
//! screen: every control visible and clickable at each width, and
//! `target/tmp/screenshots/test-page-WIDTH.png`, the whole page at each.
//!
//! CI installs Chromium and sets `KVWS_REQUIRE_BROWSER=1`, so there the test
//! always runs; elsewhere, without Chromium, it says so and passes.

mod common;

use common::TestServer;
use common::browser::{
    chromium_or_skip, click, eval, fill, launch, log_has, open, screenshot_dir, wait_until,
};
use headless_chrome::Tab;
use headless_chrome::protocol::cdp::Emulation::SetDeviceMetricsOverride;
use headless_chrome::protocol::cdp::Page::{self, CaptureScreenshotFormatOption};
use serde_json::Value;

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
