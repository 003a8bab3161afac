//! A connection that survives disconnections: it remembers its
//! subscriptions (and the token it authenticated with), reconnects with
//! backoff, and resumes each subscription with `since`.
//!
//! Everything the caller needs to know comes out of one call,
//! [`Subscriber::next`], as a [`Notice`], in the order it happened:
//! messages, the loss of the connection, failed attempts, the reconnection,
//! and for each subscription its replayed changes followed by a
//! [`Notice::Resumed`] that says whether the server replayed what was
//! missed or asked for a resync. Reconnecting happens inside `next`, within
//! its timeout, so a caller's loop stays one loop.
//!
//! A connection that goes quiet is probed with a ping after `keepalive`
//! (default 30 s) and given up when nothing at all has come back within
//! another `keepalive`, so a peer that vanished without closing (a cable
//! pulled, a NAT entry dropped) is noticed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use log::{debug, info};

use super::conn::Client;
use super::connect::ConnectOptions;
use super::error::{Error, Result};
use super::reply::{Authenticated, Event, Subscribed};
use super::request::Topic;
use super::track::{Subscription, Tracker};

/// What happened, as reported by [`Subscriber::next`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Notice {
    /// A message: a notification, a prefix snapshot entry, a replayed change.
    Event(Event),
    /// The connection was lost; later calls reconnect.
    Lost(Error),
    /// An attempt to reconnect failed; the next follows after `retry_in`.
    RetryFailed {
        /// Why the attempt failed.
        error: Error,
        /// The delay before the next attempt.
        retry_in: Duration,
    },
    /// Connected (and authenticated) again; each subscription's replay and
    /// [`Notice::Resumed`] follow.
    Reconnected,
    /// A subscription is live again. The changes replayed for it (or, on a
    /// resync, its fresh snapshot) came just before, as events.
    Resumed {
        /// The namespace.
        id: String,
        /// The revision it resumed after (`since`).
        since: u64,
        /// The server's reply; `reply.resync` is true when changes may have
        /// been missed and what came with the reply is the new truth.
        reply: Subscribed,
    },
    /// The server refused to resume a subscription (e.g. `forbidden` after a
    /// token lost its rights); it is forgotten.
    Refused {
        /// The namespace.
        id: String,
        /// The key or prefix.
        topic: Topic,
        /// The server's error.
        error: Error,
    },
}

/// A [`Client`] that reconnects and resumes its subscriptions.
#[derive(Debug)]
pub struct Subscriber {
    url: String,
    options: ConnectOptions,
    client: Option<Client>,
    tracker: Tracker,
    token: Option<String>,
    upgrade_token: Option<String>,
    pending: VecDeque<Notice>,
    min_delay: Duration,
    max_delay: Duration,
    delay: Duration,
    next_try: Instant,
    failures: u32,
    max_retries: Option<u32>,
    keepalive: Option<Duration>,
    pinged: Option<Instant>,
}

impl Subscriber {
    /// Connects to `url`; fails if that first connection cannot be made.
    pub fn connect(url: &str, options: ConnectOptions) -> Result<Subscriber> {
        let client = Client::connect_with(url, &options)?;
        Ok(Subscriber {
            url: url.to_string(),
            options,
            client: Some(client),
            tracker: Tracker::default(),
            token: None,
            upgrade_token: None,
            pending: VecDeque::new(),
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            delay: Duration::from_millis(100),
            next_try: Instant::now(),
            failures: 0,
            max_retries: None,
            keepalive: Some(Duration::from_secs(30)),
            pinged: None,
        })
    }

