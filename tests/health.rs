//! `/healthz` and `/readyz` over real HTTP: ready once serving, not ready
//! (503) while shutting down, with the listener still answering; in
//! cluster mode not ready while Redis cannot be reached at start, ready
//! once the store is loaded.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::redis::Redis;
use common::scrape::{Reply, get, request};
use common::{PATIENCE, TestServer, raw_ws};
use kvws::Config;

/// Asks `path` until the answer has `status`; returns it.
fn until(addr: std::net::SocketAddr, path: &str, status: u16) -> Reply {
    let start = Instant::now();
    loop {
        let reply = get(addr, path);
        if reply.status == status {
            return reply;
        }
        assert!(
            start.elapsed() < 3 * PATIENCE,
            "{path} still answers {}: {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_serving_server_is_healthy_and_ready_and_says_so_in_plain_text() {
    let server = TestServer::start();
    let health = get(server.addr, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    assert_eq!(
        health.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(health.header("cache-control"), Some("no-store"));
    let ready = get(server.addr, "/readyz");
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));
    for path in ["/healthz", "/readyz"] {
        let head = request(server.addr, "HEAD", path, &[]);
        assert_eq!(head.status, 200);
        assert_eq!(head.body, "");
        assert!(head.header("content-length").is_some_and(|n| n != "0"));
        assert_eq!(request(server.addr, "DELETE", path, &[]).status, 405);
    }
    // A query string does not change the path.
    assert_eq!(get(server.addr, "/readyz?verbose").status, 200);
}

#[test]
fn a_server_shutting_down_is_not_ready_but_healthy_until_it_is_gone() {
    let server = TestServer::with(Config::default().close_timeout(Duration::from_secs(3)));
    // A client that never answers the close frame keeps the server in its
    // shutdown for the close timeout.
    let stubborn = raw_ws(server.addr);
    server.handle.shutdown();
    let ready = until(server.addr, "/readyz", 503);
    assert_eq!(ready.body, "shutting down\n");
    assert_eq!(get(server.addr, "/healthz").status, 200);
    // Nothing else is served meanwhile: no new WebSocket, no page.
    assert_eq!(get(server.addr, "/").status, 503);
    let upgrade = request(
        server.addr,
        "GET",
        "/",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    );
    assert_eq!(upgrade.status, 503);
    let metrics = get(server.addr, "/metrics");
    assert!(
        metrics.body.contains("\nkvws_ready 0\n"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("kvws_connections_refused_total{reason=\"shutting_down\"} 2\n"),
        "{}",
        metrics.body
    );
    drop(stubborn);
    server.stop();
}

#[test]
fn a_cluster_node_is_ready_once_loaded_from_redis_and_not_before() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let url = redis.url();
    redis.stop();
    // Redis is not there: the node listens, healthy, but not ready.
    let node = Daemon::start(&["--redis", &url, "--start-revision", "0"]);
    let ready = get(node.addr, "/readyz");
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (503, "loading the store from Redis\n")
    );
    assert_eq!(get(node.addr, "/healthz").status, 200);
    let page = get(node.addr, "/metrics").body;
    for line in [
        "kvws_ready 0\n",
        "kvws_cluster_redis_up 0\n",
        "kvws_cluster_loaded 0\n",
    ] {
        assert!(page.contains(line), "{line} in\n{page}");
    }
    assert!(
        !page.contains("kvws_cluster_redis_failures_total 0\n"),
        "{page}"
    );

    redis.start_again();
    let ready = until(node.addr, "/readyz", 200);
    assert_eq!(ready.body, "ready\n");
    let page = get(node.addr, "/metrics").body;
    for line in [
        "kvws_ready 1\n",
        "kvws_cluster_redis_up 1\n",
        "kvws_cluster_loaded 1\n",
        "kvws_cluster_redis_connections_total 1\n",
        "kvws_cluster_resyncs_total 0\n",
    ] {
        assert!(page.contains(line), "{line} in\n{page}");
    }

    // A write made through Redis and applied back here from the stream:
    // its round trip and its apply lag are measured, and nothing is left
    // behind.
    let mut c = common::Client::connect(node.addr);
    c.call(
        r#"{"type":"set","id":"a","key":"k","value":1,"req":1}"#,
        &[r#"{"type":"value","id":"a","key":"k","value":1,"rev":1,"req":1}"#],
    );
    let page = get(node.addr, "/metrics").body;
    for line in [
        "kvws_cluster_applied_revision 1\n",
        "kvws_cluster_replication_lag_revisions 0\n",
        "kvws_cluster_apply_lag_seconds_count 1\n",
    ] {
        assert!(page.contains(line), "{line} in\n{page}");
    }
    assert!(!page.contains("kvws_cluster_redis_roundtrip_seconds_count 0\n"));
    drop(c);

    // Redis lost after loading: still ready (reads go on), and it shows.
    redis.stop();
    let start = Instant::now();
    while !get(node.addr, "/metrics")
        .body
        .contains("kvws_cluster_redis_up 0\n")
    {
        assert!(start.elapsed() < 3 * PATIENCE, "the node never noticed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(node.addr, "/readyz").status, 200);
}
