//! Client requests as JSON text, and the options some of them take.
//!
//! Requests are written with the server's own field-by-field encoder
//! ([`Obj`]), so names are escaped the same way on both sides and values go
//! in as the JSON text the caller gave (checked to be one JSON value, never
//! re-encoded). Every request carries the `req` the client matches its
//! reply by.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{Error, Result};
use crate::protocol::encode::{Obj, write_str};

/// What a subscription watches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Exactly this key.
    Key(String),
    /// Every key starting with this prefix (`""`: the whole namespace).
    Prefix(String),
}

impl Topic {
    /// A key topic.
    pub fn key(key: impl Into<String>) -> Topic {
        Topic::Key(key.into())
    }

    /// A prefix topic.
    pub fn prefix(prefix: impl Into<String>) -> Topic {
        Topic::Prefix(prefix.into())
    }

    /// True when a change of `key` is covered by this topic.
    pub fn matches(&self, key: &str) -> bool {
        match self {
            Topic::Key(k) => k == key,
            Topic::Prefix(p) => key.starts_with(p.as_str()),
        }
    }

    fn field<'b>(&self, obj: Obj<'b>) -> Obj<'b> {
        match self {
            Topic::Key(k) => obj.str("key", k),
            Topic::Prefix(p) => obj.str("prefix", p),
        }
    }
}

/// The optional parts of a `set`, built like
/// `SetOptions::new().if_rev(7).ttl(Duration::from_secs(60))`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetOptions {
    /// Apply only if the key's revision is this (`0`: only if absent).
    pub if_rev: Option<u64>,
    /// Expire the key after this long (at least 1 ms).
    pub ttl: Option<Duration>,
    /// Delete the key when this connection closes.
    pub ephemeral: bool,
}

impl SetOptions {
    /// No conditions, no expiry, an ordinary key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compare-and-set: apply only if the key's revision is `rev`.
    #[must_use]
    pub fn if_rev(mut self, rev: u64) -> Self {
        self.if_rev = Some(rev);
        self
    }

    /// Expire the key after `ttl`.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Make the key ephemeral (deleted when this connection closes).
    #[must_use]
    pub fn ephemeral(mut self, ephemeral: bool) -> Self {
        self.ephemeral = ephemeral;
        self
    }
}

/// Which page of keys a `list` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys starting with this.
    pub prefix: String,
    /// Only keys after this one (exclusive).
    pub after: Option<String>,
    /// Most keys in the page (the server's default is 100, its cap 1,000).
    pub limit: Option<u64>,
}

impl ListOptions {
    /// Keys under `prefix`, from the first.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        ListOptions {
            prefix: prefix.into(),
            ..Self::default()
        }
    }

    /// Start after `key`.
    #[must_use]
    pub fn after(mut self, key: impl Into<String>) -> Self {
        self.after = Some(key.into());
        self
    }

    /// At most `limit` keys.
    #[must_use]
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// Checks that `text` is one JSON value; returns it without surrounding
/// whitespace.
pub fn check_json(text: &str) -> Result<&str> {
    let raw: &RawValue = serde_json::from_str(text)
        .map_err(|e| Error::BadInput(format!("the value is not JSON ({e}): {text}")))?;
    Ok(raw.get())
}

/// The value a person typed: `text` itself when it is JSON (`42`, `true`,
/// `{"a":1}`, `"quoted"`), otherwise `text` as a JSON string (`hello` →
/// `"hello"`). This is what `kvws set` and the shell do with a value.
pub fn json_or_string(text: &str) -> String {
    match check_json(text) {
        Ok(json) => json.to_string(),
        Err(_) => json_string(text),
    }
}

/// `text` as a JSON string, whatever it looks like (`42` → `"42"`).
pub fn json_string(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len() + 2);
    write_str(&mut out, text);
    String::from_utf8(out).expect("escaping keeps UTF-8")
}

