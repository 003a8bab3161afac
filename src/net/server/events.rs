//! What happens on a connection: reading, answering the request head,
//! handing messages to the engine, flushing, and ending.

use std::time::Instant;

use crate::protocol::frame::FrameRef;
use log::{debug, trace, warn};
use mio::{Interest, Token};
use slab::Slab;
use tungstenite::protocol::frame::coding::CloseCode;

use super::{READ_BUDGET, Server};
use crate::config::Config;
use crate::engine::Outbound;
use crate::hooks::{Context, CustomMessage, OpenRequest};
use crate::net::connection::{Connection, Ending, HeadStatus, Inbound, ReadStatus};
use crate::net::http::{self, Route};
use crate::net::origin;
use crate::store::ConnId;

impl Server {
    /// Reads whatever the connection's phase reads; returns messages handled.
    /// `edge` says a readiness event without a hang-up or error brought us
    /// here, so a short read may end the round (see `Wire::lend`).
    pub(super) fn on_readable(
        &mut self,
        token: ConnId,
        edge: bool,
        now: Instant,
        now_ms: u64,
    ) -> usize {
        let Some(conn) = self.conns.get_mut(token) else {
            return 0;
        };
        if conn.in_head() {
            match conn.read_head() {
                HeadStatus::Waiting => {}
                HeadStatus::Complete(req) => self.on_request(token, &req, now, now_ms),
                HeadStatus::Invalid(status) => self.respond(token, &http::error(status), now),
                HeadStatus::Gone => self.remove(token),
            }
            return 0;
        }
        if conn.queued() > self.config.max_output_buffer / 2 && conn.is_open() {
            // Back-pressure: a client that does not read its replies is not
            // read either until its queue drains (see `flush_conn`).
            self.pending_after_flush(token);
            return 0;
        }
        let mut batch = std::mem::take(&mut self.batch);
        let status = conn.read_messages(&mut self.shared_input, &mut batch, READ_BUDGET, now, edge);
        let handled = batch.len();
        for msg in batch.iter() {
            match msg {
                Inbound::Text(text) => self.dispatch(token, text, now_ms),
                Inbound::Binary(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => self.dispatch(token, text, now_ms),
                    Err(_) => self.engine.reject_binary(
                        token,
                        &mut out(&mut self.conns, &mut self.dirty, &self.config),
                    ),
                },
            }
        }
        batch.clear();
        self.batch = batch;
        if let Some(conn) = self.conns.get_mut(token)
            && conn.queued() > 0
        {
            // tungstenite may have queued a pong.
            mark_dirty(conn, token, &mut self.dirty);
        }
        match status {
            ReadStatus::Drained => {}
            ReadStatus::More => self.pending.push(token),
            ReadStatus::End(ending) => self.end(token, ending, now),
        }
        handled
    }

    /// Hands one message to the engine, and to the hooks if the engine does
    /// not know its type.
    fn dispatch(&mut self, token: ConnId, text: &str, now_ms: u64) {
        trace!("{token} <- {text}");
        let mut out = out(&mut self.conns, &mut self.dirty, &self.config);
        let Some(unknown) = self.engine.handle(token, text, now_ms, &mut out) else {
            return;
        };
        let message = CustomMessage {
            kind: &unknown.kind,
            text: unknown.text,
            req: unknown.req.map(|r| r.get()),
        };
        let mut ctx = Context::new(&mut self.engine, &mut out, now_ms);
        if !self.hooks.on_message(&mut ctx, token, &message) {
            self.engine.reject_unknown(token, &unknown, &mut out);
        }
    }

    pub(super) fn on_request(
        &mut self,
        token: ConnId,
        req: &http::Request,
        now: Instant,
        now_ms: u64,
    ) {
        let peer = self.conns[token].peer;
        debug!("{peer}: {} {}", req.method, req.path);
        match http::route(req) {
            Route::Page { head_only } => self.respond(token, &http::page(head_only), now),
            Route::Reject(status) => self.respond(token, &http::error(status), now),
            Route::Upgrade { .. } if !origin::origin_allowed(req, &self.config.allowed_origins) => {
                let origin = req.header("origin").unwrap_or_default();
                warn!("{peer}: WebSocket from origin {origin:?} refused (see --allow-origin)");
                self.respond(
                    token,
                    &http::forbidden("cross-origin WebSocket not allowed"),
                    now,
                );
            }
            Route::Upgrade { accept, protocol } => {
                let open = OpenRequest {
                    conn: token,
                    peer,
                    path: &req.path,
                    headers: &req.headers,
                };
                if let Err(refusal) = self.hooks.on_open(&open) {
                    debug!("{peer}: refused by the embedding program: {refusal}");
                    return self.respond(token, &http::forbidden(&refusal.reason), now);
                }
                let response = http::switching_protocols(&accept, protocol);
                let conn = &mut self.conns[token];
                conn.upgrade(&response, req.head_len, self.ws_config);
                mark_dirty(conn, token, &mut self.dirty);
                self.engine.open(token, Some(peer));
                debug!("{peer}: WebSocket open");
                let mut out = out(&mut self.conns, &mut self.dirty, &self.config);
                self.hooks
                    .on_established(&mut Context::new(&mut self.engine, &mut out, now_ms), token);
                if self.conns[token].has_buffered_input() {
                    self.on_readable(token, false, now, now_ms);
                }
            }
        }
    }

