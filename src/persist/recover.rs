//! Start-up: load the snapshot, replay the log after it, and decide what a
//! damaged byte means.
//!
//! * A record cut short at the very end of the newest log, followed only by
//!   bytes no valid record can be found in, is a write torn by a crash: it
//!   was never acknowledged (with `--fsync always`) and is cut off with a
//!   warning.
//! * Damage anywhere else stops start-up with the file and offset: data is
//!   never dropped silently. `--repair` then cuts the log at the first bad
//!   record, after saying how much is lost.
//!
//! Revisions must follow each other without a gap from the snapshot through
//! every log file, which also catches a missing or truncated file.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use log::{info, warn};

use super::log::{file_name, generation_of};
use super::map::Map;
use super::record::{self, FRAME_LEN, HEADER_LEN, Header, LOG_MAGIC, Read, Record, SNAPSHOT_MAGIC};

/// The snapshot's file name.
pub const SNAPSHOT: &str = "snapshot.kvws";
/// Where a snapshot is written before it is renamed into place.
pub const SNAPSHOT_TMP: &str = "snapshot.kvws.tmp";

/// Damage spanning more than this after a bad record is never taken for a
/// torn write (a loop iteration's batch is far smaller).
const TORN_WINDOW: usize = 16 << 20;

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
/// `Skip`, in order).
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
        } else if let Some(g) = generation_of(&name) {
            generations.push(g);
        }
    }
    generations.sort_unstable();

    let (mut rev, first, snapshot_keys) = if has_snapshot {
        let (rev, generation, keys) = load_snapshot(&dir.join(SNAPSHOT), apply)?;
        (Some(rev), generation, keys)
    } else {
        (None, generations.first().copied().unwrap_or(1), 0)
    };
    for stale in generations.iter().filter(|&&g| g < first) {
        // Covered by the snapshot: a compaction finished but the old log
        // was not removed yet.
        let _ = std::fs::remove_file(dir.join(file_name(*stale)));
    }
    let live: Vec<u64> = generations.into_iter().filter(|&g| g >= first).collect();
    for (i, &g) in live.iter().enumerate() {
        if g != first + i as u64 {
            return Err(format!(
                "log file {} is missing from {} (found {}); restore it from a backup",
                file_name(first + i as u64),
                shown(dir),
                file_name(g)
            ));
        }
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
        let last = later.is_empty();
        let end = replay_log(
            &path,
            generation,
            last,
            later.len(),
            repair,
            &mut rev,
            &mut out,
            apply,
        )?;
        match end {
            None => {
                // An empty or headerless newest log: start it again.
                let _ = std::fs::remove_file(&path);
                out.tail = Tail::Create { generation };
            }
            Some((end, repaired)) => {
                out.log_bytes += end;
                out.tail = Tail::Append {
                    generation,
                    path,
                    end,
                };
                if repaired {
                    for g in later {
                        warn!("repair: removing {}", file_name(*g));
                        std::fs::remove_file(dir.join(file_name(*g))).map_err(|e| e.to_string())?;
                    }
                    break;
                }
            }
        }
    }
    out.rev = rev;
    Ok(out)
}

/// Replays one log; returns the end of its valid data and whether it was
/// repaired (cut), or `None` for a newest log without a complete header.
#[allow(clippy::too_many_arguments)]
fn replay_log(
    path: &Path,
    generation: u64,
    last: bool,
    later_files: usize,
    repair: bool,
    rev: &mut Option<u64>,
    out: &mut Recovered,
    apply: &mut dyn FnMut(&Record),
) -> Result<Option<(u64, bool)>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", shown(path)))?;
    let map = Map::new(&file).map_err(|e| format!("cannot read {}: {e}", shown(path)))?;
    let data = map.bytes();
    if data.len() < HEADER_LEN && last {
        warn!(
            "{}: no complete header (a crash right after it was created); starting it again",
            shown(path)
        );
        return Ok(None);
    }
    let header = Header::decode(data, LOG_MAGIC).map_err(|e| format!("{}: {e}", shown(path)))?;
    if header.generation != generation {
        return Err(format!(
            "{}: header says generation {}",
            shown(path),
            header.generation
        ));
    }
    let mut current = match *rev {
        None => header.rev,
        Some(r) if r == header.rev => r,
        Some(r) => {
            return Err(format!(
                "{} starts after revision {} but the data before it ends at revision {r}: \
                 a log file is missing or damaged; restore the directory from a backup",
                shown(path),
                header.rev
            ));
        }
    };
    let mut at = HEADER_LEN;
    let problem = loop {
        match record::read(&data[at..]) {
            Read::End if data[at..].iter().all(|&b| b == 0) => break None,
            Read::End => break Some("a zeroed record before more data".to_string()),
            Read::Bad(why) => break Some(why.to_string()),
            Read::Record(Record::End { .. }, _) => {
                break Some("a snapshot record in a log".to_string());
            }
            Read::Record(r, _) if r.rev() != current + 1 => {
                break Some(format!(
                    "revision {} where {} was expected",
                    r.rev(),
                    current + 1
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
    let Some(why) = problem else {
        return Ok(Some((at as u64, false)));
    };

    let dirty_end = data.iter().rposition(|&b| b != 0).map_or(at, |p| p + 1);
    let damaged = dirty_end - at;
    let torn = last && damaged <= TORN_WINDOW && !valid_record_after(&data[at..dirty_end], current);
    if !torn && !repair {
        return Err(format!(
            "{} is damaged at offset {at} ({why}); {damaged} bytes after it and {later_files} later log \
             files would be lost by cutting it there. Start with --repair to do that, or restore the \
             data directory from a backup",
            shown(path)
        ));
    }
    if torn {
        warn!(
            "{}: torn write at offset {at} ({why}, {damaged} bytes), left by a crash; cutting it off",
            shown(path)
        );
    } else {
        warn!(
            "repair: cutting {} at offset {at} ({why}); discarding {damaged} bytes and {later_files} later log files",
            shown(path)
        );
    }
    drop(map);
    // Zero what follows so the preallocated tail reads as empty again.
    let rw = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    rw.write_all_at(&vec![0; damaged], at as u64)
        .map_err(|e| e.to_string())?;
    rw.sync_all().map_err(|e| e.to_string())?;
    Ok(Some((at as u64, !torn)))
}

/// Whether a valid, plausible record starts anywhere in `damaged`: if so,
/// the damage is in the middle of the log, not a torn last write.
fn valid_record_after(damaged: &[u8], rev: u64) -> bool {
    (1..damaged.len().saturating_sub(FRAME_LEN + 9)).any(|p| {
        let d = &damaged[p..];
        let len = u32::from_le_bytes(d[..4].try_into().unwrap()) as usize;
        let kind = d[FRAME_LEN];
        let r = u64::from_le_bytes(d[FRAME_LEN + 1..FRAME_LEN + 9].try_into().unwrap());
        // Cheap filters first; the checksum settles it.
        len >= 9
            && len <= d.len() - FRAME_LEN
            && (1..=3).contains(&kind)
            && r > rev
            && r <= rev + (1 << 24)
            && matches!(record::read(d), Read::Record(..))
    })
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
    let header =
        Header::decode(data, SNAPSHOT_MAGIC).map_err(|e| format!("{}: {e}", shown(path)))?;
    let mut at = HEADER_LEN;
    let mut count = 0;
    loop {
        match record::read(&data[at..]) {
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
