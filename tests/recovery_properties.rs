//! Property tests of recovery, at the level of `persist::recover`: whatever
//! damage is done to acknowledged records, start-up either refuses or
//! recovers every one of them (and perhaps some of a torn, unacknowledged
//! batch after them), never fewer; a torn batch alone is recovered exactly;
//! and `--repair` always leaves a directory that opens again.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use kvws::persist::log::{Log, file_name};
use kvws::persist::record::{FRAME_LEN, HEADER_LEN, Header, Record, SNAPSHOT_MAGIC};
use kvws::persist::recover::{SECTOR, SNAPSHOT, Tail, recover};
use proptest::prelude::*;
use proptest::sample::Index;

/// A record that owns its strings.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Set {
        rev: u64,
        key: String,
        value: String,
        expires_at: Option<u64>,
    },
    Delete {
        rev: u64,
        key: String,
    },
    Skip {
        rev: u64,
    },
}

impl Change {
    fn record(&self) -> Record<'_> {
        match self {
            Change::Set {
                rev,
                key,
                value,
                expires_at,
            } => Record::Set {
                rev: *rev,
                id: "ns",
                key,
                value,
                expires_at: *expires_at,
            },
            Change::Delete { rev, key } => Record::Delete {
                rev: *rev,
                id: "ns",
                key,
            },
            Change::Skip { rev } => Record::Skip { rev: *rev },
        }
    }

    fn of(record: &Record) -> Change {
        match *record {
            Record::Set {
                rev,
                key,
                value,
                expires_at,
                ..
            } => Change::Set {
                rev,
                key: key.into(),
                value: value.into(),
                expires_at,
            },
            Record::Delete { rev, key, .. } => Change::Delete {
                rev,
                key: key.into(),
            },
            Record::Skip { rev } => Change::Skip { rev },
            Record::End { .. } => panic!("a snapshot's end record was applied"),
        }
    }
}

/// What a change is, before it gets its revision.
#[derive(Clone, Debug)]
enum Kind {
    Set(String, usize, Option<u64>),
    Delete(String),
    Skip,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        // Values from a few bytes to a few sectors.
        6 => ("[a-e]{1,3}", prop_oneof![0..40usize, 0..1500usize], any::<Option<u64>>())
            .prop_map(|(k, n, e)| Kind::Set(k, n, e.filter(|&t| t != 0))),
        2 => "[a-e]{1,3}".prop_map(Kind::Delete),
        1 => Just(Kind::Skip),
    ]
}

fn changes(kinds: &[Kind], first_rev: u64) -> Vec<Change> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let rev = first_rev + i as u64;
            match k {
                Kind::Set(key, n, expires_at) => Change::Set {
                    rev,
                    key: key.clone(),
                    value: format!("\"{}\"", "v".repeat(*n)),
                    expires_at: *expires_at,
                },
                Kind::Delete(key) => Change::Delete {
                    rev,
                    key: key.clone(),
                },
                Kind::Skip => Change::Skip { rev },
            }
        })
        .collect()
}

/// Damage to the acknowledged part of the directory. Positions are
/// indexes into the range each kind applies to.
#[derive(Clone, Debug)]
enum Damage {
    None,
    /// A bit flipped in the log's header or acknowledged records.
    Flip(Index, u8),
    /// A byte there overwritten (with a non-zero value: see `Zero`).
    Overwrite(Index, u8),
    /// The log cut anywhere, its zeros included.
    Truncate(Index),
    /// Zeros over a range that ends before the last acknowledged record
    /// starts. (Zeros over a sector of the last one, or from some point
    /// to its end, are exactly what a crash leaves of a write never
    /// acknowledged: no reader can tell them apart, so they are not damage
    /// that must be detected.)
    Zero(Index, usize),
    /// The log removed (only with a snapshot that names it: a directory's
    /// only log removed leaves a directory that looks new).
    Delete,
    /// A bit flipped in the snapshot.
    SnapshotFlip(Index, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        2 => Just(Damage::None),
        3 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Damage::Flip(i, b)),
        2 => (any::<Index>(), 1..=255u8).prop_map(|(i, b)| Damage::Overwrite(i, b)),
        2 => any::<Index>().prop_map(Damage::Truncate),
        2 => (any::<Index>(), 1..2000usize).prop_map(|(i, n)| Damage::Zero(i, n)),
        1 => Just(Damage::Delete),
        1 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Damage::SnapshotFlip(i, b)),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    /// Keys in a snapshot before the log (`None`: no snapshot).
    snapshot: Option<Vec<Kind>>,
    acknowledged: Vec<Kind>,
    /// A batch never acknowledged, and which of the sectors it overlaps
    /// were written before the crash.
    torn: Option<(Vec<Kind>, Vec<bool>)>,
    /// Zeros preallocated after the data, beyond the required frame.
    slack: usize,
    damage: Damage,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::option::of(prop::collection::vec(kind(), 0..6)),
        prop::collection::vec(kind(), 0..24),
        prop::option::of((
            prop::collection::vec(kind(), 1..6),
            prop::collection::vec(any::<bool>(), 20),
        )),
        prop_oneof![Just(0usize), 0..2048usize],
        damage(),
    )
        .prop_map(|(snapshot, acknowledged, torn, slack, damage)| Case {
            snapshot,
            acknowledged,
            torn,
            slack,
            damage,
        })
}

