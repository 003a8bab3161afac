//! The on-disk record format shared by the log and snapshots.
//!
//! ```text
//! file    = header record*
//! header  = magic[8] version:u32 check:u32 generation:u64 rev:u64       (32 bytes)
//! record  = frame body                                                  (little-endian)
//! frame   = body_len:u32 crc32c(body):u32 check:u32
//! body    = kind:u8 rev:u64 fields... 0xA5
//!   1 Set     id:str key:str value:str expires_at:u64 (0 = none)
//!   2 Delete  id:str key:str
//!   3 Skip    (a change that leaves no durable trace, e.g. an ephemeral key)
//!   4 End     count:u64                                  (last record of a snapshot)
//! str     = len:u32 bytes
//!
//! frame check  = crc32c(body_len crc32c(body)) xor 0xA282EAD8
//! header check = crc32c(the other 28 header bytes)
//! ```
//!
//! This is version 2. Every record protects its own length (the frame's
//! check), so a damaged length is recognised as damage instead of sending
//! the reader into the zeros after the data; and every body ends in the
//! non-zero byte 0xA5, so a complete record never ends in zeros, which is
//! what a write cut short by a crash leaves. Because of the mask, a frame of
//! zeros is never valid: it marks the end of the written data (log files are
//! preallocated with zeros, and the data of a log is always followed by at
//! least one frame's worth of them). The header's version lets the format
//! evolve: a file from a newer kvws is refused rather than misread.
//!
//! Version 1 (still read, never written) had no header check, an 8-byte frame
//! (`body_len:u32 crc32c(body):u32`) and no trailer byte.

use std::fmt;

use crate::change::Change;

/// Format version written in every header.
pub const VERSION: u32 = 2;
/// The oldest format version still read.
pub const OLDEST_VERSION: u32 = 1;
/// Magic bytes of a log file.
pub const LOG_MAGIC: &[u8; 8] = b"KVWSLOG\0";
/// Magic bytes of a snapshot file.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"KVWSSNP\0";
/// Size of a file header.
pub const HEADER_LEN: usize = 32;
/// Size of a record's frame: length, checksum and the frame's own check.
pub const FRAME_LEN: usize = 12;
/// The last byte of every record body.
pub const TRAILER: u8 = 0xA5;
/// Mixed into the frame check so that a frame of zeros never passes it.
pub const FRAME_MASK: u32 = 0xA282_EAD8;
/// Largest record body accepted when reading: anything larger is corruption
/// (values are bounded by the message size limit long before this).
pub const MAX_BODY: usize = 1 << 30;

const SET: u8 = 1;
const DELETE: u8 = 2;
const SKIP: u8 = 3;
const END: u8 = 4;

/// The smallest body: kind, revision and (in version 2) the trailer.
const MIN_BODY: usize = 9;

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

impl<'a> Record<'a> {
    /// How `change` is written down. An ephemeral key is never durable: on
    /// disk it is absent, so setting one is recorded as deleting the key,
    /// and deleting one leaves only its revision.
    pub fn of(change: &Change<'a>) -> Record<'a> {
        match *change {
            Change::Set {
                rev,
                id,
                key,
                value,
                expires_at,
                owner: None,
            } => Record::Set {
                rev,
                id,
                key,
                value,
                expires_at,
            },
            Change::Set { rev, id, key, .. }
            | Change::Delete {
                rev,
                id,
                key,
                ephemeral: false,
                ..
            } => Record::Delete { rev, id, key },
            Change::Delete { rev, .. } | Change::Skip { rev } => Record::Skip { rev },
        }
    }

    /// The change a recovered record stands for (`None` for the end of a
    /// snapshot).
    pub fn as_change(&self) -> Option<Change<'a>> {
        Some(match *self {
            Record::Set {
                rev,
                id,
                key,
                value,
                expires_at,
            } => Change::Set {
                rev,
                id,
                key,
                value,
                expires_at,
                owner: None,
            },
            Record::Delete { rev, id, key } => Change::Delete {
                rev,
                id,
                key,
                reason: None,
                ephemeral: false,
            },
            Record::Skip { rev } => Change::Skip { rev },
            Record::End { .. } => return None,
        })
    }
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

    /// Bytes of the body without the trailer (the whole body in version 1).
    fn fields_len(&self) -> usize {
        MIN_BODY
            + match self {
                Record::Set { id, key, value, .. } => 12 + id.len() + key.len() + value.len() + 8,
                Record::Delete { id, key, .. } => 8 + id.len() + key.len(),
                Record::Skip { .. } => 0,
                Record::End { .. } => 8,
            }
    }

