//! The fan-out value: a sequence number and a send time, written by the
//! publisher and found again in every notification with a byte search.
//!
//! The fields are JSON *strings* of digits (`{"s":"17","t":"123456"}`): a
//! server that parses and re-encodes values (the R server does, through
//! jsonlite) may reformat large numbers, but never strings. The send time is
//! nanoseconds since the load's epoch (an `Instant`: publisher and
//! subscribers are in the same process, so no clock needs to agree with
//! another). A `"p"` field pads the value to the configured size.

/// The fan-out value `{"s":"SEQ","t":"T"}` padded to `size` bytes.
pub fn fan_value(seq: u64, t_ns: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::new();
    write_fan_value(&mut v, seq, t_ns, size);
    v
}

/// Appends `{"s":"SEQ","t":"T"}`, with a `"p"` field of padding when that
/// is shorter than `size`.
pub fn write_fan_value(out: &mut Vec<u8>, seq: u64, t_ns: u64, size: usize) {
    let start = out.len();
    out.extend_from_slice(br#"{"s":""#);
    push_u64(out, seq);
    out.extend_from_slice(br#"","t":""#);
    push_u64(out, t_ns);
    out.push(b'"');
    // With padding the value ends `,"p":"xx…"}`: 8 bytes besides the x's.
    let pad = size.saturating_sub(out.len() - start + br#","p":""}"#.len());
    if pad > 0 {
        out.extend_from_slice(br#","p":""#);
        out.resize(out.len() + pad, b'x');
        out.push(b'"');
    }
    out.push(b'}');
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Finds the sequence number and send time in a fan-out value (or in a
/// whole notification carrying one) with a byte search: the digits after
/// `"s":` and after `"t":`, skipping quotes, brackets and spaces (so that a
/// server that re-encodes values as `["17"]` still passes).
pub fn seq_and_time(text: &[u8]) -> Option<(u64, u64)> {
    let (s, at) = number_after(text, br#""s":"#)?;
    let (t, _) = number_after(&text[at..], br#""t":"#)?;
    Some((s, t))
}

/// Where `needle` (not empty) first occurs in `text`: a scan for its first
/// byte, then a comparison (the field is usually found within a few bytes).
fn find(text: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].iter().position(|&b| b == needle[0]) {
        let at = from + i;
        if text[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The number after the first `field` in `text`, and where it ends.
fn number_after(text: &[u8], field: &[u8]) -> Option<(u64, usize)> {
    let at = find(text, field)? + field.len();
    let rest = &text[at..];
    let skip = rest
        .iter()
        .take(4)
        .position(|b| b.is_ascii_digit())
        .filter(|&i| rest[..i].iter().all(|b| b"\"[ ".contains(b)))?;
    let mut n: u64 = 0;
    let mut len = 0;
    for &b in rest[skip..].iter().take_while(|b| b.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        len += 1;
    }
    Some((n, at + skip + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_padded_to_size() {
        for size in [0, 5, 30, 31, 100, 1000] {
            let v = fan_value(17, 123_456_789, size);
            let minimal = br#"{"s":"17","t":"123456789"}"#.len();
            // Padding takes at least `,"p":"x"` (8 bytes): smaller gaps stay.
            let want = if size > minimal + 7 { size } else { minimal };
            assert_eq!(v.len(), want, "size {size}");
            assert_eq!(seq_and_time(&v), Some((17, 123_456_789)));
            serde_json::from_slice::<serde_json::Value>(&v).unwrap();
        }
        assert_eq!(fan_value(1, 2, 5), br#"{"s":"1","t":"2"}"#);
        assert_eq!(fan_value(1, 2, 100).len(), 100);
    }

    #[test]
    fn finding_strings() {
        assert_eq!(find(b"ab\"s\":\"s\":", br#""s":"#), Some(2));
        assert_eq!(find(b"\"\"\"s\"", br#""s":"#), None);
        assert_eq!(find(b"", b"x"), None);
    }

    #[test]
    fn finding_numbers() {
        let note = br#"{"type":"value","id":"b","key":"fan","value":{"s":"5","t":"99"},"rev":3}"#;
        assert_eq!(seq_and_time(note), Some((5, 99)));
        assert_eq!(seq_and_time(br#"{"s":["5"],"t":[ "7"]}"#), Some((5, 7)));
        assert_eq!(seq_and_time(br#"{"s":5,"t":6}"#), Some((5, 6)));
        assert_eq!(seq_and_time(br#"{"s":"x","t":"6"}"#), None);
        assert_eq!(seq_and_time(br#"{"t":"6"}"#), None);
    }
}
