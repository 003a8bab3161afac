//! Turning one client frame into a [`Request`].
//!
//! One pass over the text collects the known fields as raw JSON slices
//! ([`Json`], borrowed, nothing copied); a second step checks each field's
//! type and limits and builds the request. Splitting it this way gives
//! precise error messages ("'key' must be a non-empty string") and lets an
//! error reply carry the request's `req` even when another field is wrong.
//!
//! The first pass is the allocation-free scanner of [`super::json`]. When
//! it refuses a message (invalid JSON, a duplicate or escaped field name),
//! serde_json reads it again to say exactly what is wrong and where: errors
//! are rare, and their messages are worth the second pass.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::error::ErrorCode;
use super::json::{self, Json};
use super::{Envelope, Request, Topic};

/// Field names the protocol knows; anything else is skipped (room for
/// extensions, and for clients that send extra fields).
const FIELDS: [&str; 13] = [
    "type",
    "id",
    "key",
    "value",
    "req",
    "prefix",
    "since",
    "if_rev",
    "ttl_ms",
    "ephemeral",
    "after",
    "limit",
    "token",
];

#[derive(Clone, Copy)]
enum F {
    Type,
    Id,
    Key,
    Value,
    Req,
    Prefix,
    Since,
    IfRev,
    TtlMs,
    Ephemeral,
    After,
    Limit,
    Token,
}

/// Why a frame could not be turned into a request.
#[derive(Debug, Clone)]
pub struct ParseError<'a> {
    /// The stable error code for the reply.
    pub code: ErrorCode,
    /// A message a person can act on.
    pub message: String,
    /// The request's `req`, when it could be read, so the error can carry it.
    pub req: Option<Json<'a>>,
}

/// Limits the parser enforces on names.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// Longest `id`, `key`, `prefix` or `after`, in bytes.
    pub max_name_length: usize,
}

/// The raw fields of one message, each the exact JSON text the client sent.
#[derive(Default)]
struct Raw<'a> {
    slots: [Option<Json<'a>>; 13],
    duplicate: Option<&'static str>,
}

impl<'a> Raw<'a> {
    fn get(&self, f: F) -> Option<Json<'a>> {
        self.slots[f as usize]
    }
}

struct RawVisitor;

/// A field name resolved to its index in [`FIELDS`] without allocating
/// (`None` for a field the protocol does not know).
struct FieldName(Option<usize>);

