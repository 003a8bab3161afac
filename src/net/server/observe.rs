//! What operators and their tools ask the server over HTTP: `/metrics`
//! (Prometheus), `/healthz` (the process serves) and `/readyz` (it should
//! get traffic).
//!
//! Readiness: a single node recovers its data before it even listens, so
//! once it answers it is ready; a cluster node is ready once its copy of
//! the store is loaded from Redis and caught up (it stays ready through a
//! later Redis outage: it still serves reads and subscriptions, and every
//! node would be equally unready, leaving the load balancer nothing). Both
//! stop being ready the moment a shutdown begins: the listener stays open
//! while clients are closed, answering `/readyz` with 503 so that a load
//! balancer takes the node out before it is gone, and every other request
//! with 503.

use std::time::Instant;

use super::Server;
use super::counters::Route;
use crate::metrics::{self, CONTENT_TYPE, Decision, Exposition};
use crate::net::http::{self, Request};
use crate::net::response::Response;

/// The paths served here.
pub const METRICS_PATH: &str = "/metrics";
/// See [`METRICS_PATH`].
pub const HEALTHZ_PATH: &str = "/healthz";
/// See [`METRICS_PATH`].
pub const READYZ_PATH: &str = "/readyz";

impl Server {
    /// Whether the server should be sent traffic: recovered (or, in cluster
    /// mode, loaded from Redis and caught up) and not shutting down. What
    /// `/readyz` answers.
    pub fn is_ready(&self) -> bool {
        self.stopping.is_none() && self.serving()
    }

    /// Answers `req` if it is for one of this module's paths; returns
    /// whether it was.
    pub(super) fn observe(&mut self, slot: usize, req: &Request, now: Instant) -> bool {
        let path = req.route_path();
        let route = match path {
            METRICS_PATH => Route::Metrics,
            HEALTHZ_PATH => Route::Healthz,
            READYZ_PATH => Route::Readyz,
            _ => return false,
        };
        self.conns.counters.route(route);
        let head_only = match req.method.as_str() {
            "GET" => false,
            "HEAD" => true,
            _ => {
                let refusal = http::error(http::Status::MethodNotAllowed);
                self.conns.respond(slot, &refusal, now);
                return true;
            }
        };
        let response = match route {
            Route::Healthz => plain(200, "ok\n"),
            Route::Readyz => self.readiness(),
            _ => self.metrics_response(slot, req),
        };
        let bytes = response
            .header("Cache-Control", "no-store")
            .encode(head_only);
        self.conns.respond(slot, &bytes, now);
        true
    }

    fn readiness(&self) -> Response {
        if self.stopping.is_some() {
            plain(503, "shutting down\n")
        } else if !self.serving() {
            plain(503, "loading the store from Redis\n")
        } else {
            plain(200, "ready\n")
        }
    }

    fn metrics_response(&self, slot: usize, req: &Request) -> Response {
        let Some(peer) = self.conns.get(slot).map(|c| c.peer()) else {
            return plain(503, "gone\n");
        };
        let token = self.config.metrics_token.as_ref();
        match metrics::decide(peer.ip(), req.header("authorization"), token) {
            Decision::Allow => Response::ok(CONTENT_TYPE, self.metrics_page()),
            Decision::Unauthorized => {
                log::warn!("{peer}: /metrics without the right token");
                plain(401, "a bearer token is required (--metrics-token)\n")
                    .header("WWW-Authenticate", "Bearer realm=\"kvws metrics\"")
            }
            Decision::Forbidden => {
                // Debug, not warn: strangers knocking would fill the log.
                log::debug!("{peer}: /metrics refused (not loopback; see --metrics-token)");
                plain(
                    403,
                    "/metrics is served to loopback only; start kvws with --metrics-token for other peers\n",
                )
            }
        }
    }

    /// The whole `/metrics` page.
    pub fn metrics_page(&self) -> String {
        let mut out = Exposition::new();
        out.family(
            "kvws_build_info",
            metrics::Kind::Gauge,
            "The running version (always 1).",
        );
        out.sample(
            "kvws_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1u64,
        );
        metrics::process::write(&mut out);
        out.gauge(
            "kvws_ready",
            "1 when /readyz answers 200 (recovered or loaded, not shutting down).",
            self.is_ready(),
        );
        out.histogram(
            "kvws_loop_step_duration_seconds",
            "How long each step of the poll loop worked between two waits: the longest step is the stall every client sees.",
            &self.step_time,
        );
        out.gauge(
            "kvws_connections",
            "Connections held, of every kind (HTTP, WebSocket, closing).",
            self.conns.len(),
        );
        out.gauge(
            "kvws_connections_limit",
            "--max-connections.",
            self.config.max_connections,
        );
        out.gauge(
            "kvws_client_buffers_bytes",
            "Bytes all clients' output queues and unfinished messages hold (bounded by --max-client-memory).",
            self.conns.held(),
        );
        self.conns.counters.write(&mut out);
        self.engine.write_metrics(&mut out);
        self.write_cluster_metrics(&mut out);
        out.finish()
    }
}

fn plain(status: u16, body: &str) -> Response {
    Response::new(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(body)
}
