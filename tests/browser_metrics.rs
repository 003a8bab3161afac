//! The test page's Server card in headless Chromium: a few of `/metrics`,
//! live, and a plain word when the page may not read them.
//!
//! CI installs Chromium and sets `KVWS_REQUIRE_BROWSER=1`, so there the test
//! always runs; elsewhere, without Chromium, it says so and passes.

mod common;

use common::TestServer;
use common::browser::{chromium_or_skip, eval, launch, open, wait_until};
use kvws::Config;
use serde_json::Value;

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
