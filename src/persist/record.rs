//! The on-disk record format shared by the log and snapshots.
//!
//! ```text
//! file   = header record*
//! header = magic[8] version:u32 reserved:u32 generation:u64 rev:u64     (32 bytes)
//! record = body_len:u32 crc32c(body):u32 body                            (little-endian)
//! body   = kind:u8 rev:u64 fields...
//!   1 Set     id:str key:str value:str expires_at:u64 (0 = none)
//!   2 Delete  id:str key:str
//!   3 Skip    (a change that leaves no durable trace, e.g. an ephemeral key)
//!   4 End     count:u64                                  (last record of a snapshot)
//! str    = len:u32 bytes
//! ```
//!
//! Every record carries its own length and CRC32C, so a record torn by a
//! crash is detected, and a zero length marks the end of written data (log
//! files are preallocated with zeros). The header's version lets the format
//! evolve: a file from a newer kvws is refused rather than misread.

use std::fmt;

/// Format version written in every header.
pub const VERSION: u32 = 1;
/// Magic bytes of a log file.
pub const LOG_MAGIC: &[u8; 8] = b"KVWSLOG\0";
/// Magic bytes of a snapshot file.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"KVWSSNP\0";
/// Size of a file header.
pub const HEADER_LEN: usize = 32;
/// Size of a record's length and checksum.
pub const FRAME_LEN: usize = 8;
/// Largest record body accepted when reading: anything larger is corruption
/// (values are bounded by the message size limit long before this).
pub const MAX_BODY: usize = 1 << 30;

const SET: u8 = 1;
const DELETE: u8 = 2;
const SKIP: u8 = 3;
const END: u8 = 4;

/// One change, or a snapshot entry, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A key now holds `value`.
    Set {
        /// Revision of the change.
        rev: u64,
        /// Namespace.
        id: &'a str,
        /// Key.
        key: &'a str,
        /// The value's JSON text.
        value: &'a str,
        /// Expiry, ms since the epoch.
        expires_at: Option<u64>,
    },
    /// A key was removed.
    Delete {
        /// Revision of the change.
        rev: u64,
        /// Namespace.
        id: &'a str,
        /// Key.
        key: &'a str,
    },
    /// A change with no durable effect; keeps revisions contiguous.
    Skip {
        /// Revision of the change.
        rev: u64,
    },
    /// End of a snapshot: how many entries it holds.
    End {
        /// The snapshot's revision.
        rev: u64,
        /// Number of `Set` records before it.
        count: u64,
    },
}

impl Record<'_> {
    /// The record's revision.
    pub fn rev(&self) -> u64 {
        match *self {
            Record::Set { rev, .. }
            | Record::Delete { rev, .. }
            | Record::Skip { rev }
            | Record::End { rev, .. } => rev,
        }
    }

    /// Bytes the record takes on disk, frame included.
    pub fn encoded_len(&self) -> usize {
        FRAME_LEN
            + 9
            + match self {
                Record::Set { id, key, value, .. } => 12 + id.len() + key.len() + value.len() + 8,
                Record::Delete { id, key, .. } => 8 + id.len() + key.len(),
                Record::Skip { .. } => 0,
                Record::End { .. } => 8,
            }
    }

    /// Appends the framed record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; FRAME_LEN]);
        let (kind, rev) = match self {
            Record::Set { rev, .. } => (SET, rev),
            Record::Delete { rev, .. } => (DELETE, rev),
            Record::Skip { rev } => (SKIP, rev),
            Record::End { rev, .. } => (END, rev),
        };
        out.push(kind);
        out.extend_from_slice(&rev.to_le_bytes());
        let put_str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        match self {
            Record::Set {
                id,
                key,
                value,
                expires_at,
                ..
            } => {
                put_str(out, id);
                put_str(out, key);
                put_str(out, value);
                out.extend_from_slice(&expires_at.unwrap_or(0).to_le_bytes());
            }
            Record::Delete { id, key, .. } => {
                put_str(out, id);
                put_str(out, key);
            }
            Record::Skip { .. } => {}
            Record::End { count, .. } => out.extend_from_slice(&count.to_le_bytes()),
        }
        let body_len = (out.len() - start - FRAME_LEN) as u32;
        let crc = crc32c::crc32c(&out[start + FRAME_LEN..]);
        out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(out.len() - start, self.encoded_len());
    }
}

/// What reading at an offset found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    /// A valid record and the bytes it took.
    Record(Record<'a>, usize),
    /// Zeros or the end of the data: nothing more was written.
    End,
    /// Something that is not a valid record.
    Bad(BadRecord),
}

