//! Server messages as the client sees them: parsed once, with values kept
//! as the exact JSON text received.
//!
//! Every message is parsed into one [`Wire`] struct that knows every field
//! of every server message; the typed replies ([`Entry`], [`Deleted`],
//! [`Subscribed`], [`Keys`], [`Authenticated`], in `reply.rs`) and the
//! [`Event`]s are cut from it. Values and `req` are `RawValue`s, never
//! `serde_json::Value`s: a big integer or an unusual number format survives
//! the trip byte for byte, as the server promises. Each typed reply also
//! keeps the message's full text, for callers that print or forward it.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::error::{Error, Result};
use super::reply::{Authenticated, Deleted, Entry, Event, Keys, Subscribed};
use super::request::Topic;

/// Deserializes a field that is present as `Some`, even when it is `null`
/// (serde's `Option` would turn a JSON `null` value into `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// Every field any server message has.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Wire {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    pub key: Option<String>,
    pub prefix: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub value: Option<Box<RawValue>>,
    pub rev: Option<u64>,
    pub reason: Option<String>,
    #[serde(default)]
    pub resync: bool,
    #[serde(default, deserialize_with = "present")]
    pub req: Option<Box<RawValue>>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub keys: Option<Vec<String>>,
    pub more: Option<bool>,
    pub role: Option<String>,
    pub ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub access: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "present")]
    pub expires: Option<Box<RawValue>>,
}

/// One server message with its text.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub wire: Wire,
    pub text: String,
}

impl Incoming {
    /// Parses one server message.
    pub fn parse(text: String) -> Result<Incoming> {
        match serde_json::from_str::<Wire>(&text) {
            Ok(wire) => Ok(Incoming { wire, text }),
            Err(e) => Err(Error::Protocol(format!(
                "unreadable server message ({e}): {text}"
            ))),
        }
    }

    /// The `req` as JSON text, if the message has one.
    pub fn req(&self) -> Option<&str> {
        self.wire.req.as_deref().map(RawValue::get)
    }

    /// Turns an `error` message into [`Error::Server`]; passes others on.
    pub fn check(self) -> Result<Incoming> {
        if self.wire.kind != "error" {
            return Ok(self);
        }
        Err(Error::Server {
            code: self.wire.code.unwrap_or_default(),
            message: self.wire.message.unwrap_or_default(),
            rev: self.wire.rev,
            text: self.text,
        })
    }

    fn unexpected(&self, wanted: &str) -> Error {
        Error::Protocol(format!("expected {wanted}, got {}", self.text))
    }

    fn raw(v: Option<Box<RawValue>>) -> Option<String> {
        v.map(|v| v.get().to_string())
    }

    /// Cuts the generic event from the message.
    pub fn into_event(self) -> Event {
        let w = self.wire;
        Event {
            kind: w.kind,
            id: w.id,
            key: w.key,
            prefix: w.prefix,
            value: Self::raw(w.value),
            rev: w.rev,
            reason: w.reason,
            resync: w.resync,
            req: Self::raw(w.req),
            text: self.text,
        }
    }

    /// A `value` reply (to `set`, `get`).
    pub fn into_entry(self) -> Result<Entry> {
        match self.wire {
            Wire {
                ref kind,
                id: Some(_),
                key: Some(_),
                value: Some(_),
                rev: Some(_),
                ..
            } if kind == "value" => {}
            _ => return Err(self.unexpected("a value reply")),
        }
        let w = self.wire;
        Ok(Entry {
            id: w.id.unwrap_or_default(),
            key: w.key.unwrap_or_default(),
            value: Self::raw(w.value).unwrap_or_default(),
            rev: w.rev.unwrap_or_default(),
            resync: w.resync,
            text: self.text,
        })
    }

    /// A `deleted` reply.
    pub fn into_deleted(self) -> Result<Deleted> {
        if self.wire.kind != "deleted" || self.wire.rev.is_none() {
            return Err(self.unexpected("a deleted reply"));
        }
        let w = self.wire;
        Ok(Deleted {
            id: w.id.unwrap_or_default(),
            key: w.key.unwrap_or_default(),
            rev: w.rev.unwrap_or_default(),
            text: self.text,
        })
    }

    /// The direct reply to a `subscribe`: `value` for a key, `subscribed`
    /// after a prefix snapshot or a `since` replay.
    pub fn into_subscribed(self, topic: &Topic) -> Result<Subscribed> {
        let ok = match self.wire.kind.as_str() {
            "value" => matches!(topic, Topic::Key(_)) && self.wire.value.is_some(),
            "subscribed" => true,
            _ => false,
        };
        if !ok || self.wire.rev.is_none() {
            return Err(self.unexpected("a subscribe reply"));
        }
        let w = self.wire;
        Ok(Subscribed {
            topic: topic.clone(),
            rev: w.rev.unwrap_or_default(),
            value: Self::raw(w.value),
            resync: w.resync,
            text: self.text,
        })
    }

