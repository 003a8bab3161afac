//! Every request the load generator sends, encoded once.
//!
//! At start-up [`Requests`] encodes the `set` and `get` of every key as
//! ready-to-send bytes (a masked WebSocket frame, or a RESP command), and the
//! prefix every reply about each key must start with. Sending a request on
//! the hot path is then one `extend_from_slice` into the connection's write
//! buffer, and checking its reply one `starts_with`.
//!
//! The fan-out publisher's values change with every set (they carry a
//! sequence number and the send time, see `stamp.rs`), so they are encoded
//! into a reused buffer instead.

use std::ops::Range;

use super::config::{LoadConfig, Target};
use super::resp::encode_command;
use super::stamp::{fan_value, write_fan_value};
use super::ws::{TEXT, encode_frame};

/// A key the load generator uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// `k<i>`: the keys reqresp and pipeline cycle through.
    Plain(u32),
    /// `fan`: the fan-out key (a channel on Redis).
    Fan,
    /// `c<i>`: the key connection `i` subscribes to in conns mode.
    Conn(u32),
}

/// A request sent and not yet answered; replies on one connection come back
/// in request order, so each connection keeps a queue of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store a value (on Redis `SET`).
    Set(Key),
    /// Read a value (on Redis `GET`).
    Get(Key),
    /// Subscribe to a key (on Redis `SUBSCRIBE` to a channel).
    Subscribe(Key),
    /// The fan-out publisher's set of value number `seq` (on Redis `PUBLISH`).
    Publish(u64),
}

/// Which wire protocol the target speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// WebSocket frames carrying kvws JSON.
    Ws,
    /// RESP2 (Redis).
    Resp,
}

/// The pre-encoded requests and reply prefixes of one configuration.
pub struct Requests {
    /// The wire protocol.
    pub proto: Proto,
    /// The application id.
    id: String,
    /// Bytes of a value (the JSON text on kvws, the raw bytes on Redis).
    value_size: usize,
    /// The value every plain `set` stores.
    value: Vec<u8>,
    /// Every pre-encoded request, back to back.
    bytes: Vec<u8>,
    /// `set k<i>` at `2i`, `get k<i>` at `2i + 1`.
    spans: Vec<Range<u32>>,
    /// The reply prefix for key `k<i>` (kvws only), back to back.
    prefixes: Vec<u8>,
    prefix_spans: Vec<Range<u32>>,
    /// The reply and notification prefix for the fan-out key.
    fan_prefix: Vec<u8>,
    /// The fan-out key's name on the wire.
    fan_name: Vec<u8>,
    /// A scratch buffer for the publisher's changing requests.
    scratch: Vec<u8>,
}

impl Requests {
    /// Encodes the requests of `config` (its keys, value size and id).
    pub fn new(config: &LoadConfig) -> Self {
        let proto = match config.target {
            Target::Ws { .. } => Proto::Ws,
            Target::Redis { .. } => Proto::Resp,
        };
        let value = match (proto, config.value_size) {
            (Proto::Ws, n) if n >= 2 => format!("\"{}\"", "x".repeat(n - 2)).into_bytes(),
            (Proto::Ws, _) => b"0".to_vec(),
            (Proto::Resp, n) => vec![b'x'; n],
        };
        let mut r = Requests {
            proto,
            id: config.id.clone(),
            value_size: config.value_size,
            value,
            bytes: Vec::new(),
            spans: Vec::with_capacity(config.keys * 2),
            prefixes: Vec::new(),
            prefix_spans: Vec::with_capacity(config.keys),
            fan_prefix: Vec::new(),
            fan_name: Vec::new(),
            scratch: Vec::new(),
        };
        let plain = matches!(config.mode, super::Mode::ReqResp | super::Mode::Pipeline);
        for i in 0..if plain { config.keys as u32 } else { 0 } {
            for op in [Op::Set(Key::Plain(i)), Op::Get(Key::Plain(i))] {
                let start = r.bytes.len() as u32;
                let mut bytes = std::mem::take(&mut r.bytes);
                r.encode(&mut bytes, op);
                r.bytes = bytes;
                r.spans.push(start..r.bytes.len() as u32);
            }
            let start = r.prefixes.len() as u32;
            let prefix = r.reply_prefix(Key::Plain(i));
            r.prefixes.extend_from_slice(&prefix);
            r.prefix_spans.push(start..r.prefixes.len() as u32);
        }
        r.fan_prefix = r.reply_prefix(Key::Fan);
        r.fan_name = r.key_name(Key::Fan).into_bytes();
        r
    }

