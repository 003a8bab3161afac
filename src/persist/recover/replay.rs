//! Replaying one log: every record applied in order, and what is torn or
//! damaged at its end cut off (a torn write) or refused (damage, unless
//! repairing).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use log::warn;

use super::torn::torn_write;
use super::{Recovered, shown};
use crate::persist::map::Map;
use crate::persist::record::{
    BadHeader, BadRecord, FRAME_LEN, Format, HEADER_LEN, Header, LOG_MAGIC, Read, Record,
};

/// How the replay of one log ended.
pub(super) enum Replayed {
    /// Its records up to `end` were replayed.
    Log { end: u64, format: Format, cut: Cut },
    /// Its header was damaged and `--repair` removed it.
    Removed,
}

/// What was cut off the end of a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    Nothing,
    /// A torn write.
    Torn,
    /// Damage, with `--repair`.
    Repaired,
}

/// Replays one log (`later_files` follow it) and cuts off what is torn or,
/// with `repair`, damaged.
pub(super) fn replay_log(
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
