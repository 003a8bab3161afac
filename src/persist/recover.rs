//! Start-up: load the snapshot, replay the logs after it, and decide what a
//! damaged byte means. Acknowledged means durable, so damage is never taken
//! for a torn write, and a torn write is recognised by physical evidence,
//! not by where it is.
//!
//! # What a crash leaves
//!
//! A log is preallocated with zeros, and its data is always followed by at
//! least one record frame of zeros ([`FRAME_LEN`]). A crash of kvws cuts a
//! `pwrite` short at a page boundary; a power cut or an OS crash leaves some
//! 512-byte sectors of the writes not yet synced unwritten, in any order.
//! Either way, what was never written reads as zeros in whole, aligned
//! 512-byte sectors, and only at the end of the newest log: every older log
//! was synced whole before the next one was written to.
//!
//! # How start-up decides
//!
//! Reading a log stops at the first frame of zeros followed only by zeros
//! (the end of its data) or at the first bytes that are not the next valid
//! record. Those bytes are a **torn write**, cut off with a warning, only if
//! all of these hold:
//!
//! * the file is the newest log;
//! * they are not a complete record whose checksum matches (a record out of
//!   place or malformed), nor one with a checked frame whose body runs past
//!   the end of the file (a file cut short);
//! * one of the 512-byte-aligned sectors overlapping the record (as far as
//!   its frame can be believed: the whole record if the frame's check
//!   matches, else the frame) holds only zeros from the record's start on:
//!   the evidence that part of the record was never written. A complete
//!   record ends in the non-zero trailer byte, so the sector holding its end
//!   never qualifies, and a record damaged anywhere else (a flipped bit, a
//!   byte overwritten) has none (unless it holds a sector of zeros of its
//!   own, a key of 512 NUL characters; and damage that zeroes a sector of
//!   the last record is, byte for byte, what a crash leaves);
//! * the file still ends in a frame of zeros after its last non-zero byte
//!   (else it was truncated), and at most [`TORN_WINDOW`] bytes follow the
//!   bad record;
//! * no valid record with a plausible next revision starts anywhere after
//!   it (else the damage is in the middle of the data).
//!
//! Anything else is **damage**: start-up stops with the file, the offset,
//! why, and how much `--repair` would discard. `--repair` cuts the log at
//! the first bad record and removes the later log files, after saying how
//! much it discards. With `--fsync always`, the writes of the last loop step
//! before a power cut were not acknowledged; if the disk wrote a later
//! sector of them but not an earlier one, the hole is followed by a valid
//! record and start-up refuses: `--repair` then cuts at the hole and loses
//! nothing acknowledged. With `everysec` or `never` a power cut can leave
//! such a hole (or, rarely, a file whose preallocation was lost) in changes
//! that were acknowledged but not synced, which is what those policies
//! accept; `--repair` recovers what comes before it.
//!
//! # Missing and truncated files
//!
//! A log is created whole under a temporary name and renamed into place
//! ([`Log::create`](super::log::Log::create)), so a `wal-N.log` shorter than
//! its header is damage, never a crash right after its creation; temporary
//! files left by a crash are removed. Without a snapshot the logs start at
//! generation 1; a snapshot of generation G needs `wal-G` (compaction
//! creates it before the snapshot); the generations after it have no gap,
//! and revisions follow each other without a gap from the snapshot through
//! every log, which also catches a file replaced by another. The one loss
//! that nothing on disk can reveal is the deletion of a newest log that the
//! snapshot does not name: a directory whose only log is gone looks new, and
//! one whose newest log is gone looks as it did before that log began.
//!
//! # Version 1
//!
//! Files of format version 1 (the previous release) are read with the same
//! rules, except that their frames do not check their own length (a damaged
//! length is believed if it fits in the file) and their data need not be
//! followed by zeros. New data never goes into a version 1 log: recovery
//! asks for a new generation, in version 2, and the first compaction turns
//! everything into a version 2 snapshot.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use log::{info, warn};