fn build(kind: &str, req: u64, fill: impl FnOnce(Obj<'_>) -> Obj<'_>) -> String {
    let mut out = Vec::with_capacity(64);
    fill(Obj::new(&mut out, kind)).u64("req", req).end();
    String::from_utf8(out).expect("only UTF-8 is written")
}

/// `{"type":"get",...}`.
pub(crate) fn get(req: u64, id: &str, key: &str) -> String {
    build("get", req, |o| o.str("id", id).str("key", key))
}

/// `{"type":"set",...}`; `value` must already be checked JSON.
pub(crate) fn set(req: u64, id: &str, key: &str, value: &str, opts: &SetOptions) -> Result<String> {
    let ttl_ms = match opts.ttl {
        Some(ttl) if ttl < Duration::from_millis(1) => {
            return Err(Error::BadInput("a TTL must be at least 1 ms".into()));
        }
        Some(ttl) => Some(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
        None => None,
    };
    Ok(build("set", req, |o| {
        let mut o = o.str("id", id).str("key", key).raw("value", value);
        if let Some(rev) = opts.if_rev {
            o = o.u64("if_rev", rev);
        }
        if let Some(ms) = ttl_ms {
            o = o.u64("ttl_ms", ms);
        }
        o.flag("ephemeral", opts.ephemeral)
    }))
}

/// `{"type":"delete",...}`.
pub(crate) fn delete(req: u64, id: &str, key: &str, if_rev: Option<u64>) -> String {
    build("delete", req, |o| {
        let o = o.str("id", id).str("key", key);
        match if_rev {
            Some(rev) => o.u64("if_rev", rev),
            None => o,
        }
    })
}

/// `{"type":"subscribe",...}`.
pub(crate) fn subscribe(req: u64, id: &str, topic: &Topic, since: Option<u64>) -> String {
    build("subscribe", req, |o| {
        let o = topic.field(o.str("id", id));
        match since {
            Some(rev) => o.u64("since", rev),
            None => o,
        }
    })
}

/// `{"type":"unsubscribe",...}`.
pub(crate) fn unsubscribe(req: u64, id: &str, topic: &Topic) -> String {
    build("unsubscribe", req, |o| topic.field(o.str("id", id)))
}

/// `{"type":"list",...}`.
pub(crate) fn list(req: u64, id: &str, opts: &ListOptions) -> String {
    build("list", req, |o| {
        let mut o = o.str("id", id).str("prefix", &opts.prefix);
        if let Some(after) = &opts.after {
            o = o.str("after", after);
        }
        match opts.limit {
            Some(n) => o.u64("limit", n),
            None => o,
        }
    })
}

/// `{"type":"auth"|"upgrade","token":...}`.
pub(crate) fn token(kind: &str, req: u64, token: &str) -> String {
    build(kind, req, |o| o.str("token", token))
}

/// Gives a caller's raw JSON request a `req` (unless it has one already);
/// returns the message to send and its `req` as JSON text.
pub(crate) fn with_req(json: &str, req: u64) -> Result<(String, String)> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "type")]
        _kind: String,
        req: Option<Box<RawValue>>,
    }
    let body = json.trim();
    let probe: Probe = match serde_json::from_str(body) {
        Ok(p) if body.starts_with('{') => p,
        _ => {
            return Err(Error::BadInput(format!(
                "a request must be a JSON object with a string 'type': {json}"
            )));
        }
    };
    if let Some(req) = probe.req {
        return Ok((body.to_string(), req.get().to_string()));
    }
    let close = body.len() - 1; // A JSON object ends with '}'.
    Ok((
        format!("{},\"req\":{req}}}", &body[..close]),
        req.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_exact_json() {
        assert_eq!(
            get(1, "a", "k\""),
            r#"{"type":"get","id":"a","key":"k\"","req":1}"#
        );
        let opts = SetOptions::new()
            .if_rev(0)
            .ttl(Duration::from_millis(1500))
            .ephemeral(true);
        assert_eq!(
            set(2, "a", "k", "12345678901234567890", &opts).unwrap(),
            r#"{"type":"set","id":"a","key":"k","value":12345678901234567890,"if_rev":0,"ttl_ms":1500,"ephemeral":true,"req":2}"#
        );
        let zero = SetOptions::new().ttl(Duration::ZERO);
        assert!(matches!(
            set(3, "a", "k", "1", &zero),
            Err(Error::BadInput(_))
        ));
        assert_eq!(
            delete(4, "a", "k", Some(9)),
            r#"{"type":"delete","id":"a","key":"k","if_rev":9,"req":4}"#
        );
        assert_eq!(
            subscribe(5, "a", &Topic::prefix("p/"), Some(3)),
            r#"{"type":"subscribe","id":"a","prefix":"p/","since":3,"req":5}"#
        );
        assert_eq!(
            unsubscribe(6, "a", &Topic::key("k")),
            r#"{"type":"unsubscribe","id":"a","key":"k","req":6}"#
        );
        assert_eq!(
            list(7, "a", &ListOptions::prefix("p").after("p1").limit(2)),
            r#"{"type":"list","id":"a","prefix":"p","after":"p1","limit":2,"req":7}"#
        );
        assert_eq!(
            token("auth", 8, "t"),
            r#"{"type":"auth","token":"t","req":8}"#
        );
    }

    #[test]
    fn typed_values_and_raw_requests() {
        assert_eq!(json_or_string("42"), "42");
        assert_eq!(json_or_string(" {\"a\": 1} "), "{\"a\": 1}");
        assert_eq!(json_or_string("\"q\""), "\"q\"");
        assert_eq!(json_or_string("hello world"), "\"hello world\"");
        assert_eq!(json_or_string("say \"hi\"\n"), r#""say \"hi\"\n""#);
        assert_eq!(json_or_string(""), r#""""#);
        assert!(check_json("{").is_err());
        assert_eq!(json_string("42"), r#""42""#);
        assert_eq!(json_string(r#"{"a":1}"#), r#""{\"a\":1}""#);
        assert_eq!(
            with_req(r#" {"type":"ping"} "#, 3).unwrap(),
            (r#"{"type":"ping","req":3}"#.to_string(), "3".to_string())
        );
        assert_eq!(
            with_req(r#"{"type":"ping","req":"mine"}"#, 3).unwrap().1,
            r#""mine""#
        );
        for bad in ["[1]", r#"{"no":"type"}"#, "nope", r#"["ping"]"#] {
            assert!(with_req(bad, 1).is_err(), "{bad}");
        }
        assert!(Topic::prefix("a/").matches("a/b"));
        assert!(!Topic::key("a").matches("ab"));
    }
}