    /// Bytes the record takes on disk, frame included.
    pub fn encoded_len(&self) -> usize {
        FRAME_LEN + self.fields_len() + 1
    }

    /// Appends the framed record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; FRAME_LEN]);
        self.encode_fields(out);
        out.push(TRAILER);
        let body = &out[start + FRAME_LEN..];
        let frame = frame(body.len() as u32, crc32c::crc32c(body));
        out[start..start + FRAME_LEN].copy_from_slice(&frame);
        debug_assert_eq!(out.len() - start, self.encoded_len());
    }

    /// Appends the record in the version 1 format (for tests of reading it).
    #[cfg(test)]
    pub(crate) fn encode_v1(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 8]);
        self.encode_fields(out);
        let body_len = (out.len() - start - 8) as u32;
        let crc = crc32c::crc32c(&out[start + 8..]);
        out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    /// The body up to (not including) the trailer.
    fn encode_fields(&self, out: &mut Vec<u8>) {
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
    }
}

/// The frame of a body of `len` bytes with checksum `crc`.
fn frame(len: u32, crc: u32) -> [u8; FRAME_LEN] {
    let mut f = [0; FRAME_LEN];
    f[..4].copy_from_slice(&len.to_le_bytes());
    f[4..8].copy_from_slice(&crc.to_le_bytes());
    let check = crc32c::crc32c(&f[..8]) ^ FRAME_MASK;
    f[8..].copy_from_slice(&check.to_le_bytes());
    f
}

/// The length of the body a version 2 frame announces, if the frame's
/// check matches (a length that can be trusted).
pub fn framed_len(data: &[u8]) -> Option<usize> {
    let f = data.get(..FRAME_LEN)?;
    let check = u32::from_le_bytes(f[8..12].try_into().unwrap());
    (crc32c::crc32c(&f[..8]) ^ FRAME_MASK == check)
        .then(|| u32::from_le_bytes(f[..4].try_into().unwrap()) as usize)
}

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

/// A file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Log generation (for a snapshot: the first generation it does not cover).
    pub generation: u64,
    /// The store's revision when the file was started (log) or taken (snapshot).
    pub rev: u64,
}

/// Why a header cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadHeader {
    /// Damage: shorter than a header, bad magic bytes, a check mismatch.
    Damaged(String),
    /// A format version this kvws does not know (a newer kvws wrote it).
    Version(u32),
}

impl fmt::Display for BadHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadHeader::Damaged(why) => f.write_str(why),
            BadHeader::Version(v) => write!(
                f,
                "format version {v}; this kvws reads versions {OLDEST_VERSION} to {VERSION}"
            ),
        }
    }
}

fn header_check(h: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&h[..12]), &h[16..HEADER_LEN])
}