static CASES: AtomicU64 = AtomicU64::new(0);

/// A directory removed when the case ends, whether it passed or not.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let n = CASES.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!("kvws-recovery-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A directory as a case leaves it, and what it was meant to hold.
struct Written {
    _temp: TempDir,
    dir: PathBuf,
    log: PathBuf,
    /// Everything applied from a sound directory, in order: the
    /// snapshot's keys, the acknowledged changes, then the torn batch.
    expected: Vec<Change>,
    /// How many of `expected` were acknowledged (and must be recovered).
    acknowledged: usize,
    /// How many more of `expected` were written whole.
    whole_torn: usize,
    /// Whether a torn batch's record written whole follows one that is not.
    hole: bool,
    /// Where the last acknowledged record starts, and the acknowledged end.
    last_start: usize,
    acknowledged_end: usize,
}

const BASE_REV: u64 = 1000;

fn write_case(case: &Case) -> Written {
    let temp = temp_dir();
    let dir = temp.0.clone();
    let mut expected = Vec::new();
    let (generation, mut rev) = match &case.snapshot {
        Some(keys) => {
            // A snapshot of generation 3 at revision BASE_REV: its keys have
            // distinct, increasing revisions up to it.
            let mut data = Header {
                generation: 3,
                rev: BASE_REV,
            }
            .encode(SNAPSHOT_MAGIC)
            .to_vec();
            let first = BASE_REV - keys.len() as u64;
            let mut count = 0;
            for (i, kind) in keys.iter().enumerate() {
                let change = Change::Set {
                    rev: first + 1 + i as u64,
                    key: format!("s{i}"),
                    value: match kind {
                        Kind::Set(_, n, _) => format!("{n}"),
                        _ => "null".into(),
                    },
                    expires_at: None,
                };
                change.record().encode(&mut data);
                expected.push(change);
                count += 1;
            }
            Record::End {
                rev: BASE_REV,
                count,
            }
            .encode(&mut data);
            std::fs::write(dir.join(SNAPSHOT), data).unwrap();
            (3, BASE_REV)
        }
        None => (1, BASE_REV),
    };
    let mut log = Log::create(&dir, generation, rev).unwrap();
    let path = dir.join(file_name(generation));
    let mut last_start = HEADER_LEN;
    for change in changes(&case.acknowledged, rev + 1) {
        last_start = log.len() as usize;
        log.append(&change.record(), false).unwrap();
        log.commit(false).unwrap();
        expected.push(change);
    }
    rev += case.acknowledged.len() as u64;
    let acknowledged = expected.len();
    let acknowledged_end = log.len() as usize;
    let mut data_end = acknowledged_end;
    let (mut whole_torn, mut hole) = (0, false);
    if let Some((kinds, written)) = &case.torn {
        // Appended (so space is allocated) but never committed: the crash
        // came while its sectors were being written.
        let batch = changes(kinds, rev + 1);
        let mut bytes = Vec::new();
        let mut spans = Vec::new();
        for change in &batch {
            log.append(&change.record(), false).unwrap();
            let start = acknowledged_end + bytes.len();
            change.record().encode(&mut bytes);
            spans.push(start..acknowledged_end + bytes.len());
        }
        drop(log);
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let first = acknowledged_end / SECTOR;
        let end = acknowledged_end + bytes.len();
        for (i, sector) in (first..end.div_ceil(SECTOR)).enumerate() {
            if written[i % written.len()] {
                let lo = (sector * SECTOR).max(acknowledged_end);
                let hi = ((sector + 1) * SECTOR).min(end);
                file.write_all_at(
                    &bytes[lo - acknowledged_end..hi - acknowledged_end],
                    lo as u64,
                )
                .unwrap();
            }
        }
        drop(file);
        let on_disk = std::fs::read(&path).unwrap();
        let intact: Vec<bool> = spans
            .iter()
            .map(|s| {
                on_disk[s.clone()] == bytes[s.start - acknowledged_end..s.end - acknowledged_end]
            })
            .collect();
        whole_torn = intact.iter().take_while(|&&ok| ok).count();
        hole = intact[whole_torn..].iter().any(|&ok| ok);
        expected.extend(batch);
        data_end = end;
    } else {
        drop(log);
    }
    // Less preallocated than a chunk, but always a frame of zeros.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len((data_end + FRAME_LEN + case.slack) as u64)
        .unwrap();
    Written {
        _temp: temp,
        dir,
        log: path,
        expected,
        acknowledged,
        whole_torn,
        hole,
        last_start,
        acknowledged_end,
    }
}

