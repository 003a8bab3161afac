//! Start-up: load the snapshot, replay the logs after it, and decide what a
//! damaged byte means. Acknowledged means durable, so damage is never taken
//! for a torn write, and a torn write is recognised by physical evidence,
//! not by where it is.
//!
//! # What a crash leaves
//!
//! A log is preallocated with zeros, and its data is always followed by at
//! least one record frame of zeros ([`FRAME_LEN`](super::record::FRAME_LEN)). A crash of kvws cuts a
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

use std::fs::File;
use std::path::{Path, PathBuf};

use log::{info, warn};

use super::log::{file_name, generation_of, is_temp, sync_dir};
use super::map::Map;
use super::record::{BadHeader, Format, HEADER_LEN, Header, Read, Record, SNAPSHOT_MAGIC};

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

mod replay;
mod torn;

use replay::{Cut, Replayed, replay_log};

pub use torn::unwritten_sector;

#[cfg(test)]
mod tests;
