//! What an HTTP request head gets: the test page, an error, or (after the
//! origin check and the embedding program's say) a WebSocket.

use std::time::Instant;

use log::{debug, warn};

use super::Server;
use super::conns::Out;
use super::counters::{Refused, Route as Counted};
use crate::hooks::{Context, HttpRequest, OpenRequest};
use crate::net::http::{self, Route};
use crate::net::origin;

impl Server {
    pub(super) fn on_request(
        &mut self,
        slot: usize,
        req: &http::Request,
        now: Instant,
        now_ms: u64,
    ) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let (peer, id) = (conn.peer(), conn.id());
        debug!("{peer}: {} {}", req.method, req.route_path());
        let open = self.config.secret.is_none();
        let upgrade = req.has_token("upgrade", "websocket");
        if upgrade {
            self.conns.counters.route(Counted::WebSocket);
        }
        if !origin::host_allowed(req, &self.config.allowed_hosts, open) {
            let host = req.header("host").unwrap_or_default();
            warn!("{peer}: request for host {host:?} refused (see --allow-host)");
            self.conns.counters.refused(Refused::Host);
            return self.conns.respond(
                slot,
                &http::forbidden("host not allowed; start kvws with --allow-host for this name"),
                now,
            );
        }
        if !upgrade && self.observe(slot, req, now) {
            return;
        }
        if self.stopping.is_some() {
            // Probes were answered above; nothing else is served now.
            debug!("{peer}: refused, shutting down");
            self.conns.counters.refused(Refused::ShuttingDown);
            return self
                .conns
                .respond(slot, &http::error(http::Status::Unavailable), now);
        }
        if !upgrade {
            let (path, query) = match req.path.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (req.path.as_str(), None),
            };
            let request = HttpRequest {
                peer,
                method: &req.method,
                path,
                query,
                headers: &req.headers,
            };
            if let Some(response) = self.hooks.on_http(&request) {
                debug!(
                    "{peer}: answered by the embedding program ({})",
                    response.status
                );
                let bytes = response.encode(req.method == "HEAD");
                self.conns.counters.route(Counted::Embedder);
                return self.conns.respond(slot, &bytes, now);
            }
        }
        match http::route(req) {
            Route::Page { head_only } => {
                self.conns.counters.route(Counted::Page);
                self.conns.respond(slot, &http::page(head_only), now)
            }
            Route::ClientJs {
                head_only,
                not_modified,
            } => {
                self.conns.counters.route(Counted::ClientJs);
                self.conns
                    .respond(slot, &http::client_js(head_only, not_modified), now)
            }
            Route::Reject(status) => {
                if upgrade {
                    self.conns.counters.refused(Refused::BadHandshake);
                } else {
                    self.conns.counters.route(Counted::Other);
                }
                self.conns.respond(slot, &http::error(status), now)
            }
            Route::Upgrade { .. } if !origin::origin_allowed(req, &self.config.allowed_origins) => {
                let origin = req.header("origin").unwrap_or_default();
                warn!("{peer}: WebSocket from origin {origin:?} refused (see --allow-origin)");
                self.conns.counters.refused(Refused::Origin);
                self.conns.respond(
                    slot,
                    &http::forbidden("cross-origin WebSocket not allowed"),
                    now,
                );
            }
            Route::Upgrade { .. } if !self.serving() => {
                debug!("{peer}: WebSocket refused while the store is loading from Redis");
                self.conns.counters.refused(Refused::Loading);
                self.conns
                    .respond(slot, &http::error(http::Status::Unavailable), now);
            }
            Route::Upgrade { accept, protocol } => {
                let open = OpenRequest {
                    conn: id,
                    peer,
                    path: &req.path,
                    headers: &req.headers,
                };
                if let Err(refusal) = self.hooks.on_open(&open) {
                    debug!("{peer}: refused by the embedding program: {refusal}");
                    self.conns.counters.refused(Refused::Embedder);
                    return self
                        .conns
                        .respond(slot, &http::forbidden(&refusal.reason), now);
                }
                let response = http::switching_protocols(&accept, protocol);
                let limits = self.limits.initial;
                self.conns
                    .with(slot, |c| c.upgrade(&response, req.head_len, limits));
                self.engine.open(id, Some(peer));
                self.conns.counters.websockets_opened += 1;
                debug!("{peer}: WebSocket open as {id}");
                let mut out = Out {
                    conns: &mut self.conns,
                    authenticated: self.limits.authenticated,
                };
                self.hooks
                    .on_established(&mut Context::new(&mut self.engine, &mut out, now_ms), id);
                if self.conns.get(slot).is_some_and(|c| c.has_buffered_input()) {
                    self.read_round(slot, false, now, now_ms);
                }
            }
        }
    }
}
