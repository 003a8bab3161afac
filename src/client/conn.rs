//! One blocking WebSocket connection: connect with a deadline, send a
//! request, read until its reply, keep everything else as events.
//!
//! **Timeouts.** Every wait has a deadline, enforced with the socket's read
//! and write timeouts (set before each read to the time left). A read that
//! times out leaves tungstenite's buffered half-frame in place, so reading
//! again later is safe, and the connection stays usable after a request
//! timed out.
//!
//! **Matching replies.** The client numbers its requests (`req` 1, 2, ...)
//! and reads until the message with its `req` arrives. A message without
//! `req` (a notification, a prefix snapshot entry, a replayed change) is
//! queued as an [`Event`], in order, for [`Client::next_event`]. A reply to
//! a request that already timed out is recognised and dropped; any other
//! `req` (the reply to something sent with [`Client::send`]) is an event too.
//!
//! **Failure is final.** Once the connection is lost, every call returns
//! the same [`Error::ConnectionLost`]; reconnecting is a new `Client` (or
//! the [`Subscriber`](super::Subscriber)'s job).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use log::{debug, trace};
use tungstenite::{Message, WebSocket};

use super::connect::{ConnectOptions, is_timeout, open, time_left};
use super::error::{Error, Result};
use super::message::Incoming;
use super::reply::Event;
use super::stream::ClientStream;

/// Requests that timed out, remembered so that their late replies are
/// dropped rather than taken for events.
const LATE_REPLIES: usize = 64;

/// A blocking connection to a kvws server.
pub struct Client {
    ws: WebSocket<ClientStream>,
    url: String,
    options: ConnectOptions,
    next_req: u64,
    events: VecDeque<Event>,
    late: VecDeque<String>,
    failed: Option<Error>,
    last_heard: Instant,
}

impl Client {
    /// Connects to `url` (`ws://host:port/`, or `wss://` for TLS trusting
    /// the system's roots) with the default timeouts.
    pub fn connect(url: &str) -> Result<Client> {
        Self::connect_with(url, &ConnectOptions::default())
    }

    /// Connects to `url` within `options.connect_timeout`.
    pub fn connect_with(url: &str, options: &ConnectOptions) -> Result<Client> {
        let ws = open(url, options)?;
        debug!("connected to {url}");
        Ok(Client {
            ws,
            url: url.to_string(),
            options: options.clone(),
            next_req: 1,
            events: VecDeque::new(),
            late: VecDeque::new(),
            failed: None,
            last_heard: Instant::now(),
        })
    }

