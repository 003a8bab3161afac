//! Encoding replies and notifications as JSON text.
//!
//! Replies are written field by field straight into a byte buffer: stored
//! values are already JSON text and are copied in verbatim (never parsed and
//! re-encoded), and the field order is fixed so that replies are byte-for-byte
//! predictable.

use super::error::ErrorCode;
use super::{Json, Topic};

/// Appends one JSON object, field by field, to a buffer.
pub struct Obj<'b> {
    out: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> Obj<'b> {
    /// Starts an object with its `"type"` field, as every kvws message has.
    pub fn new(out: &'b mut Vec<u8>, kind: &str) -> Self {
        out.push(b'{');
        Obj { out, first: true }.str("type", kind)
    }

    fn name(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A string field.
    pub fn str(mut self, name: &str, value: &str) -> Self {
        self.name(name);
        write_str(self.out, value);
        self
    }

    /// A field whose value is already JSON text.
    pub fn raw(mut self, name: &str, json: &str) -> Self {
        self.name(name);
        self.out.extend_from_slice(json.as_bytes());
        self
    }

    /// A field holding stored JSON text, or `null` when there is none.
    pub fn value(self, name: &str, json: Option<&str>) -> Self {
        self.raw(name, json.unwrap_or("null"))
    }

    /// An unsigned integer field.
    pub fn u64(mut self, name: &str, n: u64) -> Self {
        self.name(name);
        push_u64(self.out, n);
        self
    }

    /// A `true` field, written only when the flag is set.
    pub fn flag(self, name: &str, set: bool) -> Self {
        if set { self.raw(name, "true") } else { self }
    }

    /// A boolean field.
    pub fn bool(self, name: &str, b: bool) -> Self {
        self.raw(name, if b { "true" } else { "false" })
    }

    /// The `key` or `prefix` field of a subscription target.
    pub fn topic(self, topic: &Topic) -> Self {
        match topic {
            Topic::Key(k) => self.str("key", k),
            Topic::Prefix(p) => self.str("prefix", p),
        }
    }

    /// An optional string field.
    pub fn opt_str(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.str(name, v),
            None => self,
        }
    }

    /// The request id echoed verbatim, when the request carried one.
    pub fn req(self, req: Option<Json>) -> Self {
        match req {
            Some(r) => self.raw("req", r.get()),
            None => self,
        }
    }

    /// A JSON array of strings.
    pub fn strs<'s>(mut self, name: &str, items: impl IntoIterator<Item = &'s str>) -> Self {
        self.name(name);
        self.out.push(b'[');
        for (i, s) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, s);
        }
        self.out.push(b']');
        self
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Appends the decimal digits of `n` (every message has a revision, and
/// they have sixteen digits: `itoa` writes two digits per step).
fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Names rarely need escaping: find out eight bytes at a time.
    let clean = super::json::find_special(bytes, 0);
    out.extend_from_slice(&bytes[..clean]);
    let mut start = clean;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `{"type":"value",...}`: a key's value (or `null`) and its revision.
///
/// The hottest encoder (every `get`, `set` and notification), so written
/// out directly rather than through [`Obj`].
pub fn value(
    out: &mut Vec<u8>,
    id: &str,
    key: &str,
    value: Option<&str>,
    rev: u64,
    req: Option<Json>,
) {
    let value = value.unwrap_or("null");
    out.reserve(id.len() + key.len() + value.len() + 64);
    out.extend_from_slice(br#"{"type":"value","id":"#);
    write_str(out, id);
    out.extend_from_slice(br#","key":"#);
    write_str(out, key);
    out.extend_from_slice(br#","value":"#);
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(br#","rev":"#);
    push_u64(out, rev);
    if let Some(r) = req {
        out.extend_from_slice(br#","req":"#);
        out.extend_from_slice(r.get().as_bytes());
    }
    out.push(b'}');
}

/// `{"type":"deleted",...}`: a key was removed (or was already absent).
pub fn deleted(
    out: &mut Vec<u8>,
    id: &str,
    key: &str,
    rev: u64,
    reason: Option<&str>,
    req: Option<Json>,
) {
    out.reserve(id.len() + key.len() + 80);
    out.extend_from_slice(br#"{"type":"deleted","id":"#);
    write_str(out, id);
    out.extend_from_slice(br#","key":"#);
    write_str(out, key);
    out.extend_from_slice(br#","rev":"#);
    push_u64(out, rev);
    if let Some(reason) = reason {
        out.extend_from_slice(br#","reason":"#);
        write_str(out, reason);
    }
    if let Some(r) = req {
        out.extend_from_slice(br#","req":"#);
        out.extend_from_slice(r.get().as_bytes());
    }
    out.push(b'}');
}

/// `{"type":"error",...}` with its stable code and human message.
pub fn error(out: &mut Vec<u8>, code: ErrorCode, message: &str, req: Option<Json>) {
    error_obj(out, code, message).req(req).end();
}

/// Starts an error object so a caller can add context fields (`rev`, `id`).
pub fn error_obj<'b>(out: &'b mut Vec<u8>, code: ErrorCode, message: &str) -> Obj<'b> {
    Obj::new(out, "error")
        .str("code", code.as_str())
        .str("message", message)
}