    /// The name of a key on the wire (`ID:name` on Redis).
    pub fn key_name(&self, key: Key) -> String {
        let name = match key {
            Key::Plain(i) => format!("k{i}"),
            Key::Fan => "fan".into(),
            Key::Conn(i) => format!("c{i}"),
        };
        match self.proto {
            Proto::Ws => name,
            Proto::Resp => format!("{}:{name}", self.id),
        }
    }

    /// What every kvws reply or notification about `key` starts with.
    pub fn reply_prefix(&self, key: Key) -> Vec<u8> {
        format!(
            r#"{{"type":"value","id":"{}","key":"{}","#,
            self.id,
            self.key_name(key)
        )
        .into_bytes()
    }

    /// The pre-encoded `set` or `get` of plain key `i`.
    #[inline]
    pub fn plain(&self, i: u32, get: bool) -> &[u8] {
        let span = &self.spans[2 * i as usize + usize::from(get)];
        &self.bytes[span.start as usize..span.end as usize]
    }

    /// The prefix of the reply about plain key `i` (kvws).
    #[inline]
    pub fn plain_prefix(&self, i: u32) -> &[u8] {
        let span = &self.prefix_spans[i as usize];
        &self.prefixes[span.start as usize..span.end as usize]
    }

    /// The prefix of every message about the fan-out key (kvws).
    pub fn fan_prefix(&self) -> &[u8] {
        &self.fan_prefix
    }

    /// The fan-out key's name on the wire (the channel on Redis).
    pub fn fan_name(&self) -> &[u8] {
        &self.fan_name
    }