use super::log::{file_name, generation_of, is_temp, sync_dir};
use super::map::Map;
use super::record::{
    BadHeader, BadRecord, FRAME_LEN, Format, HEADER_LEN, Header, LOG_MAGIC, Read, Record,
    SNAPSHOT_MAGIC, TRAILER,
};

/// The snapshot's file name.
pub const SNAPSHOT: &str = "snapshot.kvws";
/// Where a snapshot is written before it is renamed into place.
pub const SNAPSHOT_TMP: &str = "snapshot.kvws.tmp";

/// Damage spanning more than this after a bad record is never taken for a
/// torn write (a loop iteration's batch is far smaller).
pub const TORN_WINDOW: usize = 16 << 20;
/// The unit a disk writes whole or not at all (or a divisor of it).
pub const SECTOR: usize = 512;

/// Where appending continues after recovery.
#[derive(Debug, PartialEq, Eq)]
pub enum Tail {
    /// Append to this log after `end`.
    Append {
        /// Its generation.
        generation: u64,
        /// Its path.
        path: PathBuf,
        /// End of its valid data.
        end: u64,
    },
    /// Start a new log of this generation.
    Create {
        /// Its generation.
        generation: u64,
    },
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    /// The store's revision (`None`: the directory held no data yet).
    pub rev: Option<u64>,
    /// Where to append.
    pub tail: Tail,
    /// Keys loaded from the snapshot.
    pub snapshot_keys: u64,
    /// Records replayed from the logs.
    pub records: u64,
    /// Bytes of log replayed (for the compaction trigger).
    pub log_bytes: u64,
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// Loads `dir` into the store through `apply` (every `Set`, `Delete` and
/// `Skip`, in order). With `repair`, damage is cut off (and said) instead of
/// refused.
pub fn recover(
    dir: &Path,
    repair: bool,
    apply: &mut dyn FnMut(&Record),
) -> Result<Recovered, String> {
    let mut generations = Vec::new();
    let mut has_snapshot = false;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", shown(dir)))?;
    for entry in entries {
        let name = entry
            .map_err(|e| e.to_string())?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name == SNAPSHOT {
            has_snapshot = true;
        } else if name == SNAPSHOT_TMP {
            info!("removing {name}, left by an interrupted compaction");
            let _ = std::fs::remove_file(dir.join(&name));
        } else if is_temp(&name) {
            info!("removing {name}, left by an interrupted log creation");
            let _ = std::fs::remove_file(dir.join(&name));
        } else if let Some(g) = generation_of(&name) {
            generations.push(g);
        }
    }
    generations.sort_unstable();

    let (mut rev, first, snapshot_keys) = if has_snapshot {
        let (rev, generation, keys) = load_snapshot(&dir.join(SNAPSHOT), apply)?;
        (Some(rev), generation, keys)
    } else {
        (None, 1, 0)
    };
    for stale in generations.iter().filter(|&&g| g < first) {
        // Covered by the snapshot: a compaction finished but the old log
        // was not removed yet.
        let _ = std::fs::remove_file(dir.join(file_name(*stale)));
    }
    let mut live: Vec<u64> = generations.into_iter().filter(|&g| g >= first).collect();
    let present = live
        .iter()
        .enumerate()
        .take_while(|&(i, &g)| first.checked_add(i as u64) == Some(g))
        .count();
    let missing = if present < live.len() || (has_snapshot && live.is_empty()) {
        Some(first.saturating_add(present as u64))
    } else {
        None
    };
    if let Some(missing) = missing {
        let after = &live[present..];
        let why = match after.first() {
            None => format!(
                "log file {} is missing from {}: {SNAPSHOT} says the changes after it continue there",
                file_name(missing),
                shown(dir)
            ),
            Some(&found) => format!(
                "log file {} is missing from {} (found {}{})",
                file_name(missing),
                shown(dir),
                file_name(found),
                if has_snapshot {
                    ""
                } else {
                    "; without a snapshot the logs start at generation 1"
                }
            ),
        };
        let and_after = match after.len() {
            0 => String::new(),
            n => format!(" and the {n} log files after it"),
        };
        if !repair {
            return Err(format!(
                "{why}; restore it from a backup, or start with --repair to go on without \
                 it{and_after}"
            ));
        }
        warn!("repair: {why}; going on without it{and_after}");
        remove_logs(dir, after)?;
        live.truncate(present);
    }

    let mut out = Recovered {
        rev,
        tail: Tail::Create { generation: first },
        snapshot_keys,
        records: 0,
        log_bytes: 0,
    };
    for (i, &generation) in live.iter().enumerate() {
        let path = dir.join(file_name(generation));
        let later = &live[i + 1..];
        match replay_log(
            &path,
            generation,
            later.len(),
            repair,
            &mut rev,
            &mut out,
            apply,
        )? {
            Replayed::Removed => {
                out.tail = Tail::Create { generation };
                remove_logs(dir, later)?;
                break;
            }
            Replayed::Log { end, format, cut } => {
                out.log_bytes += end;
                out.tail = match format {
                    Format::V2 => Tail::Append {
                        generation,
                        path,
                        end,
                    },
                    // Never appended to: the next changes start version 2.
                    Format::V1 => Tail::Create {
                        generation: generation.saturating_add(1),
                    },
                };
                if cut == Cut::Repaired {
                    remove_logs(dir, later)?;
                    break;
                }
            }
        }
    }
    out.rev = rev;
    Ok(out)
}

/// Removes the logs of `generations` (for `--repair`), durably.
fn remove_logs(dir: &Path, generations: &[u64]) -> Result<(), String> {
    for g in generations {
        warn!("repair: removing {}", file_name(*g));
        let path = dir.join(file_name(*g));
        std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", shown(&path)))?;
    }
    sync_dir(dir).map_err(|e| format!("cannot sync {}: {e}", shown(dir)))
}

/// How the replay of one log ended.
enum Replayed {
    /// Its records up to `end` were replayed.
    Log { end: u64, format: Format, cut: Cut },
    /// Its header was damaged and `--repair` removed it.
    Removed,
}

/// What was cut off the end of a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    Nothing,
    /// A torn write.
    Torn,
    /// Damage, with `--repair`.
    Repaired,
}

