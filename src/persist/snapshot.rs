//! Writing a snapshot of the store: every durable key, in one file.
//!
//! Runs in the compaction child process (see `persist::compact`), on the
//! copy-on-write image of the store taken by `fork`, so the server keeps
//! serving while it is written. It writes to a temporary name and syncs;
//! the parent renames it into place only when the child succeeded.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::record::{Header, Record, SNAPSHOT_MAGIC};
use crate::store::Store;

/// Writes `store` (without ephemeral keys) to `path` as a snapshot at
/// revision `rev` that precedes log generation `generation`; returns the
/// number of keys written.
pub fn write(path: &Path, store: &Store, generation: u64, rev: u64) -> io::Result<u64> {
    let file = File::create(path)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&Header { generation, rev }.encode(SNAPSHOT_MAGIC))?;
    let mut buf = Vec::with_capacity(4096);
    let mut count = 0;
    for (id, key, entry) in store.iter() {
        if entry.owner.is_some() {
            continue; // ephemeral keys die with their connection
        }
        buf.clear();
        Record::Set {
            rev: entry.rev,
            id,
            key,
            value: &entry.value,
            expires_at: entry.expires_at,
        }
        .encode(&mut buf);
        w.write_all(&buf)?;
        count += 1;
    }
    buf.clear();
    Record::End { rev, count }.encode(&mut buf);
    w.write_all(&buf)?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(count)
}