    /// The bytes of the value a plain `set` stores (what a `get` returns).
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// Appends request `op` to `out`; plain keys come from the table, the
    /// rest are encoded here (set-up requests, off the hot path). A
    /// `Publish` is sent with [`Requests::publish`] instead.
    pub fn encode(&self, out: &mut Vec<u8>, op: Op) {
        if let Op::Set(Key::Plain(i)) | Op::Get(Key::Plain(i)) = op
            && (i as usize) < self.spans.len() / 2
        {
            out.extend_from_slice(self.plain(i, matches!(op, Op::Get(_))));
            return;
        }
        let (command, key, value): (&str, Key, Option<Vec<u8>>) = match op {
            Op::Set(Key::Fan) => ("set", Key::Fan, Some(fan_value(0, 0, 0))),
            Op::Set(k) => ("set", k, Some(self.value.clone())),
            Op::Get(k) => ("get", k, None),
            Op::Subscribe(k) => ("subscribe", k, None),
            Op::Publish(seq) => ("set", Key::Fan, Some(fan_value(seq, 0, 0))),
        };
        let name = self.key_name(key);
        match self.proto {
            Proto::Ws => {
                let mut json = format!(r#"{{"type":"{command}","id":"{}","key":"{name}""#, self.id)
                    .into_bytes();
                if let Some(v) = value {
                    json.extend_from_slice(b",\"value\":");
                    json.extend_from_slice(&v);
                }
                json.push(b'}');
                encode_frame(out, TEXT, &json);
            }
            Proto::Resp => {
                let upper = command.to_ascii_uppercase();
                let mut args: Vec<&[u8]> = vec![upper.as_bytes(), name.as_bytes()];
                if let Some(v) = &value {
                    args.push(v);
                }
                encode_command(out, &args);
            }
        }
    }

    /// Appends the publisher's set (kvws) or `PUBLISH` (Redis) of value
    /// number `seq`, sent at `t_ns`, to `out`. The value is written into a
    /// scratch buffer that keeps its size; framing it for kvws allocates
    /// once (see [`encode_frame`]).
    pub fn publish(&mut self, out: &mut Vec<u8>, seq: u64, t_ns: u64) {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        match self.proto {
            Proto::Ws => {
                buf.extend_from_slice(br#"{"type":"set","id":""#);
                buf.extend_from_slice(self.id.as_bytes());
                buf.extend_from_slice(br#"","key":"fan","value":"#);
                write_fan_value(&mut buf, seq, t_ns, self.value_size);
                buf.push(b'}');
                encode_frame(out, TEXT, &buf);
            }
            Proto::Resp => {
                write_fan_value(&mut buf, seq, t_ns, self.value_size);
                encode_command(out, &[b"PUBLISH", &self.fan_name, &buf]);
            }
        }
        self.scratch = buf;
    }
}

#[cfg(test)]
mod tests {
    use super::super::Mode;
    use super::super::ws::unmask;
    use super::*;

    fn config(url: &str) -> LoadConfig {
        LoadConfig::new(Mode::Pipeline, Target::parse(url).unwrap())
            .keys(3)
            .value_size(10)
    }

    /// The JSON text of one masked client frame.
    fn unframe(frame: &[u8]) -> String {
        let start = match frame[1] & 0x7f {
            126 => 8,
            127 => 14,
            _ => 6,
        };
        let mut payload = frame[start..].to_vec();
        unmask(&mut payload);
        String::from_utf8(payload).unwrap()
    }

    #[test]
    fn kvws_requests_and_prefixes() {
        let r = Requests::new(&config("ws://127.0.0.1:1/"));
        assert_eq!(
            unframe(r.plain(2, false)),
            r#"{"type":"set","id":"bench","key":"k2","value":"xxxxxxxx"}"#
        );
        assert_eq!(
            unframe(r.plain(0, true)),
            r#"{"type":"get","id":"bench","key":"k0"}"#
        );
        assert_eq!(
            r.plain_prefix(1),
            br#"{"type":"value","id":"bench","key":"k1","#
        );
        assert_eq!(
            r.fan_prefix(),
            br#"{"type":"value","id":"bench","key":"fan","#
        );
        let mut out = Vec::new();
        r.encode(&mut out, Op::Subscribe(Key::Conn(7)));
        assert_eq!(
            unframe(&out),
            r#"{"type":"subscribe","id":"bench","key":"c7"}"#
        );
        // The table and the general encoder agree.
        let mut out = Vec::new();
        r.encode(&mut out, Op::Get(Key::Plain(1)));
        assert_eq!(out, r.plain(1, true));
    }

    #[test]
    fn redis_requests() {
        let r = Requests::new(&config("redis://127.0.0.1:1"));
        assert_eq!(r.plain(1, true), b"*2\r\n$3\r\nGET\r\n$8\r\nbench:k1\r\n");
        assert_eq!(
            r.plain(0, false),
            b"*3\r\n$3\r\nSET\r\n$8\r\nbench:k0\r\n$10\r\nxxxxxxxxxx\r\n"
        );
        let mut out = Vec::new();
        r.encode(&mut out, Op::Subscribe(Key::Fan));
        assert_eq!(out, b"*2\r\n$9\r\nSUBSCRIBE\r\n$9\r\nbench:fan\r\n");
    }

    #[test]
    fn publisher_values_are_padded_and_found_again() {
        let mut r = Requests::new(&config("ws://127.0.0.1:1/").value_size(100));
        let mut out = Vec::new();
        r.publish(&mut out, 17, 123_456_789);
        let text = unframe(&out);
        let value = text.split_once(r#""value":"#).unwrap().1;
        let value = value.strip_suffix('}').unwrap();
        assert_eq!(value.len(), 100, "{value}");
        assert!(text.starts_with(
            r#"{"type":"set","id":"bench","key":"fan","value":{"s":"17","t":"123456789","p":"xx"#
        ));
        assert_eq!(
            super::super::stamp::seq_and_time(text.as_bytes()),
            Some((17, 123_456_789))
        );
    }
}
