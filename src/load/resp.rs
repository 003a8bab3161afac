//! RESP2, the Redis protocol, as much as the load generator needs: commands
//! as arrays of bulk strings, and replies parsed in place from a buffer.

/// One reply, borrowing from the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resp<'a> {
    /// `+OK`: a status line.
    Simple(&'a [u8]),
    /// `-ERR ...`: an error line.
    Error(&'a [u8]),
    /// `:17`: an integer.
    Int(i64),
    /// `$3 abc` or `$-1` (nil).
    Bulk(Option<&'a [u8]>),
    /// `*n ...`: an array of `count` elements (`None` for a nil array)
    /// whose encoding is `body`; read them with [`Resp::elements`].
    Array(Option<usize>, &'a [u8]),
}

/// Appends a command (an array of bulk strings) to `out`.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    push_usize(out, args.len());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_usize(out, arg.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_usize(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The line at the start of `buf` (without CRLF) and the length with it.
#[inline]
fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let mut from = 0;
    loop {
        let cr = from + buf[from..].iter().position(|&b| b == b'\r')?;
        match buf.get(cr + 1) {
            Some(b'\n') => return Some((&buf[..cr], cr + 2)),
            Some(_) => from = cr + 1,
            None => return None,
        }
    }
}

/// A decimal integer, optionally negative.
#[inline]
fn int(text: &[u8]) -> Result<i64, String> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "bad RESP integer '{}'",
            String::from_utf8_lossy(text)
        ));
    }
    let n = digits
        .iter()
        .fold(0i64, |n, &b| n * 10 + i64::from(b - b'0'));
    Ok(if negative { -n } else { n })
}

/// Parses the reply at the start of `buf`: `Ok(None)` if it is incomplete,
/// else the reply and the bytes it takes.
pub fn parse(buf: &[u8]) -> Result<Option<(Resp<'_>, usize)>, String> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some((text, head)) = line(&buf[1..]) else {
        if buf.len() > 64 << 10 {
            return Err("RESP line over 64 KiB".into());
        }
        return Ok(None);
    };
    let head = head + 1;
    Ok(Some(match kind {
        b'+' => (Resp::Simple(text), head),
        b'-' => (Resp::Error(text), head),
        b':' => (Resp::Int(int(text)?), head),
        b'$' => {
            let n = int(text)?;
            if n < 0 {
                return Ok(Some((Resp::Bulk(None), head)));
            }
            let end = head + n as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err("RESP bulk string not followed by CRLF".into());
            }
            (Resp::Bulk(Some(&buf[head..end])), end + 2)
        }
        b'*' => {
            let n = int(text)?;
            if n < 0 {
                return Ok(Some((Resp::Array(None, &buf[head..head]), head)));
            }
            let mut at = head;
            for _ in 0..n {
                match parse(&buf[at..])? {
                    Some((_, used)) => at += used,
                    None => return Ok(None),
                }
            }
            (Resp::Array(Some(n as usize), &buf[head..at]), at)
        }
        other => return Err(format!("bad RESP type byte 0x{other:02x}")),
    }))
}

impl<'a> Resp<'a> {
    /// The elements of an array (nothing for anything else).
    pub fn elements(&self) -> impl Iterator<Item = Resp<'a>> + use<'a> {
        let (mut rest, mut left) = match *self {
            Resp::Array(Some(n), body) => (body, n),
            _ => (&[][..], 0),
        };
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            // The array was parsed whole, so every element is complete.
            let (item, used) = parse(rest).ok().flatten()?;
            rest = &rest[used..];
            Some(item)
        })
    }

    /// The bytes of a bulk or simple string.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Resp::Bulk(Some(b)) | Resp::Simple(b) => Some(b),
            _ => None,
        }
    }

    /// Describes the reply for an error message (shortened).
    pub fn describe(&self) -> String {
        let short = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(80)]).into_owned();
        match *self {
            Resp::Simple(s) => format!("+{}", short(s)),
            Resp::Error(s) => format!("-{}", short(s)),
            Resp::Int(n) => format!(":{n}"),
            Resp::Bulk(None) => "nil".into(),
            Resp::Bulk(Some(b)) => format!("${} {}", b.len(), short(b)),
            Resp::Array(None, _) => "nil array".into(),
            Resp::Array(Some(n), _) => format!("array of {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"k1", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$0\r\n\r\n");
    }

    #[test]
    fn parses_each_type() {
        let p = |s: &'static [u8]| parse(s).unwrap().unwrap();
        assert_eq!(p(b"+OK\r\nrest"), (Resp::Simple(b"OK"), 5));
        assert_eq!(p(b"-ERR no\r\n"), (Resp::Error(b"ERR no"), 9));
        assert_eq!(p(b":1000\r\n"), (Resp::Int(1000), 7));
        assert_eq!(p(b"$-1\r\n"), (Resp::Bulk(None), 5));
        assert_eq!(p(b"$3\r\na\r\n\r\n"), (Resp::Bulk(Some(b"a\r\n")), 9));
        assert_eq!(p(b"$0\r\n\r\n"), (Resp::Bulk(Some(b"")), 6));
        let msg = b"*3\r\n$7\r\nmessage\r\n$3\r\nfan\r\n$2\r\nhi\r\n";
        let (arr, used) = p(msg);
        assert_eq!(used, msg.len());
        let items: Vec<_> = arr.elements().collect();
        assert_eq!(
            items,
            vec![
                Resp::Bulk(Some(b"message")),
                Resp::Bulk(Some(b"fan")),
                Resp::Bulk(Some(b"hi"))
            ]
        );
        let (sub, _) = p(b"*3\r\n$9\r\nsubscribe\r\n$3\r\nfan\r\n:1\r\n");
        assert_eq!(sub.elements().nth(2), Some(Resp::Int(1)));
    }

    #[test]
    fn waits_for_incomplete_replies() {
        let msg = b"*3\r\n$7\r\nmessage\r\n$3\r\nfan\r\n$2\r\nhi\r\n";
        for cut in 0..msg.len() {
            assert_eq!(parse(&msg[..cut]).unwrap(), None, "cut {cut}");
        }
        assert_eq!(parse(b"$5\r\nab").unwrap(), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"?\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
        assert!(parse(b":\r\n").is_err());
        assert_eq!(parse(b":-12\r\n").unwrap(), Some((Resp::Int(-12), 6)));
        assert!(parse(b"$2\r\nabcd\r\n").is_err());
    }
}