/// Replays one log (`later_files` follow it) and cuts off what is torn or,
/// with `repair`, damaged.
fn replay_log(
    path: &Path,
    generation: u64,
    later_files: usize,
    repair: bool,
    rev: &mut Option<u64>,
    out: &mut Recovered,
    apply: &mut dyn FnMut(&Record),
) -> Result<Replayed, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", shown(path)))?;
    let map = Map::new(&file).map_err(|e| format!("cannot read {}: {e}", shown(path)))?;
    let data = map.bytes();
    let header = match Header::decode(data, LOG_MAGIC) {
        // Written by a newer kvws: neither read nor repaired.
        Err(e @ BadHeader::Version(_)) => return Err(format!("{}: {e}", shown(path))),
        Err(BadHeader::Damaged(why)) => Err(why),
        Ok((h, _)) if h.generation != generation => {
            Err(format!("its header says generation {}", h.generation))
        }
        Ok((h, _)) if rev.is_some_and(|r| r != h.rev) => Err(format!(
            "it starts after revision {} but the data before it ends at revision {}: a log file \
             is missing or damaged",
            h.rev,
            rev.unwrap_or_default()
        )),
        Ok(ok) => Ok(ok),
    };
    let (header, format) = match header {
        Ok(ok) => ok,
        Err(why) if !repair => {
            return Err(format!(
                "{} is damaged at offset 0 ({why}); --repair would discard the whole file \
                 ({} bytes) and {later_files} later log files. Restore the data directory \
                 from a backup, or start with --repair to do that",
                shown(path),
                data.len()
            ));
        }
        Err(why) => {
            warn!(
                "repair: removing {} ({why}); discarding its {} bytes and {later_files} later log files",
                shown(path),
                data.len()
            );
            drop(map);
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove {}: {e}", shown(path)))?;
            return Ok(Replayed::Removed);
        }
    };

    let mut current = rev.unwrap_or(header.rev);
    let mut at = HEADER_LEN;
    let problem = loop {
        match format.read(&data[at..]) {
            Read::End if data[at..].iter().all(|&b| b == 0) => break None,
            Read::End => break Some("a frame of zeros before more data".to_string()),
            Read::Bad(BadRecord::Truncated)
                if format == Format::V2 && data[at..].iter().all(|&b| b == 0) =>
            {
                break Some(
                    "the file ends right after its data, without the frame of zeros that \
                     follows it"
                        .to_string(),
                );
            }
            Read::Bad(why) => break Some(why.to_string()),
            Read::Record(Record::End { .. }, _) => {
                break Some("a snapshot record in a log".to_string());
            }
            Read::Record(r, _) if current.checked_add(1) != Some(r.rev()) => {
                break Some(format!(
                    "revision {} where {} was expected",
                    r.rev(),
                    current.saturating_add(1)
                ));
            }
            Read::Record(r, n) => {
                apply(&r);
                current = r.rev();
                out.records += 1;
                at += n;
            }
        }
    };
    *rev = Some(current);
    let end = at as u64;
    let Some(why) = problem else {
        return Ok(Replayed::Log {
            end,
            format,
            cut: Cut::Nothing,
        });
    };

    let dirty_end = data[at..]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(at, |p| at + p + 1);
    let damaged = dirty_end - at;
    let verdict = if later_files == 0 {
        torn_write(format, data, at, dirty_end, current)
    } else {
        Err("only the newest log can end in a write torn by a crash".to_string())
    };
    let cut = match verdict {
        Ok(()) => {
            warn!(
                "{}: torn write at offset {at} ({why}, {damaged} bytes), left by a crash; cutting it off",
                shown(path)
            );
            Cut::Torn
        }
        Err(reason) if !repair => {
            return Err(format!(
                "{} is damaged at offset {at} ({why}; {reason}); {damaged} bytes after it and \
                 {later_files} later log files would be lost by cutting it there. Start with \
                 --repair to do that, or restore the data directory from a backup",
                shown(path)
            ));
        }
        Err(reason) => {
            warn!(
                "repair: cutting {} at offset {at} ({why}; {reason}); discarding {damaged} bytes \
                 and {later_files} later log files",
                shown(path)
            );
            Cut::Repaired
        }
    };
    let len = data.len();
    drop(map);
    cut_at(path, format, at, dirty_end, len, cut == Cut::Torn)
        .map_err(|e| format!("cannot cut {} at offset {at}: {e}", shown(path)))?;
    Ok(Replayed::Log { end, format, cut })
}

