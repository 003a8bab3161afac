//! The requests of the protocol as typed methods on [`Client`].
//!
//! Each method builds its request (see `request.rs`), waits for the reply
//! with the same `req`, and turns it into a typed reply or an
//! [`Error::Server`]. Values go in and come out as JSON text; the
//! `*_value` variants serialize with serde for callers who have a Rust
//! value rather than JSON text.

use serde::Serialize;

use super::conn::Client;
use super::error::{Error, Result};
use super::reply::{Authenticated, Deleted, Entry, Event, Keys, Subscribed};
use super::request::{self, ListOptions, SetOptions, Topic, check_json};

impl Client {
    /// The value and revision of `id`/`key` (`"null"` and 0 when absent).
    pub fn get(&mut self, id: &str, key: &str) -> Result<Entry> {
        self.call(|req| Ok(request::get(req, id, key)))?
            .into_entry()
    }

    /// Stores `value` (JSON text, sent exactly as given) under `id`/`key`;
    /// returns the stored value and its new revision.
    pub fn set(&mut self, id: &str, key: &str, value: &str, opts: &SetOptions) -> Result<Entry> {
        let value = check_json(value)?;
        self.call(|req| request::set(req, id, key, value, opts))?
            .into_entry()
    }

    /// Stores `value` serialized as JSON.
    pub fn set_value<T: Serialize + ?Sized>(
        &mut self,
        id: &str,
        key: &str,
        value: &T,
        opts: &SetOptions,
    ) -> Result<Entry> {
        let json = serde_json::to_string(value)
            .map_err(|e| Error::BadInput(format!("cannot serialize the value: {e}")))?;
        self.set(id, key, &json, opts)
    }

    /// Deletes `id`/`key` (only if its revision is `if_rev`, when given).
    pub fn delete(&mut self, id: &str, key: &str, if_rev: Option<u64>) -> Result<Deleted> {
        self.call(|req| Ok(request::delete(req, id, key, if_rev)))?
            .into_deleted()
    }

    /// Subscribes to a key or prefix, resuming after revision `since` when
    /// given. Prefix snapshot entries and replayed changes, which arrive
    /// before the reply, are queued as events for [`Client::next_event`].
    pub fn subscribe(&mut self, id: &str, topic: &Topic, since: Option<u64>) -> Result<Subscribed> {
        self.call(|req| Ok(request::subscribe(req, id, topic, since)))?
            .into_subscribed(topic)
    }

    /// Ends a subscription; returns the `unsubscribed` reply.
    pub fn unsubscribe(&mut self, id: &str, topic: &Topic) -> Result<Event> {
        let reply = self.call(|req| Ok(request::unsubscribe(req, id, topic)))?;
        if reply.wire.kind != "unsubscribed" {
            return Err(Error::Protocol(format!(
                "expected an unsubscribed reply, got {}",
                reply.text
            )));
        }
        Ok(reply.into_event())
    }

    /// One page of the keys of `id`.
    pub fn list(&mut self, id: &str, opts: &ListOptions) -> Result<Keys> {
        self.call(|req| Ok(request::list(req, id, opts)))?
            .into_keys()
    }

    /// Every key of `id` under `prefix`, paging with `list` (1,000 a page).
    pub fn list_all(&mut self, id: &str, prefix: &str) -> Result<Vec<String>> {
        let mut all = Vec::new();
        self.list_pages(id, prefix, |page| all.extend_from_slice(&page.keys))?;
        Ok(all)
    }

    /// Pages through the keys of `id` under `prefix`, calling `each` with
    /// every page in order; returns the number of keys.
    pub fn list_pages(
        &mut self,
        id: &str,
        prefix: &str,
        mut each: impl FnMut(&Keys),
    ) -> Result<usize> {
        let mut opts = ListOptions::prefix(prefix).limit(1000);
        let mut count = 0;
        loop {
            let page = self.list(id, &opts)?;
            count += page.keys.len();
            each(&page);
            match page.keys.last() {
                Some(last) if page.more => opts.after = Some(last.clone()),
                None if page.more => {
                    return Err(Error::Protocol("an empty page with more: true".into()));
                }
                _ => return Ok(count),
            }
        }
    }

    /// Presents a token; the reply says what the connection may do.
    pub fn auth(&mut self, token: &str) -> Result<Authenticated> {
        self.call(|req| Ok(request::token("auth", req, token)))?
            .into_authenticated()
    }

    /// Presents a manager token to raise the connection's role.
    pub fn upgrade(&mut self, token: &str) -> Result<Authenticated> {
        self.call(|req| Ok(request::token("upgrade", req, token)))?
            .into_authenticated()
    }

    /// Sends any request (a JSON object with a `type`, e.g. a message type
    /// an embedding server handles) and waits for the reply carrying its
    /// `req`. A `req` is added unless the object has one.
    pub fn request(&mut self, json: &str) -> Result<Event> {
        let (text, req) = request::with_req(json, self.peek_req())?;
        Ok(self.call_with(text, req)?.into_event())
    }
}
