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

mod header;
mod read;

pub use header::{BadHeader, Header};
pub use read::{BadRecord, Format, Read, read, read_v1};

#[cfg(test)]
mod tests;