/// Applies the damage; returns whether anything changed.
fn apply_damage(w: &Written, damage: &Damage) -> bool {
    let mut data = std::fs::read(&w.log).unwrap();
    let end = w.acknowledged_end;
    match *damage {
        Damage::None => return false,
        Damage::Flip(i, bit) => data[i.index(end)] ^= 1 << bit,
        Damage::Overwrite(i, byte) => {
            let at = i.index(end);
            if data[at] == byte {
                return false;
            }
            data[at] = byte;
        }
        Damage::Truncate(i) => data.truncate(i.index(data.len())),
        Damage::Zero(i, n) => {
            let limit = if w.acknowledged > 0 && w.last_start > HEADER_LEN {
                w.last_start
            } else {
                HEADER_LEN
            };
            let at = i.index(limit);
            data[at..(at + n).min(limit)].fill(0);
        }
        Damage::Delete => {
            if !w.dir.join(SNAPSHOT).exists() {
                return false;
            }
            std::fs::remove_file(&w.log).unwrap();
            return true;
        }
        Damage::SnapshotFlip(i, bit) => {
            let path = w.dir.join(SNAPSHOT);
            let Ok(mut snapshot) = std::fs::read(&path) else {
                return false;
            };
            let len = snapshot.len();
            snapshot[i.index(len)] ^= 1 << bit;
            std::fs::write(&path, snapshot).unwrap();
            return true;
        }
    }
    std::fs::write(&w.log, data).unwrap();
    true
}

fn recovered(dir: &Path, repair: bool) -> Result<(Vec<Change>, Tail, Option<u64>), String> {
    let mut seen = Vec::new();
    let out = recover(dir, repair, &mut |r| seen.push(Change::of(r)))?;
    Ok((seen, out.tail, out.rev))
}

/// The log a server opens after recovery asks for a new one.
fn create_tail(dir: &Path, tail: &Tail, rev: Option<u64>) {
    if let Tail::Create { generation } = tail {
        Log::create(dir, *generation, rev.unwrap_or(0)).unwrap();
    }
}

fn check(case: &Case) -> Result<(), TestCaseError> {
    let w = write_case(case);
    let damaged = apply_damage(&w, &case.damage);
    let acked = &w.expected[..w.acknowledged];
    match recovered(&w.dir, false) {
        Ok((seen, tail, rev)) => {
            // Everything acknowledged, then a prefix of the torn batch.
            prop_assert!(
                seen.len() >= w.acknowledged && seen[..] == w.expected[..seen.len()],
                "recovered {} of {} acknowledged changes (damaged: {damaged}): {:?}",
                seen.len().min(w.acknowledged),
                w.acknowledged,
                seen.iter().zip(acked).position(|(a, b)| a != b)
            );
            if !damaged {
                prop_assert!(!w.hole, "a hole in the torn batch was not refused");
                prop_assert_eq!(seen.len(), w.acknowledged + w.whole_torn);
            }
            // What recovery cut is cut for good.
            create_tail(&w.dir, &tail, rev);
            let (again, _, _) = recovered(&w.dir, false).map_err(TestCaseError::fail)?;
            prop_assert_eq!(again, seen);
        }
        Err(e) => {
            prop_assert!(damaged || w.hole, "a sound directory was refused: {}", e);
            // Repair opens it, keeping a prefix of what was written, and
            // what it leaves opens without it.
            match recovered(&w.dir, true) {
                Ok((seen, tail, rev)) => {
                    prop_assert!(seen[..] == w.expected[..seen.len()]);
                    create_tail(&w.dir, &tail, rev);
                    let (again, _, _) = recovered(&w.dir, false).map_err(TestCaseError::fail)?;
                    prop_assert_eq!(again, seen);
                }
                Err(e) => prop_assert!(
                    e.contains("snapshot") || e.contains("format version"),
                    "repair failed: {}",
                    e
                ),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn damage_is_refused_or_loses_nothing_acknowledged(case in case()) {
        check(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn a_sound_log_recovers_exactly_everything(
        snapshot in prop::option::of(prop::collection::vec(kind(), 0..6)),
        acknowledged in prop::collection::vec(kind(), 0..40),
        slack in 0..600usize,
    ) {
        check(&Case { snapshot, acknowledged, torn: None, slack, damage: Damage::None })?;
    }
}
