//! Telling a write torn by a crash from damage: only on evidence (see the
//! README's Persistence section), never by default.

use super::{SECTOR, TORN_WINDOW};
use crate::persist::record::{BadRecord, FRAME_LEN, Format, Read, TRAILER};

/// Whether the bytes at `at`, the first that are not the next record of the
/// newest log, are a write torn by a crash; if not, why they are damage.
/// `dirty_end` is the end of the file's last non-zero byte.
pub(super) fn torn_write(
    format: Format,
    data: &[u8],
    at: usize,
    dirty_end: usize,
    current: u64,
) -> Result<(), String> {
    let here = &data[at..];
    let claimed = format.claimed_len(here);
    match format.read(here) {
        Read::Record(..) => return Err("it is a complete, valid record".into()),
        Read::Bad(BadRecord::Malformed) if claimed > format.frame_len() => {
            return Err("it is complete and its checksum matches".into());
        }
        Read::Bad(BadRecord::Truncated) if format == Format::V2 => {
            return Err("it was truncated".into());
        }
        _ => {}
    }
    if !unwritten_sector(data, at, at + claimed) {
        return Err(format!(
            "none of its {SECTOR}-byte sectors was left unwritten, as a crash would leave it"
        ));
    }
    if format == Format::V2 && dirty_end + FRAME_LEN > data.len() {
        return Err(
            "the file ends without a frame of zeros after its data: it was truncated".into(),
        );
    }
    if dirty_end - at > TORN_WINDOW {
        return Err(format!(
            "{} bytes follow, more than a torn write leaves",
            dirty_end - at
        ));
    }
    if let Some(p) = valid_record_after(format, data, at, dirty_end, current) {
        return Err(format!("a valid record follows at offset {p}"));
    }
    Ok(())
}

/// Whether one of the 512-byte-aligned sectors overlapping `start..end`
/// holds only zeros from `start` on (up to the end of `data`).
pub fn unwritten_sector(data: &[u8], start: usize, end: usize) -> bool {
    let mut sector = start / SECTOR * SECTOR;
    while sector < end.min(data.len()) {
        let (lo, hi) = (sector.max(start), (sector + SECTOR).min(data.len()));
        if lo < hi && data[lo..hi].iter().all(|&b| b == 0) {
            return true;
        }
        sector += SECTOR;
    }
    false
}

/// Where a valid record with a plausible next revision starts after `at`
/// (and before `dirty_end`; it may run on past it, into zeros), if anywhere:
/// then the damage is in the middle of the log, not a torn last write.
fn valid_record_after(
    format: Format,
    data: &[u8],
    at: usize,
    dirty_end: usize,
    rev: u64,
) -> Option<usize> {
    let frame = format.frame_len();
    (at + 1..dirty_end).find(|&p| {
        let d = &data[p..];
        if d.len() < frame + 9 {
            return false;
        }
        let len = u32::from_le_bytes(d[..4].try_into().unwrap()) as usize;
        let kind = d[frame];
        let r = u64::from_le_bytes(d[frame + 1..frame + 9].try_into().unwrap());
        // Cheap filters first; the checksums settle it.
        len >= 9
            && len <= d.len() - frame
            && (1..=3).contains(&kind)
            && r > rev
            && r <= rev.saturating_add(1 << 24)
            && (format == Format::V1 || d[frame + len - 1] == TRAILER)
            && matches!(format.read(d), Read::Record(..))
    })
}