/// Why bytes are not a valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadRecord {
    /// The frame or body runs past the end of the data.
    Truncated,
    /// The checksum does not match.
    Checksum,
    /// The checksum matches but the body makes no sense.
    Malformed,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadRecord::Truncated => "record cut short",
            BadRecord::Checksum => "checksum mismatch",
            BadRecord::Malformed => "malformed record",
        })
    }
}

/// Reads the record at the start of `data`.
pub fn read(data: &[u8]) -> Read<'_> {
    if data.len() < FRAME_LEN {
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
    let Some(body) = data.get(FRAME_LEN..FRAME_LEN + len) else {
        return Read::Bad(BadRecord::Truncated);
    };
    if crc32c::crc32c(body) != crc {
        return Read::Bad(BadRecord::Checksum);
    }
    match decode(body) {
        Some(record) => Read::Record(record, FRAME_LEN + len),
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

/// A file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Log generation (for a snapshot: the first generation it does not cover).
    pub generation: u64,
    /// The store's revision when the file was started (log) or taken (snapshot).
    pub rev: u64,
}

impl Header {
    /// The 32 header bytes for a file with `magic`.
    pub fn encode(&self, magic: &[u8; 8]) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(magic);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[16..24].copy_from_slice(&self.generation.to_le_bytes());
        h[24..32].copy_from_slice(&self.rev.to_le_bytes());
        h
    }

    /// Parses a header, checking magic and version.
    pub fn decode(data: &[u8], magic: &[u8; 8]) -> Result<Header, String> {
        if data.len() < HEADER_LEN {
            return Err("file shorter than its header".into());
        }
        if &data[..8] != magic {
            return Err("not a kvws file of this kind (bad magic bytes)".into());
        }
        let version = u32::from_le_bytes(data[8..12].try_into().unwrap());
        if version != VERSION {
            return Err(format!(
                "format version {version}; this kvws reads version {VERSION}"
            ));
        }
        Ok(Header {
            generation: u64::from_le_bytes(data[16..24].try_into().unwrap()),
            rev: u64::from_le_bytes(data[24..32].try_into().unwrap()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Record<'static>> {
        vec![
            Record::Set {
                rev: 7,
                id: "app",
                key: "k",
                value: r#"{"a":[1,2]}"#,
                expires_at: None,
            },
            Record::Set {
                rev: 8,
                id: "é",
                key: "",
                value: "null",
                expires_at: Some(1_795_000_000_000),
            },
            Record::Delete {
                rev: 9,
                id: "app",
                key: "k",
            },
            Record::Skip { rev: 10 },
            Record::End { rev: 10, count: 2 },
        ]
    }

    #[test]
    fn records_round_trip_and_their_length_is_known() {
        let mut buf = Vec::new();
        for r in samples() {
            let before = buf.len();
            r.encode(&mut buf);
            assert_eq!(buf.len() - before, r.encoded_len());
        }
        buf.extend_from_slice(&[0; 64]); // preallocated tail
        let mut at = 0;
        for want in samples() {
            match read(&buf[at..]) {
                Read::Record(got, n) => {
                    assert_eq!(got, want);
                    at += n;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(read(&buf[at..]), Read::End);
        assert_eq!(read(&[]), Read::End);
    }

    #[test]
    fn damage_is_detected() {
        let mut buf = Vec::new();
        samples()[0].encode(&mut buf);
        let len = buf.len();
        assert_eq!(read(&buf[..len - 1]), Read::Bad(BadRecord::Truncated));
        assert_eq!(read(&buf[..5]), Read::Bad(BadRecord::Truncated));
        let mut flipped = buf.clone();
        flipped[len - 3] ^= 0x10;
        assert_eq!(read(&flipped), Read::Bad(BadRecord::Checksum));
        let mut huge = buf.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(read(&huge), Read::Bad(BadRecord::Malformed));
    }

    #[test]
    fn headers_check_magic_and_version() {
        let h = Header {
            generation: 3,
            rev: 99,
        };
        let bytes = h.encode(LOG_MAGIC);
        assert_eq!(Header::decode(&bytes, LOG_MAGIC), Ok(h));
        assert!(Header::decode(&bytes, SNAPSHOT_MAGIC).is_err());
        let mut newer = bytes;
        newer[8] = 2;
        assert!(
            Header::decode(&newer, LOG_MAGIC)
                .unwrap_err()
                .contains("version 2")
        );
    }
}