    /// The URL this client connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The timeouts in use.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// Changes how long requests wait for their reply.
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.options.request_timeout = timeout;
    }

    /// False once the connection is lost.
    pub fn is_connected(&self) -> bool {
        self.failed.is_none()
    }

    /// Time since the server last sent anything (a message, ping or pong).
    pub fn idle(&self) -> Duration {
        self.last_heard.elapsed()
    }

    /// Sends a ping; the pong counts as traffic for [`Client::idle`].
    pub fn ping(&mut self) -> Result<()> {
        self.check()?;
        self.write(Message::Ping(Default::default()))
    }

    /// Sends one JSON message as is, without a `req` and without waiting.
    /// Its reply, if any, comes back through [`Client::next_event`].
    pub fn send(&mut self, json: &str) -> Result<()> {
        self.check()?;
        self.write(Message::text(json))
    }

    /// The next event: a queued one first, else the next message to arrive
    /// within `timeout` (`None` waits forever). `Ok(None)` when nothing came.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let Some(msg) = self.read(deadline)? else {
                return Ok(None);
            };
            if !self.is_late(msg.req()) {
                return Ok(Some(msg.into_event()));
            }
        }
    }

    /// The next event already received (while waiting for a reply), without
    /// reading the socket.
    pub fn queued_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Closes the connection cleanly: sends a close frame and waits (up to
    /// the request timeout) for the server's.
    pub fn close(mut self) -> Result<()> {
        self.check()?;
        self.shut_down();
        Ok(())
    }

    /// Sends the request built for a fresh `req` and waits for its reply
    /// (an `error` reply becomes [`Error::Server`]).
    pub(crate) fn call(&mut self, build: impl FnOnce(u64) -> Result<String>) -> Result<Incoming> {
        let req = self.next_req;
        let text = build(req)?;
        self.call_with(text, req.to_string())
    }

    /// The `req` the next request will carry.
    pub(crate) fn peek_req(&self) -> u64 {
        self.next_req
    }

    /// Sends `text`, whose `req` is `req` (JSON text), and waits for the reply.
    pub(crate) fn call_with(&mut self, text: String, req: String) -> Result<Incoming> {
        self.check()?;
        self.next_req += 1;
        trace!("→ {text}");
        self.write(Message::text(text))?;
        let deadline = Instant::now() + self.options.request_timeout;
        loop {
            let Some(msg) = self.read(Some(deadline))? else {
                if self.late.len() == LATE_REPLIES {
                    self.late.pop_front();
                }
                self.late.push_back(req);
                return Err(Error::Timeout);
            };
            match msg.req() {
                Some(r) if r == req => return msg.check(),
                r if self.is_late(r) => {}
                // An error without `req` answers a request the server could
                // not read far enough to find its `req`: ours, as requests
                // are answered in order and ours is the one outstanding.
                None if msg.wire.kind == "error" => return msg.check(),
                _ => self.events.push_back(msg.into_event()),
            }
        }
    }

    /// True (and forgotten) when `req` is that of a request that timed out.
    fn is_late(&mut self, req: Option<&str>) -> bool {
        let Some(req) = req else { return false };
        match self.late.iter().position(|r| r == req) {
            Some(i) => {
                debug!("dropping the late reply to req {req}");
                self.late.remove(i);
                true
            }
            None => false,
        }
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, error: Error) -> Error {
        debug!("{}: {error}", self.url);
        self.failed = Some(error.clone());
        error
    }

    fn write(&mut self, msg: Message) -> Result<()> {
        let timeout = Some(self.options.request_timeout.max(Duration::from_millis(1)));
        if let Err(e) = self.ws.get_ref().tcp().set_write_timeout(timeout) {
            return Err(self.fail(Error::lost(e.to_string())));
        }
        match self.ws.send(msg) {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {
                // Part of a frame may have gone out: the stream is unusable.
                Err(self.fail(Error::lost("timed out writing to the server")))
            }
            Err(e) => Err(self.fail(Error::lost(e.to_string()))),
        }
    }

    /// Reads the next JSON message until `deadline` (`None`: forever).
    /// Tries at least once, so a deadline in the past polls.
    fn read(&mut self, deadline: Option<Instant>) -> Result<Option<Incoming>> {
        self.check()?;
        loop {
            let timeout = deadline.map(|d| {
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1))
            });
            if let Err(e) = self.ws.get_ref().tcp().set_read_timeout(timeout) {
                return Err(self.fail(Error::lost(e.to_string())));
            }
            let text = match self.ws.read() {
                Ok(Message::Text(t)) => t.as_str().to_string(),
                Ok(Message::Binary(b)) => match String::from_utf8(b.to_vec()) {
                    Ok(t) => t,
                    Err(_) => {
                        let e = Error::Protocol("a binary message that is not UTF-8".into());
                        return Err(self.fail(e));
                    }
                },
                Ok(Message::Close(frame)) => {
                    // tungstenite has queued the answer: send it, and end the
                    // TCP connection too (the server waits for that).
                    let _ = self.ws.flush();
                    let _ = self.ws.get_ref().tcp().shutdown(std::net::Shutdown::Both);
                    let (code, reason) = match frame {
                        Some(f) => (Some(u16::from(f.code)), f.reason.to_string()),
                        None => (None, String::new()),
                    };
                    let reason = if reason.is_empty() {
                        "the server closed the connection".to_string()
                    } else {
                        reason
                    };
                    return Err(self.fail(Error::ConnectionLost { code, reason }));
                }
                Ok(_) => {
                    self.last_heard = Instant::now();
                    continue;
                }
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                    continue;
                }
                Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                ) => {
                    return Err(self.fail(Error::lost("the server closed the connection")));
                }
                Err(e) => return Err(self.fail(Error::lost(e.to_string()))),
            };
            self.last_heard = Instant::now();
            trace!("← {text}");
            return Incoming::parse(text).map(Some);
        }
    }

    /// Sends a close frame and reads until the server's close (or timeout).
    fn shut_down(&mut self) {
        self.failed = Some(Error::lost("the client closed the connection"));
        let _ = self
            .ws
            .get_ref()
            .tcp()
            .set_write_timeout(Some(Duration::from_secs(1)));
        if self.ws.close(None).is_err() {
            return;
        }
        let deadline = Instant::now() + self.options.request_timeout;
        while let Some(left) = time_left(deadline) {
            let _ = self.ws.get_ref().tcp().set_read_timeout(Some(left));
            match self.ws.read() {
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => continue,
                Err(_) => break,
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.failed.is_none() {
            // A polite close frame without waiting for the answer.
            self.failed = Some(Error::lost("dropped"));
            let _ = self
                .ws
                .get_ref()
                .tcp()
                .set_write_timeout(Some(Duration::from_secs(1)));
            let _ = self.ws.close(None);
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("queued", &self.events.len())
            .field("failed", &self.failed)
            .finish()
    }
}