/// Whether the bytes at `at`, the first that are not the next record of the
/// newest log, are a write torn by a crash; if not, why they are damage.
/// `dirty_end` is the end of the file's last non-zero byte.
fn torn_write(
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

/// Cuts a log at `at`: a torn write is zeroed (up to `dirty_end`) in the
/// preallocated file; a repaired file ends in a frame of zeros after `at`.
fn cut_at(
    path: &Path,
    format: Format,
    at: usize,
    dirty_end: usize,
    len: usize,
    torn: bool,
) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    let zeros = vec![0; (1 << 20).min(dirty_end.max(at + FRAME_LEN) - at)];
    let zero_to = if torn {
        dirty_end
    } else {
        at + format.frame_len()
    };
    let mut pos = at;
    while pos < zero_to {
        let n = zeros.len().min(zero_to - pos);
        file.write_all_at(&zeros[..n], pos as u64)?;
        pos += n;
    }
    if !torn && len != zero_to {
        file.set_len(zero_to as u64)?;
    }
    file.sync_all()
}

/// Loads a snapshot; returns its revision, generation and key count.
fn load_snapshot(path: &Path, apply: &mut dyn FnMut(&Record)) -> Result<(u64, u64, u64), String> {
    let damaged = |at: usize, why: &str| {
        format!(
            "snapshot {} is damaged at offset {at} ({why}); it cannot be repaired: restore the data \
             directory from a backup",
            shown(path)
        )
    };
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", shown(path)))?;
    let map = Map::new(&file).map_err(|e| format!("cannot read {}: {e}", shown(path)))?;
    let data = map.bytes();
    let (header, format) = match Header::decode(data, SNAPSHOT_MAGIC) {
        Ok(ok) => ok,
        Err(e @ BadHeader::Version(_)) => return Err(format!("{}: {e}", shown(path))),
        Err(BadHeader::Damaged(why)) => return Err(damaged(0, &why)),
    };
    let mut at = HEADER_LEN;
    let mut count = 0;
    loop {
        match format.read(&data[at..]) {
            Read::Record(r @ Record::Set { .. }, n) if r.rev() <= header.rev => {
                apply(&r);
                count += 1;
                at += n;
            }
            Read::Record(Record::End { rev, count: c }, n) if rev == header.rev && c == count => {
                if at + n != data.len() {
                    return Err(damaged(at + n, "data after the end record"));
                }
                info!("loaded {count} keys from {} (revision {rev})", shown(path));
                return Ok((header.rev, header.generation, count));
            }
            Read::Record(..) => return Err(damaged(at, "unexpected record")),
            Read::End => return Err(damaged(at, "ends without its end record")),
            Read::Bad(why) => return Err(damaged(at, &why.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::log::temp_name;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kvws-recover-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Set records (whose last byte is not zero, even in version 1).
    fn sets(revs: std::ops::RangeInclusive<u64>, v1: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for rev in revs {
            let r = Record::Set {
                rev,
                id: "a",
                key: "k",
                value: "1",
                expires_at: Some(u64::MAX),
            };
            if v1 {
                r.encode_v1(&mut out)
            } else {
                r.encode(&mut out)
            }
        }
        out
    }

    /// A log of `generation` after revision `rev` holding `records`, then
    /// `zeros` zero bytes.
    fn write_log(dir: &Path, generation: u64, rev: u64, records: &[u8], zeros: usize) {
        let mut data = Header { generation, rev }.encode(LOG_MAGIC).to_vec();
        data.extend_from_slice(records);
        data.resize(data.len() + zeros, 0);
        std::fs::write(dir.join(file_name(generation)), data).unwrap();
    }

    fn revs(dir: &Path, repair: bool) -> Result<(Vec<u64>, Tail), String> {
        let mut seen = Vec::new();
        let out = recover(dir, repair, &mut |r| seen.push(r.rev()))?;
        Ok((seen, out.tail))
    }

    #[test]
    fn an_unwritten_sector_is_all_zeros_from_the_record_on() {
        let mut data = vec![1u8; 2048];
        data[1000..1024].fill(0);
        // The sector 512..1024 holds zeros from 1000 on, not from 990 on.
        assert!(unwritten_sector(&data, 1000, 1012));
        assert!(!unwritten_sector(&data, 990, 1200));
        data[1024..1536].fill(0);
        assert!(unwritten_sector(&data, 990, 1200));
        // Only sectors overlapping the record count.
        assert!(!unwritten_sector(&data, 0, 1000));
        // The end of the file ends the last sector.
        let short = [1, 1, 0, 0];
        assert!(unwritten_sector(&short, 2, 3));
    }

    #[test]
    fn a_torn_looking_end_of_an_older_log_is_damage() {
        let d = dir("older");
        let mut torn = sets(1..=3, false);
        let keep = torn.len();
        // The next record, its sectors after the first never written.
        let value = "7".repeat(1000);
        Record::Set {
            rev: 4,
            id: "a",
            key: "k",
            value: &value,
            expires_at: None,
        }
        .encode(&mut torn);
        torn.truncate(SECTOR - HEADER_LEN);
        write_log(&d, 1, 0, &torn, 1000);
        write_log(&d, 2, 3, &[], FRAME_LEN);
        let err = revs(&d, false).unwrap_err();
        assert!(
            err.contains(&format!("damaged at offset {}", HEADER_LEN + keep))
                && err.contains("only the newest log"),
            "{err}"
        );
        // The same bytes in the newest log are a torn write.
        std::fs::remove_file(d.join(file_name(2))).unwrap();
        let (seen, tail) = revs(&d, false).unwrap();
        assert_eq!(seen, [1, 2, 3]);
        assert!(matches!(tail, Tail::Append { end, .. } if end == (HEADER_LEN + keep) as u64));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_logs_must_start_where_the_snapshot_or_generation_1_says() {
        let d = dir("start");
        write_log(&d, 2, 0, &sets(1..=2, false), FRAME_LEN);
        let err = revs(&d, false).unwrap_err();
        assert!(err.contains("wal-0000000001.log is missing"), "{err}");
        // Repair goes on without it, and so without what came after it.
        let (seen, tail) = revs(&d, true).unwrap();
        assert!(seen.is_empty());
        assert_eq!(tail, Tail::Create { generation: 1 });
        assert!(!d.join(file_name(2)).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_damaged_header_is_removed_by_repair_with_the_later_logs() {
        let d = dir("header");
        write_log(&d, 1, 0, &sets(1..=2, false), FRAME_LEN);
        write_log(&d, 2, 2, &sets(3..=4, false), FRAME_LEN);
        write_log(&d, 3, 4, &sets(5..=6, false), FRAME_LEN);
        let path = d.join(file_name(2));
        let mut data = std::fs::read(&path).unwrap();
        data[26] ^= 1; // its revision
        std::fs::write(&path, data).unwrap();
        let err = revs(&d, false).unwrap_err();
        assert!(err.contains("damaged at offset 0 (bad header"), "{err}");
        assert!(err.contains("and 1 later log files"), "{err}");
        let (seen, tail) = revs(&d, true).unwrap();
        assert_eq!(seen, [1, 2]);
        assert_eq!(tail, Tail::Create { generation: 2 });
        assert!(!path.exists() && !d.join(file_name(3)).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn leftover_temporary_logs_are_removed() {
        let d = dir("temp");
        write_log(&d, 1, 0, &sets(1..=2, false), FRAME_LEN);
        std::fs::write(d.join(temp_name(2)), b"KVWSLOG").unwrap();
        let (seen, _) = revs(&d, false).unwrap();
        assert_eq!(seen, [1, 2]);
        assert!(!d.join(temp_name(2)).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_version_1_log_torn_by_a_crash_is_cut_and_never_appended_to() {
        let d = dir("v1");
        let mut records = sets(1..=20, true);
        let keep = records.len();
        // A crash of the previous release: a write cut short at a page
        // boundary, the rest of it never written.
        let next = sets(21..=60, true);
        let page = (HEADER_LEN + keep).next_multiple_of(SECTOR) - HEADER_LEN;
        records.extend_from_slice(&next[..page - keep]);
        let mut data = Header::encode(
            &Header {
                generation: 1,
                rev: 0,
            },
            LOG_MAGIC,
        )
        .to_vec();
        data[8] = 1; // version 1 (it had no header check)
        data[12..16].fill(0);
        data.extend_from_slice(&records);
        data.resize(4096, 0);
        std::fs::write(d.join(file_name(1)), &data).unwrap();
        // The records written whole before the page boundary are kept.
        let whole = 20 + (page - keep) / sets(1..=1, true).len();
        let (seen, tail) = revs(&d, false).unwrap();
        assert_eq!(seen, (1..=whole as u64).collect::<Vec<_>>());
        assert_eq!(tail, Tail::Create { generation: 2 });
        // Cut for good: the next start finds it clean.
        let (seen, _) = revs(&d, false).unwrap();
        assert_eq!(seen.len(), whole);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
