//! The 32-byte header of every log and snapshot file.

use std::fmt;

use super::{HEADER_LEN, OLDEST_VERSION, VERSION, read::Format};

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