    pub(super) fn respond(&mut self, token: ConnId, response: &[u8], now: Instant) {
        let conn = &mut self.conns[token];
        conn.respond(response, now, self.config.close_timeout);
        mark_dirty(conn, token, &mut self.dirty);
    }

    /// Tells the engine a connection is gone (its subscriptions and
    /// ephemeral keys with it), once.
    pub(super) fn retire(&mut self, token: ConnId) {
        if self.conns.get(token).is_some_and(Connection::is_open) {
            let mut out = out(&mut self.conns, &mut self.dirty, &self.config);
            self.engine.close(token, &mut out);
            let now_ms = crate::net::server::unix_ms();
            self.hooks
                .on_close(&mut Context::new(&mut self.engine, &mut out, now_ms), token);
        }
    }

    pub(super) fn end(&mut self, token: ConnId, ending: Ending, now: Instant) {
        self.retire(token);
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        debug!("{}: ending ({ending:?})", conn.peer);
        if conn.end(ending, now, self.config.close_timeout) {
            mark_dirty(conn, token, &mut self.dirty);
        } else {
            self.remove(token);
        }
    }

    pub(super) fn remove(&mut self, token: ConnId) {
        self.retire(token);
        if let Some(mut conn) = self.conns.try_remove(token) {
            if let Some(sock) = conn.socket() {
                let _ = self.poll.registry().deregister(sock);
            }
            debug!("{}: closed", conn.peer);
        }
    }

    pub(super) fn pending_after_flush(&mut self, token: ConnId) {
        if let Some(conn) = self.conns.get_mut(token) {
            conn.read_paused = true;
            mark_dirty(conn, token, &mut self.dirty);
        }
    }

    /// Makes this step's changes durable, then sends everything queued.
    /// Nothing is sent if the changes could not be made durable: the error
    /// stops the server rather than acknowledge writes that may be lost.
    pub(super) fn flush_all(&mut self, now: Instant) -> std::io::Result<()> {
        if let Err(e) = self.engine.commit_journal() {
            log::error!(
                "cannot write the log: {e}; stopping without acknowledging this step's changes"
            );
            return Err(e);
        }
        // Closing a connection can queue output for others (its ephemeral
        // keys are deleted), so repeat until nothing new is dirty.
        while !self.dirty.is_empty() {
            let mut batch = std::mem::take(&mut self.dirty);
            for &token in &batch {
                self.flush_conn(token, now);
            }
            batch.clear();
            if self.dirty.is_empty() {
                self.dirty = batch;
            }
        }
        Ok(())
    }

    pub(super) fn flush_conn(&mut self, token: ConnId, now: Instant) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.dirty = false;
        if let Some((code, reason)) = conn.close_request.take()
            && conn.is_open()
        {
            self.retire(token);
            let conn = &mut self.conns[token];
            conn.close(code, reason, now, self.config.close_timeout);
        }
        let conn = &mut self.conns[token];
        if conn.overflowed && conn.is_open() {
            warn!(
                "{}: slow consumer, more than {} bytes queued; disconnecting",
                conn.peer, self.config.max_output_buffer
            );
            self.retire(token);
            let conn = &mut self.conns[token];
            conn.close(
                CloseCode::Policy,
                "output buffer limit",
                now,
                self.config.close_timeout,
            );
        }
        let conn = &mut self.conns[token];
        match conn.flush() {
            Ok(true) => {
                if conn.writable {
                    conn.writable = false;
                    if let Some(sock) = conn.socket() {
                        let _ =
                            self.poll
                                .registry()
                                .reregister(sock, Token(token), Interest::READABLE);
                    }
                }
                if std::mem::take(&mut conn.read_paused) {
                    self.pending.push(token);
                }
            }
            Ok(false) => {
                if !conn.writable {
                    conn.writable = true;
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Some(sock) = conn.socket() {
                        let _ = self
                            .poll
                            .registry()
                            .reregister(sock, Token(token), interest);
                    }
                }
            }
            Err(e) => {
                debug!("{}: write failed: {e}", conn.peer);
                self.remove(token);
            }
        }
    }
}

pub(super) fn mark_dirty(conn: &mut Connection, token: ConnId, dirty: &mut Vec<ConnId>) {
    if !conn.dirty {
        conn.dirty = true;
        dirty.push(token);
    }
}

/// The engine's view of the connections: queue output, note who needs a flush.
pub(super) struct Out<'a> {
    conns: &'a mut Slab<Connection>,
    dirty: &'a mut Vec<ConnId>,
    cap: usize,
}

pub(super) fn out<'a>(
    conns: &'a mut Slab<Connection>,
    dirty: &'a mut Vec<ConnId>,
    config: &Config,
) -> Out<'a> {
    Out {
        conns,
        dirty,
        cap: config.max_output_buffer,
    }
}

impl Outbound for Out<'_> {
    fn send(&mut self, to: ConnId, json: &[u8]) {
        if let Some(conn) = self.conns.get_mut(to) {
            conn.send_text(json, self.cap);
            mark_dirty(conn, to, self.dirty);
        }
    }

    fn send_frame(&mut self, to: ConnId, frame: FrameRef<'_>) {
        if let Some(conn) = self.conns.get_mut(to) {
            conn.send_frame(frame, self.cap);
            mark_dirty(conn, to, self.dirty);
        }
    }

    fn close(&mut self, to: ConnId, code: u16, reason: &'static str) {
        if let Some(conn) = self.conns.get_mut(to) {
            conn.close_request
                .get_or_insert((CloseCode::from(code), reason));
            mark_dirty(conn, to, self.dirty);
        }
    }
}
