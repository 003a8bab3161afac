//! Checking every reply without parsing JSON.
//!
//! kvws writes the fields of a `value` message in a fixed order (`type`,
//! `id`, `key`, `value`, `rev`), and so does the R server, so the reply to a
//! `set` or `get` of key `k17` must start with
//! `{"type":"value","id":"bench","key":"k17","value":` — a `starts_with`
//! checks its type and that it answers the request it is queued against. An
//! `{"type":"error",...}` fails the same test and is reported with its text.
//! On Redis the check is the reply's RESP type (`+OK`, a bulk string equal
//! to the value set or nil, the `subscribe` confirmation, the receiver count
//! of `PUBLISH`); `-ERR` replies are errors.
//!
//! Error descriptions allocate; the checks that pass do not.

use super::requests::{Key, Op, Proto, Requests};
use super::resp::Resp;
use super::stamp::seq_and_time;

/// One message from the server, framing removed.
#[derive(Clone, Copy, Debug)]
pub enum Msg<'a> {
    /// The payload of a WebSocket text (or binary) message.
    Text(&'a [u8]),
    /// A RESP reply.
    Resp(Resp<'a>),
}

impl Msg<'_> {
    /// The message shortened for an error report.
    pub fn describe(&self) -> String {
        match self {
            Msg::Text(t) => {
                let cut = &t[..t.len().min(120)];
                let more = if t.len() > cut.len() { "…" } else { "" };
                format!("{}{more}", String::from_utf8_lossy(cut))
            }
            Msg::Resp(r) => r.describe(),
        }
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Set(_) => "set",
        Op::Get(_) => "get",
        Op::Subscribe(_) => "subscribe",
        Op::Publish(_) => "publish",
    }
}

