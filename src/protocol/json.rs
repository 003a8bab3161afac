//! A validating scanner for the JSON kvws receives, and [`Json`], a slice
//! of text known to be one valid JSON value.
//!
//! Every message is a flat object whose values are kept as text, never
//! parsed into a tree, so a request needs nothing but its members' spans.
//! This scanner finds them in one pass, checking the grammar of RFC 8259 as
//! it goes (strings, escapes, numbers, literals, nesting without recursion)
//! and allocating nothing. It is the fast path; when it refuses a message,
//! the parser falls back to `serde_json` for a precise error. A fuzz target
//! checks the two agree on what is valid.

use std::fmt;

/// A slice of text that is exactly one valid JSON value (no surrounding
/// whitespace): a stored value, a `req`, a field of a message.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Json<'a> {
    text: &'a str,
    /// A string literal without escapes: its contents can be used as they
    /// are (the scanner noticed; nobody has to look again).
    plain: bool,
}

impl<'a> Json<'a> {
    /// Checks `text` and wraps it, trimmed of surrounding whitespace.
    pub fn parse(text: &'a str) -> Option<Json<'a>> {
        let b = text.as_bytes();
        let start = skip_ws(b, 0);
        let (end, plain) = skip_member_value(b, start)?;
        (skip_ws(b, end) == b.len()).then(|| Json {
            text: slice(text, start, end),
            plain,
        })
    }

    /// Wraps text already checked to be one JSON value.
    pub(crate) fn trusted(text: &'a str) -> Json<'a> {
        let plain = text.starts_with('"') && !text.contains('\\');
        Json { text, plain }
    }

    /// The JSON text.
    pub fn get(&self) -> &'a str {
        self.text
    }

    /// Whether it is a string (and not a number, object, ...).
    pub fn is_string(&self) -> bool {
        self.text.starts_with('"')
    }

    /// The contents of a string without escapes, borrowed as they are.
    pub fn plain_str(&self) -> Option<&'a str> {
        // The quotes are ASCII, so cutting them off leaves whole characters.
        self.plain.then(|| slice(self.text, 1, self.text.len() - 1))
    }
}

impl fmt::Debug for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

/// Visits the members of the object that `text` holds: `key` (a string
/// without escapes) and the value's text. Returns `None` if `text` is not
/// one valid object, or has a key with escapes (rare enough to leave to the
/// slow path); `member` returning `false` also stops with `None`.
pub fn object_members<'a>(
    text: &'a str,
    mut member: impl FnMut(&'a str, Json<'a>) -> bool,
) -> Option<()> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(());
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, escaped) = skip_string(b, i)?;
        if escaped {
            return None;
        }
        let key = slice(text, i + 1, key_end - 1);
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let (value_end, plain) = skip_member_value(b, i)?;
        if !member(
            key,
            Json {
                text: slice(text, i, value_end),
                plain,
            },
        ) {
            return None;
        }
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(()),
            _ => return None,
        }
    }
}

/// `text[start..end]` where both ends sit next to an ASCII delimiter the
/// scanner found (a quote, a bracket, whitespace), so they are character
/// boundaries and the check `&text[..]` would make is not needed.
///
/// Why not the checked `&text[start..end]`: parsing is the hot path of
/// every request, and the checks (two boundary tests and a bounds test per
/// member) cost 7% more instructions per message: 1,874 against 1,746 for
/// the five request kinds of `benches/protocol.rs` (callgrind, release
/// build). The fuzz target `json_scanner` and the differential property
/// tests check the scanner against serde_json, with this `debug_assert`.
fn slice(text: &str, start: usize, end: usize) -> &str {
    debug_assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
    // SAFETY: `start` and `end` are indices the scanner reached in `text`
    // (`start <= end <= text.len()`), each next to an ASCII byte or at an
    // end, so both are character boundaries of the valid UTF-8 `text`.
    unsafe { text.get_unchecked(start..end) }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Index of the first byte at or after `i` that is `"`, `\\` or a control
/// character (the only bytes a string scan must stop at), or `b.len()`.
/// Eight bytes at a time: stored values are mostly long runs of ordinary
/// characters.
pub(crate) fn find_special(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let quote = x ^ (ONES * b'"' as u64);
        let slash = x ^ (ONES * b'\\' as u64);
        // A byte is flagged when it is zero in `quote` or `slash`, or below
        // 0x20 in `x` (bytes of 0x80 and above never are).
        let flags = ((quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if flags != 0 {
            // The lowest flagged byte is exact (only bytes above a match can
            // be flagged falsely, by the borrow), and it comes first in memory.
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// The end of the value at `b[i]`, and whether it is a plain string (the
/// common case for the fields of a message, worth telling apart).
#[inline]
fn skip_member_value(b: &[u8], i: usize) -> Option<(usize, bool)> {
    if b.get(i) == Some(&b'"') {
        let (end, escaped) = skip_string(b, i)?;
        return Some((end, !escaped));
    }
    Some((skip_value(b, i)?, false))
}

/// The end of the string starting at `b[i] == '"'`, and whether it had an
/// escape sequence.
#[inline]
fn skip_string(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut i = i + 1;
    let mut escaped = false;
    loop {
        i = find_special(b, i);
        match *b.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                match *b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let hex = b.get(i + 2..i + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 6;
                    }
                    _ => return None,
                }
            }
            0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

fn skip_number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = skip_digits(b, i + 1),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let after = skip_digits(b, i + 1);
        if after == i + 1 {
            return None;
        }
        i = after;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let after = skip_digits(b, i);
        if after == i {
            return None;
        }
        i = after;
    }
    Some(i)
}

/// The end of the value starting at `b[i]` (no leading whitespace).
/// Nesting is tracked with a stack of open brackets, not recursion, so
/// no input can exhaust the call stack.
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    let mut open: Vec<u8> = Vec::new();
    loop {
        // A value.
        match *b.get(i)? {
            b'"' => i = skip_string(b, i)?.0,
            b'-' | b'0'..=b'9' => i = skip_number(b, i)?,
            b't' if b[i..].starts_with(b"true") => i += 4,
            b'f' if b[i..].starts_with(b"false") => i += 5,
            b'n' if b[i..].starts_with(b"null") => i += 4,
            b'[' => {
                i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    open.push(b']');
                    continue;
                }
            }
            b'{' => {
                i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                } else {
                    open.push(b'}');
                    i = skip_key(b, i)?;
                    continue;
                }
            }
            _ => return None,
        }
        // After a value: close containers until one continues or none is open.
        loop {
            let Some(&close) = open.last() else {
                return Some(i);
            };
            i = skip_ws(b, i);
            match *b.get(i)? {
                b',' if close == b']' => {
                    i = skip_ws(b, i + 1);
                    break;
                }
                b',' => {
                    i = skip_key(b, skip_ws(b, i + 1))?;
                    break;
                }
                c if c == close => {
                    open.pop();
                    i += 1;
                }
                _ => return None,
            }
        }
    }
}

/// Skips `"key" :` and the whitespace after it.
fn skip_key(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let i = skip_ws(b, skip_string(b, i)?.0);
    (b.get(i) == Some(&b':')).then(|| skip_ws(b, i + 1))
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