    /// A `keys` reply.
    pub fn into_keys(self) -> Result<Keys> {
        if self.wire.kind != "keys" || self.wire.keys.is_none() {
            return Err(self.unexpected("a keys reply"));
        }
        let w = self.wire;
        Ok(Keys {
            keys: w.keys.unwrap_or_default(),
            more: w.more.unwrap_or(false),
            text: self.text,
        })
    }

    /// An `authenticated` reply.
    pub fn into_authenticated(self) -> Result<Authenticated> {
        if self.wire.kind != "authenticated" {
            return Err(self.unexpected("an authenticated reply"));
        }
        let w = self.wire;
        Ok(Authenticated {
            role: w.role.unwrap_or_default(),
            ids: w.ids.unwrap_or_default(),
            access: w.access.map(|a| {
                serde_json::from_str::<String>(a.get()).unwrap_or_else(|_| a.get().to_string())
            }),
            expires: w.expires.and_then(|e| e.get().parse().ok()),
            text: self.text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Incoming {
        Incoming::parse(text.to_string()).unwrap()
    }

    #[test]
    fn values_stay_exact_and_null_is_a_value() {
        let t = r#"{"type":"value","id":"a","key":"k","value":{"n":12345678901234567890123,"f":1.50},"rev":3,"req":1}"#;
        let m = parse(t);
        assert_eq!(m.req(), Some("1"));
        let e = m.into_entry().unwrap();
        assert_eq!(e.value, r#"{"n":12345678901234567890123,"f":1.50}"#);
        assert_eq!((e.rev, e.exists(), e.text.as_str()), (3, true, t));
        let missing = parse(r#"{"type":"value","id":"a","key":"k","value":null,"rev":0}"#);
        let ev = missing.into_event();
        assert_eq!(ev.value.as_deref(), Some("null"));
        assert_eq!(ev.req, None);
        let none = parse(r#"{"type":"deleted","id":"a","key":"k","rev":9,"reason":"expired"}"#);
        let ev = none.into_event();
        assert_eq!((ev.value, ev.reason.as_deref()), (None, Some("expired")));
    }

    #[test]
    fn errors_become_server_errors() {
        let t = r#"{"type":"error","code":"conflict","message":"no","id":"a","key":"k","rev":4,"req":"x"}"#;
        let m = parse(t);
        assert_eq!(m.req(), Some(r#""x""#));
        match m.check() {
            Err(Error::Server {
                code, rev, text, ..
            }) => assert_eq!(
                (code.as_str(), rev, text.as_str()),
                ("conflict", Some(4), t)
            ),
            other => panic!("{other:?}"),
        }
        assert!(parse(r#"{"type":"keys","keys":[]}"#).check().is_ok());
    }

    #[test]
    fn typed_replies_check_their_type() {
        let key = Topic::Key("k".into());
        let prefix = Topic::Prefix("p".into());
        let sub = parse(r#"{"type":"value","id":"a","key":"k","value":2,"rev":5,"resync":true}"#)
            .into_subscribed(&key)
            .unwrap();
        assert_eq!(
            (sub.rev, sub.value.as_deref(), sub.resync),
            (5, Some("2"), true)
        );
        let sub = parse(r#"{"type":"subscribed","id":"a","prefix":"p","rev":8}"#)
            .into_subscribed(&prefix)
            .unwrap();
        assert_eq!((sub.rev, sub.value, sub.resync), (8, None, false));
        assert!(
            parse(r#"{"type":"value","id":"a","key":"k","value":2,"rev":5}"#)
                .into_subscribed(&prefix)
                .is_err()
        );
        assert!(parse(r#"{"type":"deleted","rev":1}"#).into_entry().is_err());
        let keys = parse(r#"{"type":"keys","id":"a","prefix":"","keys":["x","y"],"more":true}"#)
            .into_keys()
            .unwrap();
        assert_eq!((keys.keys.len(), keys.more), (2, true));
        let auth = parse(
            r#"{"type":"authenticated","role":"user","ids":["a"],"access":"rw","expires":1700000000}"#,
        )
        .into_authenticated()
        .unwrap();
        assert_eq!(auth.role, "user");
        assert_eq!(auth.access.as_deref(), Some("rw"));
        assert_eq!(auth.expires, Some(1_700_000_000));
        let odd =
            parse(r#"{"type":"authenticated","role":"x","access":{"a":1},"expires":"later"}"#)
                .into_authenticated()
                .unwrap();
        assert_eq!(
            (odd.access.as_deref(), odd.expires),
            (Some(r#"{"a":1}"#), None)
        );
        assert!(odd.ids.is_empty());
        assert!(matches!(
            Incoming::parse("not json".into()),
            Err(Error::Protocol(_))
        ));
    }
}
