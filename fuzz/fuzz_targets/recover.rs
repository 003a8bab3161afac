//! Recovery of a data directory holding arbitrary bytes: a log, and perhaps
//! a snapshot. Nothing may panic; whatever `--repair` accepts must then
//! open without it, with the same changes.
//!
//! Input: a flags byte (bit 0: repair; bit 1: a snapshot), then with a
//! snapshot its length (u16, little-endian) and its bytes, then the log. The
//! log is named after the generation in the snapshot's header, so that
//! inputs get past the check that the snapshot's log exists.
#![no_main]

use std::path::{Path, PathBuf};

use kvws::persist::log::{Log, file_name};
use kvws::persist::record::Record;
use kvws::persist::recover::{SNAPSHOT, Tail, recover};
use libfuzzer_sys::fuzz_target;

fn dir() -> PathBuf {
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("kvws-fuzz-recover-{}", std::process::id()))
}

/// Recovers `dir`; returns the revisions applied, the tail and the revision.
fn run(dir: &Path, repair: bool) -> Result<(Vec<u64>, Tail, Option<u64>), String> {
    let mut revs = Vec::new();
    let out = recover(dir, repair, &mut |r: &Record| revs.push(r.rev()))?;
    Ok((revs, out.tail, out.rev))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let dir = dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut generation = 1;
    if flags & 2 != 0 && rest.len() >= 2 {
        let len = (u16::from_le_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let snapshot = &rest[2..2 + len];
        if let Some(g) = snapshot.get(16..24) {
            generation = u64::from_le_bytes(g.try_into().unwrap()) % 1_000_000;
        }
        std::fs::write(dir.join(SNAPSHOT), snapshot).unwrap();
        rest = &rest[2 + len..];
    }
    std::fs::write(dir.join(file_name(generation)), rest).unwrap();

    let repair = flags & 1 != 0;
    if let Ok((revs, tail, rev)) = run(&dir, repair) {
        if let Tail::Create { generation } = tail {
            Log::create(&dir, generation, rev.unwrap_or(0)).unwrap();
        }
        // What recovery cut (a torn write, or damage with --repair) is
        // cut for good.
        let (again, _, _) = run(&dir, false).expect("a recovered directory opens again");
        assert_eq!(again, revs);
    }
    let _ = std::fs::remove_dir_all(&dir);
});