impl<'de> de::Deserialize<'de> for FieldName {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<FieldName, E> {
                Ok(FieldName(field_index(name)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        let mut raw = Raw::default();
        while let Some(FieldName(known)) = map.next_key()? {
            match known {
                Some(i) => {
                    let value: &'de RawValue = map.next_value()?;
                    let value = Json::trusted(value.get());
                    if raw.slots[i].replace(value).is_some() && raw.duplicate.is_none() {
                        raw.duplicate = Some(FIELDS[i]);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

fn bad<'a>(req: Option<Json<'a>>, message: impl Into<String>) -> ParseError<'a> {
    ParseError {
        code: ErrorCode::BadRequest,
        message: message.into(),
        req,
    }
}

/// Parses one client message.
pub fn parse<'a>(text: &'a str, limits: ParseLimits) -> Result<Envelope<'a>, ParseError<'a>> {
    // Filled in place: the slots are moved around nowhere.
    let mut raw = Raw::default();
    read_fields(text, &mut raw)?;
    let req = raw.get(F::Req);
    if let Some(r) = req {
        // `req` is echoed verbatim; only scalars that identify a request make sense.
        let first = r.get().as_bytes()[0];
        if !(first == b'"' || first == b'-' || first.is_ascii_digit()) {
            return Err(bad(None, "'req' must be a string or a number"));
        }
    }
    if let Some(name) = raw.duplicate {
        return Err(bad(req, format!("duplicate field '{name}'")));
    }
    let p = Fields {
        raw: &raw,
        req,
        limits,
    };
    let ty = match raw.get(F::Type) {
        None => return Err(bad(req, "missing 'type' field")),
        Some(t) => p.string_value(t, "type")?,
    };
    let request = match &*ty {
        "set" => Request::Set {
            id: p.name(F::Id, "id")?,
            key: p.name(F::Key, "key")?,
            value: match raw.get(F::Value) {
                Some(v) => v,
                None => return Err(bad(req, "set requires a 'value' field (null is a value)")),
            },
            if_rev: p.opt_u64(F::IfRev, "if_rev")?,
            ttl_ms: match p.opt_u64(F::TtlMs, "ttl_ms")? {
                Some(0) => return Err(bad(req, "'ttl_ms' must be at least 1")),
                ttl => ttl,
            },
            ephemeral: p.opt_bool(F::Ephemeral, "ephemeral")?.unwrap_or(false),
        },
        "get" => Request::Get {
            id: p.name(F::Id, "id")?,
            key: p.name(F::Key, "key")?,
        },
        "delete" => Request::Delete {
            id: p.name(F::Id, "id")?,
            key: p.name(F::Key, "key")?,
            if_rev: p.opt_u64(F::IfRev, "if_rev")?,
        },
        "subscribe" => Request::Subscribe {
            id: p.name(F::Id, "id")?,
            topic: p.topic()?,
            since: p.opt_u64(F::Since, "since")?,
        },
        "unsubscribe" => Request::Unsubscribe {
            id: p.name(F::Id, "id")?,
            topic: p.topic()?,
        },
        "list" => Request::List {
            id: p.name(F::Id, "id")?,
            prefix: p
                .opt_name(F::Prefix, "prefix", true)?
                .unwrap_or(Cow::Borrowed("")),
            after: p.opt_name(F::After, "after", true)?,
            limit: match p.opt_u64(F::Limit, "limit")? {
                Some(0) => return Err(bad(req, "'limit' must be at least 1")),
                limit => limit,
            },
        },
        "auth" => Request::Auth { token: p.token()? },
        "upgrade" => Request::Upgrade { token: p.token()? },
        _ => Request::Other {
            kind: ty.clone(),
            text,
        },
    };
    Ok(Envelope { req, request })
}

/// The position of a known field name in [`FIELDS`].
fn field_index(name: &str) -> Option<usize> {
    // A match compiles to a switch on length and bytes: cheaper than
    // comparing against each name in turn, for every field of every message.
    Some(match name {
        "type" => F::Type,
        "id" => F::Id,
        "key" => F::Key,
        "value" => F::Value,
        "req" => F::Req,
        "prefix" => F::Prefix,
        "since" => F::Since,
        "if_rev" => F::IfRev,
        "ttl_ms" => F::TtlMs,
        "ephemeral" => F::Ephemeral,
        "after" => F::After,
        "limit" => F::Limit,
        "token" => F::Token,
        _ => return None,
    } as usize)
}

/// The first pass: the message must be one JSON object; collect its fields.
fn read_fields<'a>(text: &'a str, raw: &mut Raw<'a>) -> Result<(), ParseError<'a>> {
    let fast = json::object_members(text, |name, value| match field_index(name) {
        // A duplicate goes to the slow path, which reports it.
        Some(i) => raw.slots[i].replace(value).is_none(),
        None => true,
    });
    if fast.is_none() {
        *raw = read_fields_slowly(text)?;
    }
    Ok(())
}

/// serde_json's reading of the first pass: slower, but precise about errors.
fn read_fields_slowly(text: &str) -> Result<Raw<'_>, ParseError<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let result = de
        .deserialize_map(RawVisitor)
        .and_then(|raw| de.end().map(|()| raw));
    result.map_err(|e| {
        // Tell "valid JSON, wrong shape" apart from "not JSON at all".
        if !text.trim_start().starts_with('{') && serde_json::from_str::<IgnoredAny>(text).is_ok() {
            bad(None, "message must be a JSON object")
        } else {
            bad(None, format!("invalid JSON: {e}"))
        }
    })
}

/// Typed access to the raw fields, producing errors that name the field.
struct Fields<'r, 'a> {
    raw: &'r Raw<'a>,
    req: Option<Json<'a>>,
    limits: ParseLimits,
}

impl<'a> Fields<'_, 'a> {
    fn err(&self, message: String) -> ParseError<'a> {
        bad(self.req, message)
    }

    /// A JSON string's contents, borrowed from the message when it has no escapes.
    fn string_value(&self, v: Json<'a>, name: &str) -> Result<Cow<'a, str>, ParseError<'a>> {
        if let Some(plain) = v.plain_str() {
            return Ok(Cow::Borrowed(plain));
        }
        let s = v.get();
        if !s.starts_with('"') {
            return Err(self.err(format!("'{name}' must be a string")));
        }
        serde_json::from_str::<String>(s)
            .map(Cow::Owned)
            .map_err(|_| self.err(format!("'{name}' must be a string")))
    }

    fn opt_name(
        &self,
        f: F,
        name: &str,
        empty_ok: bool,
    ) -> Result<Option<Cow<'a, str>>, ParseError<'a>> {
        let Some(v) = self.raw.get(f) else {
            return Ok(None);
        };
        let s = self
            .string_value(v, name)
            .map_err(|_| self.err(format!("'{name}' must be a non-empty string")))?;
        if s.is_empty() && !empty_ok {
            return Err(self.err(format!("'{name}' must be a non-empty string")));
        }
        if s.len() > self.limits.max_name_length {
            return Err(ParseError {
                code: ErrorCode::TooLarge,
                message: format!(
                    "'{name}' is {} bytes, longer than the limit of {}",
                    s.len(),
                    self.limits.max_name_length
                ),
                req: self.req,
            });
        }
        Ok(Some(s))
    }

    fn name(&self, f: F, name: &str) -> Result<Cow<'a, str>, ParseError<'a>> {
        match self.opt_name(f, name, false)? {
            Some(s) => Ok(s),
            None => Err(self.err(format!("missing '{name}' field"))),
        }
    }

    fn topic(&self) -> Result<Topic<'a>, ParseError<'a>> {
        match (self.raw.get(F::Key), self.raw.get(F::Prefix)) {
            (Some(_), Some(_)) => Err(self.err("give either 'key' or 'prefix', not both".into())),
            (None, Some(_)) => Ok(Topic::Prefix(
                self.opt_name(F::Prefix, "prefix", true)?
                    .unwrap_or_default(),
            )),
            _ => Ok(Topic::Key(self.name(F::Key, "key")?)),
        }
    }

    fn token(&self) -> Result<Cow<'a, str>, ParseError<'a>> {
        match self.raw.get(F::Token) {
            Some(v) => self.string_value(v, "token"),
            None => Err(self.err("missing 'token' field".into())),
        }
    }

    fn opt_u64(&self, f: F, name: &str) -> Result<Option<u64>, ParseError<'a>> {
        match self.raw.get(f) {
            None => Ok(None),
            Some(v) => serde_json::from_str::<u64>(v.get())
                .map(Some)
                .map_err(|_| self.err(format!("'{name}' must be a non-negative integer"))),
        }
    }

    fn opt_bool(&self, f: F, name: &str) -> Result<Option<bool>, ParseError<'a>> {
        match self.raw.get(f) {
            None => Ok(None),
            Some(v) => match v.get() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(self.err(format!("'{name}' must be true or false"))),
            },
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