    /// Waits `min` after the first failed attempt, doubling up to `max`.
    /// Default 100 ms to 5 s.
    #[must_use]
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_delay = min;
        self.max_delay = max.max(min);
        self.delay = min;
        self
    }

    /// Pings a connection quiet for `every`, and drops it when nothing
    /// comes back within another `every` (`None`: never). Default 30 s.
    #[must_use]
    pub fn with_keepalive(mut self, every: Option<Duration>) -> Self {
        self.keepalive = every.filter(|d| !d.is_zero());
        self
    }

    /// Gives up (`next` returns the error) after this many failed attempts
    /// in a row. Default `None`: keeps trying.
    #[must_use]
    pub fn with_max_retries(mut self, retries: Option<u32>) -> Self {
        self.max_retries = retries;
        self
    }

    /// Authenticates; the token is presented again after every reconnect.
    pub fn auth(&mut self, token: &str) -> Result<Authenticated> {
        let reply = self.client()?.auth(token)?;
        self.token = Some(token.to_string());
        Ok(reply)
    }

    /// Raises the connection's role; repeated after every reconnect.
    pub fn upgrade(&mut self, token: &str) -> Result<Authenticated> {
        let reply = self.client()?.upgrade(token)?;
        self.upgrade_token = Some(token.to_string());
        Ok(reply)
    }

    /// Subscribes (see [`Client::subscribe`]) and keeps the subscription
    /// alive across reconnects.
    pub fn subscribe(&mut self, id: &str, topic: Topic, since: Option<u64>) -> Result<Subscribed> {
        let reply = self.client()?.subscribe(id, &topic, since)?;
        self.tracker.subscribed(id, &reply);
        Ok(reply)
    }

    /// Ends a subscription; returns the `unsubscribed` reply.
    pub fn unsubscribe(&mut self, id: &str, topic: &Topic) -> Result<Event> {
        self.tracker.remove(id, topic);
        self.client()?.unsubscribe(id, topic)
    }

    /// The subscriptions kept alive and the revision each would resume after.
    pub fn subscriptions(&self) -> &[Subscription] {
        self.tracker.list()
    }

    /// The current connection, for other requests (`get`, `set`, ...).
    /// Subscribe through the `Subscriber`, not here, to have a subscription
    /// resumed.
    pub fn client(&mut self) -> Result<&mut Client> {
        match &mut self.client {
            Some(c) if c.is_connected() => Ok(c),
            _ => Err(Error::lost("not connected (reconnecting)")),
        }
    }

    /// True while connected.
    pub fn is_connected(&self) -> bool {
        self.client.as_ref().is_some_and(Client::is_connected)
    }

    /// A notice already received, without reading or reconnecting.
    pub fn queued(&mut self) -> Option<Notice> {
        let notice = match self.pending.pop_front() {
            Some(n) => n,
            None => Notice::Event(self.client.as_mut()?.queued_event()?),
        };
        if let Notice::Event(e) = &notice {
            self.tracker.observe(e);
        }
        Some(notice)
    }

    /// The next notice within `timeout` (`None`: wait as long as it takes),
    /// reconnecting as needed; `Ok(None)` when nothing happened. Errors are
    /// what reconnecting cannot fix: a server refusing the token, or too
    /// many failed attempts.
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<Option<Notice>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(notice) = self.queued() {
                return Ok(Some(notice));
            }
            if self.client.is_some() {
                self.poll(deadline);
            } else {
                self.retry(deadline)?;
            }
            if self.pending.is_empty() && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// Reads from the connection until `deadline` or a keepalive check.
    fn poll(&mut self, deadline: Option<Instant>) {
        let Some(c) = self.client.as_mut() else {
            return;
        };
        let mut wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if let Some(k) = self.keepalive {
            // Until the next ping is due, or until the pong is overdue.
            let until = match self.pinged {
                Some(at) => k.saturating_sub(at.elapsed()),
                None => k.saturating_sub(c.idle()),
            };
            let until = until.max(Duration::from_millis(1));
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        let error = match c.next_event(wait) {
            Ok(Some(e)) => {
                self.pinged = None;
                self.pending.push_back(Notice::Event(e));
                return;
            }
            Ok(None) => {
                let Some(k) = self.keepalive else { return };
                if let Some(at) = self.pinged {
                    if c.idle() < at.elapsed() {
                        self.pinged = None; // heard from the server since
                    } else if at.elapsed() >= k {
                        self.lose(Error::lost("no answer to a ping"));
                        return;
                    }
                }
                if self.pinged.is_some() || c.idle() < k {
                    return;
                }
                self.pinged = Some(Instant::now());
                match c.ping() {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        self.lose(error);
    }

    /// Records the loss of the connection.
    fn lose(&mut self, error: Error) {
        let Some(mut c) = self.client.take() else {
            return;
        };
        info!("{}: {error}", self.url);
        while let Some(e) = c.queued_event() {
            self.pending.push_back(Notice::Event(e));
        }
        self.pending.push_back(Notice::Lost(error));
        self.pinged = None;
        self.next_try = Instant::now();
        self.delay = self.min_delay;
    }

    /// Makes one attempt to reconnect when its time has come (sleeping
    /// until then, within `deadline`).
    fn retry(&mut self, deadline: Option<Instant>) -> Result<()> {
        let now = Instant::now();
        if now < self.next_try {
            let until = deadline.map_or(self.next_try, |d| d.min(self.next_try));
            std::thread::sleep(until.saturating_duration_since(now));
            return Ok(());
        }
        match self.reconnect() {
            Ok(()) => {
                self.failures = 0;
                Ok(())
            }
            Err(error) if error.is_connection() => {
                self.failures += 1;
                if self.max_retries.is_some_and(|m| self.failures > m) {
                    return Err(error);
                }
                let retry_in = self.delay;
                debug!(
                    "{}: reconnecting failed ({error}); next in {retry_in:?}",
                    self.url
                );
                self.next_try = Instant::now() + retry_in;
                self.delay = (self.delay * 2).min(self.max_delay);
                self.pending
                    .push_back(Notice::RetryFailed { error, retry_in });
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    fn reconnect(&mut self) -> Result<()> {
        let mut c = Client::connect_with(&self.url, &self.options)?;
        if let Some(token) = &self.token {
            c.auth(token)?;
        }
        if let Some(token) = &self.upgrade_token {
            c.upgrade(token)?;
        }
        info!("{}: reconnected", self.url);
        self.pending.push_back(Notice::Reconnected);
        for sub in self.tracker.list().to_vec() {
            let result = c.subscribe(&sub.id, &sub.topic, Some(sub.last_rev));
            while let Some(e) = c.queued_event() {
                self.pending.push_back(Notice::Event(e));
            }
            match result {
                Ok(reply) => {
                    self.tracker.subscribed(&sub.id, &reply);
                    self.pending.push_back(Notice::Resumed {
                        id: sub.id,
                        since: sub.last_rev,
                        reply,
                    });
                }
                Err(e) if e.is_connection() => return Err(e),
                Err(error) => {
                    self.tracker.remove(&sub.id, &sub.topic);
                    self.pending.push_back(Notice::Refused {
                        id: sub.id,
                        topic: sub.topic,
                        error,
                    });
                }
            }
        }
        self.client = Some(c);
        Ok(())
    }
}
