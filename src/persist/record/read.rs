//! Reading records: a frame checked before its body is trusted, the
//! version 1 frame, and the decoding of a body into a [`Record`].

use std::fmt;

use super::{DELETE, END, FRAME_LEN, MAX_BODY, MIN_BODY, Record, SET, SKIP, TRAILER, framed_len};

/// A file format version this kvws reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Version 1: 8-byte frames, no trailer, no header check.
    V1,
    /// Version 2, the one written.
    V2,
}

impl Format {
    /// The header's version number.
    pub fn version(self) -> u32 {
        match self {
            Format::V1 => 1,
            Format::V2 => 2,
        }
    }

    /// Size of a record frame.
    pub fn frame_len(self) -> usize {
        match self {
            Format::V1 => 8,
            Format::V2 => FRAME_LEN,
        }
    }

    /// Reads the record at the start of `data`.
    pub fn read(self, data: &[u8]) -> Read<'_> {
        match self {
            Format::V1 => read_v1(data),
            Format::V2 => read(data),
        }
    }

    /// Where the record at the start of `data` would end, as far as its
    /// frame can be believed: the whole record if its length is checked
    /// (version 2) or at least fits in `data` (version 1), else the frame.
    pub fn claimed_len(self, data: &[u8]) -> usize {
        let len = match self {
            Format::V2 => framed_len(data),
            Format::V1 => data
                .get(..4)
                .map(|l| u32::from_le_bytes(l.try_into().unwrap()) as usize),
        };
        match len {
            Some(len) if len <= MAX_BODY && self.frame_len() + len <= data.len() => {
                self.frame_len() + len
            }
            _ => self.frame_len(),
        }
    }
}

/// What reading at an offset found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    /// A valid record and the bytes it took.
    Record(Record<'a>, usize),
    /// A frame of zeros: nothing more was written here.
    End,
    /// Something that is not a valid record.
    Bad(BadRecord),
}

/// Why bytes are not a valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRecord {
    /// The file ends inside the frame or the body.
    Truncated,
    /// The frame's check does not match: its length cannot be trusted.
    Frame,
    /// The body's checksum does not match.
    Checksum,
    /// The checksum matches but the body makes no sense.
    Malformed,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadRecord::Truncated => "the file ends inside a record",
            BadRecord::Frame => "bad record frame",
            BadRecord::Checksum => "checksum mismatch",
            BadRecord::Malformed => "malformed record",
        })
    }
}

/// Reads the version 2 record at the start of `data`. Fewer than a frame's
/// worth of bytes is [`BadRecord::Truncated`]: the data of a log is always
/// followed by at least one frame of zeros.
pub fn read(data: &[u8]) -> Read<'_> {
    let Some(f) = data.get(..FRAME_LEN) else {
        return Read::Bad(BadRecord::Truncated);
    };
    if f.iter().all(|&b| b == 0) {
        return Read::End;
    }
    let Some(len) = framed_len(data) else {
        return Read::Bad(BadRecord::Frame);
    };
    if !(MIN_BODY + 1..=MAX_BODY).contains(&len) {
        return Read::Bad(BadRecord::Malformed);
    }
    let Some(body) = data.get(FRAME_LEN..FRAME_LEN + len) else {
        return Read::Bad(BadRecord::Truncated);
    };
    if crc32c::crc32c(body) != u32::from_le_bytes(f[4..8].try_into().unwrap()) {
        return Read::Bad(BadRecord::Checksum);
    }
    match body.split_last() {
        Some((&TRAILER, fields)) => match decode(fields) {
            Some(record) => Read::Record(record, FRAME_LEN + len),
            None => Read::Bad(BadRecord::Malformed),
        },
        _ => Read::Bad(BadRecord::Malformed),
    }
}

/// Reads the version 1 record at the start of `data`.
pub fn read_v1(data: &[u8]) -> Read<'_> {
    const FRAME: usize = 8;
    if data.len() < FRAME {
        return if data.iter().all(|&b| b == 0) {
            Read::End
        } else {
            Read::Bad(BadRecord::Truncated)
        };
    }
    let len = u32::from_le_bytes(data[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(data[4..8].try_into().unwrap());
    if len == 0 && crc == 0 {
        return Read::End;
    }
    if len > MAX_BODY {
        return Read::Bad(BadRecord::Malformed);
    }
    let Some(body) = data.get(FRAME..FRAME + len) else {
        return Read::Bad(BadRecord::Truncated);
    };
    if crc32c::crc32c(body) != crc {
        return Read::Bad(BadRecord::Checksum);
    }
    match decode(body) {
        Some(record) => Read::Record(record, FRAME + len),
        None => Read::Bad(BadRecord::Malformed),
    }
}

fn decode(body: &[u8]) -> Option<Record<'_>> {
    let mut r = Reader(body);
    let kind = r.u8()?;
    let rev = r.u64()?;
    let record = match kind {
        SET => {
            let (id, key, value) = (r.str()?, r.str()?, r.str()?);
            let expires_at = Some(r.u64()?).filter(|&t| t != 0);
            Record::Set {
                rev,
                id,
                key,
                value,
                expires_at,
            }
        }
        DELETE => Record::Delete {
            rev,
            id: r.str()?,
            key: r.str()?,
        },
        SKIP => Record::Skip { rev },
        END => Record::End {
            rev,
            count: r.u64()?,
        },
        _ => return None,
    };
    r.0.is_empty().then_some(record)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).ok()
    }
}
