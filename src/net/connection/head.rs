//! The `Head` phase: reading the HTTP request head within its size limit,
//! then leaving it either with a plain HTTP response (and draining) or with
//! the WebSocket upgrade, which builds the tungstenite socket with our
//! settings. Apart from `open` because nothing here is WebSocket traffic.

use std::io;
use std::time::{Duration, Instant};

use tungstenite::protocol::{WebSocket, WebSocketConfig};

use super::{Connection, Limits, State};
use crate::net::http::{self, HeadError, Status};
use crate::net::wire::{Stream, Wire};

/// tungstenite's own read buffer per connection. Its default (128 KiB) would
/// cost 1.3 GB at 10,000 connections. Ours is fed from the server's shared
/// buffer (see `net::wire`), so it only needs to hold a frame header and a
/// small message; larger frames grow it, and it is renewed after them.
const TUNGSTENITE_READ_BUFFER: usize = 512;

/// What reading a request head produced.
#[derive(Debug)]
pub(crate) enum HeadStatus {
    /// More bytes are needed.
    Waiting,
    /// More may be there already: the stream stopped on its own budget.
    More,
    /// A complete head.
    Complete(Box<http::Request>),
    /// An invalid or oversized head: answer with this status.
    Invalid(Status),
    /// The peer went away.
    Gone,
}

impl<S: Stream> Connection<S> {
    /// Reads the request head until it is complete or the socket is dry.
    pub fn read_head(&mut self) -> HeadStatus {
        let State::Head { wire, buf } = &mut self.state else {
            return HeadStatus::Waiting;
        };
        wire.sock.new_turn();
        let mut chunk = [0u8; 2048];
        loop {
            let want = chunk
                .len()
                .min(http::MAX_HEAD + 1 - buf.len().min(http::MAX_HEAD));
            match wire.sock.read(&mut chunk[..want]) {
                Ok(0) => return HeadStatus::Gone,
                Ok(n) => {
                    self.received += n as u64;
                    buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if wire.sock.stopped_early() {
                        HeadStatus::More
                    } else {
                        HeadStatus::Waiting
                    };
                }
                Err(_) if wire.sock.spoke_plaintext() => {
                    return HeadStatus::Invalid(Status::BadRequest(
                        "this port speaks TLS: use https:// or wss://",
                    ));
                }
                Err(_) => return HeadStatus::Gone,
            }
            match http::parse_head(buf) {
                Ok(None) => continue,
                Ok(Some(req)) => return HeadStatus::Complete(Box::new(req)),
                Err(HeadError::TooLarge) => return HeadStatus::Invalid(Status::HeadTooLarge),
                Err(HeadError::Malformed) => {
                    return HeadStatus::Invalid(Status::BadRequest("not an HTTP/1.1 request"));
                }
            }
        }
    }

    /// Answers with a plain HTTP response and starts draining.
    pub fn respond(&mut self, response: &[u8], now: Instant, close_timeout: Duration) {
        if let Some(wire) = self.wire_mut() {
            wire.out.push_raw(response);
        }
        self.start_draining(now, close_timeout);
    }

    /// Completes the WebSocket handshake with `response` (the 101) and opens
    /// the connection under `limits`; bytes that came after the head are
    /// kept for tungstenite.
    pub fn upgrade(&mut self, response: &[u8], head_len: usize, limits: Limits) {
        let State::Head { wire, buf } = std::mem::replace(&mut self.state, State::Gone) else {
            return;
        };
        let mut wire = Wire::new(wire.sock, buf[head_len..].to_vec());
        wire.out.push_raw(response);
        wire.set_control_cap(limits.out_cap);
        let ws = WebSocket::from_raw_socket(
            wire,
            tungstenite::protocol::Role::Server,
            Some(ws_config(limits.max_message)),
        );
        self.state = State::Open {
            ws: Box::new(ws),
            closing: false,
        };
        self.limits = limits;
        self.deadline = None;
        self.session = true;
    }
}

/// tungstenite settings for a server connection whose messages may be as
/// large as `max_message`.
pub(crate) fn ws_config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(TUNGSTENITE_READ_BUFFER)
        // Frames go straight through to our own queue (see `net::wire`);
        // what tungstenite holds back itself is one control frame at most.
        .write_buffer_size(0)
        .max_write_buffer_size(1024)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}