/// Checks `msg` as the reply to `op`. `subscribers` is how many
/// subscribers a fan-out publish must reach (Redis reports it).
pub fn check_reply(r: &Requests, op: Op, msg: &Msg, subscribers: usize) -> Result<(), String> {
    let ok = match (r.proto, msg) {
        (Proto::Ws, Msg::Text(text)) => {
            let rest = match op {
                Op::Set(Key::Plain(i)) | Op::Get(Key::Plain(i)) => {
                    text.strip_prefix(r.plain_prefix(i))
                }
                Op::Publish(_) | Op::Set(Key::Fan) | Op::Subscribe(Key::Fan) => {
                    text.strip_prefix(r.fan_prefix())
                }
                Op::Set(k) | Op::Get(k) | Op::Subscribe(k) => {
                    text.strip_prefix(&r.reply_prefix(k)[..])
                }
            };
            rest.is_some_and(|rest| rest.starts_with(b"\"value\":"))
        }
        (Proto::Resp, Msg::Resp(reply)) => match (op, reply) {
            (Op::Set(_), Resp::Simple(s)) => *s == b"OK",
            (Op::Get(_), Resp::Bulk(None)) => true,
            (Op::Get(_), Resp::Bulk(Some(v))) => *v == r.value(),
            (Op::Publish(_), Resp::Int(n)) => *n >= subscribers as i64,
            (Op::Subscribe(k), Resp::Array(Some(3), _)) => {
                let mut items = reply.elements();
                items.next().and_then(|i| i.bytes()) == Some(b"subscribe")
                    && items.next().and_then(|i| i.bytes()) == Some(r.key_name(k).as_bytes())
            }
            _ => false,
        },
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let what = match op {
        Op::Publish(seq) => format!("publish of value {seq}"),
        Op::Set(k) | Op::Get(k) | Op::Subscribe(k) => {
            format!("{} {}", op_name(op), r.key_name(k))
        }
    };
    Err(format!("bad reply to {what}: {}", msg.describe()))
}

/// Checks `msg` as a fan-out notification; returns the sequence number and
/// send time it carries.
pub fn check_delivery(r: &Requests, msg: &Msg) -> Result<(u64, u64), String> {
    let payload = match (r.proto, msg) {
        (Proto::Ws, Msg::Text(text)) => text.strip_prefix(r.fan_prefix()),
        (Proto::Resp, Msg::Resp(reply @ Resp::Array(Some(3), _))) => {
            let mut items = reply.elements();
            let kind = items.next().and_then(|i| i.bytes());
            let channel = items.next().and_then(|i| i.bytes());
            let payload = items.next().and_then(|i| i.bytes());
            match (kind, channel) {
                (Some(b"message"), Some(c)) if c == r.fan_name() => payload,
                _ => None,
            }
        }
        _ => None,
    };
    payload
        .and_then(seq_and_time)
        .ok_or_else(|| format!("bad notification: {}", msg.describe()))
}

#[cfg(test)]
mod tests {
    use super::super::{LoadConfig, Mode, Target};
    use super::*;

    fn requests(url: &str) -> Requests {
        let t = Target::parse(url).unwrap();
        Requests::new(&LoadConfig::new(Mode::Pipeline, t).keys(20).value_size(4))
    }

    #[test]
    fn kvws_replies() {
        let r = requests("ws://127.0.0.1:1/");
        let reply = Msg::Text(br#"{"type":"value","id":"bench","key":"k17","value":"ab","rev":3}"#);
        assert!(check_reply(&r, Op::Get(Key::Plain(17)), &reply, 0).is_ok());
        assert!(check_reply(&r, Op::Set(Key::Plain(17)), &reply, 0).is_ok());
        // The reply to another key, even one whose name starts the same.
        let e = check_reply(&r, Op::Get(Key::Plain(1)), &reply, 0).unwrap_err();
        assert!(e.contains("get k1:") && e.contains("k17"), "{e}");
        let error = Msg::Text(br#"{"type":"error","code":"bad_request","message":"no"}"#);
        assert!(check_reply(&r, Op::Set(Key::Plain(2)), &error, 0).is_err());
        let sub = Msg::Text(br#"{"type":"value","id":"bench","key":"c3","value":null,"rev":0}"#);
        assert!(check_reply(&r, Op::Subscribe(Key::Conn(3)), &sub, 0).is_ok());
        assert!(check_reply(&r, Op::Subscribe(Key::Conn(4)), &sub, 0).is_err());
        let fan = Msg::Text(
            br#"{"type":"value","id":"bench","key":"fan","value":{"s":"4","t":"9"},"rev":8}"#,
        );
        assert!(check_reply(&r, Op::Publish(4), &fan, 1000).is_ok());
        assert_eq!(check_delivery(&r, &fan), Ok((4, 9)));
        assert!(check_delivery(&r, &sub).is_err());
        assert!(check_reply(&r, Op::Get(Key::Plain(1)), &Msg::Resp(Resp::Int(1)), 0).is_err());
    }

    #[test]
    fn redis_replies() {
        let r = requests("redis://127.0.0.1:1");
        let ok = Msg::Resp(Resp::Simple(b"OK"));
        assert!(check_reply(&r, Op::Set(Key::Plain(1)), &ok, 0).is_ok());
        assert!(check_reply(&r, Op::Get(Key::Plain(1)), &ok, 0).is_err());
        let value = Msg::Resp(Resp::Bulk(Some(b"xxxx")));
        assert!(check_reply(&r, Op::Get(Key::Plain(1)), &value, 0).is_ok());
        let other = Msg::Resp(Resp::Bulk(Some(b"xxx")));
        assert!(check_reply(&r, Op::Get(Key::Plain(1)), &other, 0).is_err());
        let nil = Msg::Resp(Resp::Bulk(None));
        assert!(check_reply(&r, Op::Get(Key::Plain(1)), &nil, 0).is_ok());
        let err = Msg::Resp(Resp::Error(b"ERR wrong"));
        let e = check_reply(&r, Op::Set(Key::Plain(1)), &err, 0).unwrap_err();
        assert!(e.contains("-ERR wrong"), "{e}");
        assert!(check_reply(&r, Op::Publish(1), &Msg::Resp(Resp::Int(1000)), 1000).is_ok());
        assert!(check_reply(&r, Op::Publish(1), &Msg::Resp(Resp::Int(999)), 1000).is_err());

        let sub = b"*3\r\n$9\r\nsubscribe\r\n$9\r\nbench:fan\r\n:1\r\n";
        let (sub, _) = super::super::resp::parse(sub).unwrap().unwrap();
        assert!(check_reply(&r, Op::Subscribe(Key::Fan), &Msg::Resp(sub), 0).is_ok());
        assert!(check_reply(&r, Op::Subscribe(Key::Conn(1)), &Msg::Resp(sub), 0).is_err());
        let note =
            b"*3\r\n$7\r\nmessage\r\n$9\r\nbench:fan\r\n$17\r\n{\"s\":\"3\",\"t\":\"5\"}\r\n";
        let (note, _) = super::super::resp::parse(note).unwrap().unwrap();
        assert_eq!(check_delivery(&r, &Msg::Resp(note)), Ok((3, 5)));
        assert!(check_delivery(&r, &Msg::Resp(sub)).is_err());
    }
}