impl Header {
    /// The 32 header bytes (version 2) for a file with `magic`.
    pub fn encode(&self, magic: &[u8; 8]) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(magic);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[16..24].copy_from_slice(&self.generation.to_le_bytes());
        h[24..32].copy_from_slice(&self.rev.to_le_bytes());
        let check = header_check(&h);
        h[12..16].copy_from_slice(&check.to_le_bytes());
        h
    }

    /// Parses a header, checking magic, version and (version 2) its check;
    /// returns it with the format of the records that follow.
    pub fn decode(data: &[u8], magic: &[u8; 8]) -> Result<(Header, Format), BadHeader> {
        let damaged = |why: &str| Err(BadHeader::Damaged(why.into()));
        if data.len() < HEADER_LEN {
            return damaged("shorter than its header");
        }
        if &data[..8] != magic {
            return damaged("not a kvws file of this kind (bad magic bytes)");
        }
        let version = u32::from_le_bytes(data[8..12].try_into().unwrap());
        let format = match version {
            1 => Format::V1,
            2 => Format::V2,
            v if v > VERSION && v < 1 << 16 => return Err(BadHeader::Version(v)),
            _ => return damaged("bad header (an impossible format version)"),
        };
        let check = u32::from_le_bytes(data[12..16].try_into().unwrap());
        if format == Format::V2 && check != header_check(data) {
            return damaged("bad header (its check does not match)");
        }
        let header = Header {
            generation: u64::from_le_bytes(data[16..24].try_into().unwrap()),
            rev: u64::from_le_bytes(data[24..32].try_into().unwrap()),
        };
        Ok((header, format))
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
            // A complete record never ends in a zero byte.
            assert_eq!(buf.last(), Some(&TRAILER));
        }
        buf.extend_from_slice(&[0; FRAME_LEN]); // preallocated tail
        let mut at = 0;
        for want in samples() {
            match read(&buf[at..]) {
                Read::Record(got, n) => {
                    assert_eq!(got, want);
                    assert_eq!(Format::V2.claimed_len(&buf[at..]), n);
                    at += n;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(read(&buf[at..]), Read::End);
        // The data of a log is always followed by a frame of zeros: less is
        // a file cut short.
        assert_eq!(read(&buf[at + 1..]), Read::Bad(BadRecord::Truncated));
        assert_eq!(read(&[]), Read::Bad(BadRecord::Truncated));
    }

    #[test]
    fn version_1_records_are_still_read() {
        let mut buf = Vec::new();
        for r in samples() {
            r.encode_v1(&mut buf);
        }
        let mut at = 0;
        for want in samples() {
            match read_v1(&buf[at..]) {
                Read::Record(got, n) => {
                    assert_eq!(got, want);
                    at += n;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(read_v1(&buf[at..]), Read::End);
        assert!(matches!(read(&buf), Read::Bad(_)), "not a version 2 record");
    }

    #[test]
    fn a_frame_of_zeros_is_the_end_and_never_a_record() {
        assert_eq!(read(&[0; 64]), Read::End);
        assert_eq!(framed_len(&[0; FRAME_LEN]), None);
        // Nor is a zero length with a valid check.
        assert!(matches!(
            read(&frame(0, 0)),
            Read::Bad(BadRecord::Truncated | BadRecord::Malformed)
        ));
    }

    #[test]
    fn damage_is_detected() {
        let mut buf = Vec::new();
        samples()[0].encode(&mut buf);
        buf.extend_from_slice(&[0; 64]);
        let len = samples()[0].encoded_len();
        assert_eq!(read(&buf[..len - 1]), Read::Bad(BadRecord::Truncated));
        assert_eq!(read(&buf[..5]), Read::Bad(BadRecord::Truncated));
        let mut flipped = buf.clone();
        flipped[len - 3] ^= 0x10;
        assert_eq!(read(&flipped), Read::Bad(BadRecord::Checksum));
        // The frame knows the record's length despite the damaged body.
        assert_eq!(Format::V2.claimed_len(&flipped), len);
        // A damaged length is caught by the frame, whatever it became.
        for bit in 0..32 {
            let mut longer = buf.clone();
            longer[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(read(&longer), Read::Bad(BadRecord::Frame), "bit {bit}");
            assert_eq!(Format::V2.claimed_len(&longer), FRAME_LEN);
        }
        let mut no_trailer = buf[..len].to_vec();
        no_trailer[len - 1] = 0;
        let body = &no_trailer[FRAME_LEN..];
        let f = frame(body.len() as u32, crc32c::crc32c(body));
        no_trailer[..FRAME_LEN].copy_from_slice(&f);
        assert_eq!(read(&no_trailer), Read::Bad(BadRecord::Malformed));
    }

    #[test]
    fn headers_check_magic_version_and_themselves() {
        let h = Header {
            generation: 3,
            rev: 99,
        };
        let bytes = h.encode(LOG_MAGIC);
        assert_eq!(Header::decode(&bytes, LOG_MAGIC), Ok((h, Format::V2)));
        assert!(Header::decode(&bytes, SNAPSHOT_MAGIC).is_err());
        assert!(Header::decode(&bytes[..31], LOG_MAGIC).is_err());
        let mut newer = bytes;
        newer[8] = 3;
        assert_eq!(
            Header::decode(&newer, LOG_MAGIC),
            Err(BadHeader::Version(3))
        );
        assert!(BadHeader::Version(3).to_string().contains("version 3"));
        let mut flipped = bytes;
        flipped[20] ^= 1;
        assert!(matches!(
            Header::decode(&flipped, LOG_MAGIC),
            Err(BadHeader::Damaged(_))
        ));
        // Version 1 headers had no check.
        let mut v1 = [0u8; HEADER_LEN];
        v1[..8].copy_from_slice(LOG_MAGIC);
        v1[8] = 1;
        v1[16] = 3;
        v1[24] = 99;
        assert_eq!(Header::decode(&v1, LOG_MAGIC), Ok((h, Format::V1)));
    }
}
