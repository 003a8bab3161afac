//! The write-ahead log: one file per generation, appended to in batches.
//!
//! Changes are encoded into a buffer as they are applied and written with
//! one `pwrite` per loop iteration, before that iteration's replies go out
//! (group commit). Whether a reply also waits for `fdatasync` is the fsync
//! policy ([`Fsync`]).
//!
//! Space is reserved before a change is applied: the file is preallocated
//! (`posix_fallocate`) in chunks, and a change that cannot get space is
//! refused with `storage_failed` instead of being applied in memory and
//! then failing to reach the disk. The last [`EMERGENCY_RESERVE`] bytes of
//! an allocation are kept for automatic changes (expiry), which have no
//! client to refuse.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::{HEADER_LEN, Header, LOG_MAGIC, Record};
use super::sync::Syncer;

/// Bytes preallocated at a time: large enough that allocation is rare,
/// small enough not to matter on a small disk.
const CHUNK: u64 = 4 << 20;
/// Space only automatic changes may use.
pub const EMERGENCY_RESERVE: u64 = 64 << 10;

/// When a change is on disk relative to its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fsync {
    /// `fdatasync` before the replies of each loop iteration: a reply means
    /// the change survives a power cut.
    Always,
    /// Written before the reply (survives a crash of kvws); `fdatasync` once
    /// a second in the background (a power cut loses at most about a second).
    #[default]
    EverySec,
    /// Written before the reply; the OS flushes when it likes.
    Never,
}

impl std::str::FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Fsync, String> {
        match s {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::EverySec),
            "never" => Ok(Fsync::Never),
            _ => Err(format!("'{s}' is not always, everysec or never")),
        }
    }
}

/// The file name of log generation `generation`.
pub fn file_name(generation: u64) -> String {
    format!("wal-{generation:010}.log")
}

/// The generation in a log file name, if it is one.
pub fn generation_of(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// One open log file.
pub struct Log {
    file: File,
    path: PathBuf,
    generation: u64,
    /// End of the data written so far (header included).
    written: u64,
    /// End of the preallocated space.
    allocated: u64,
    buf: Vec<u8>,
}

impl Log {
    /// Creates generation `generation`, starting after revision `rev`, and
    /// makes its existence durable (the directory is synced).
    pub fn create(dir: &Path, generation: u64, rev: u64) -> io::Result<Log> {
        let path = dir.join(file_name(generation));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all_at(&Header { generation, rev }.encode(LOG_MAGIC), 0)?;
        file.sync_all()?;
        sync_dir(dir)?;
        let allocated = file.metadata()?.len();
        Ok(Log {
            file,
            path,
            generation,
            written: HEADER_LEN as u64,
            allocated,
            buf: Vec::new(),
        })
    }

    /// Reopens an existing log to append after `end` (found by recovery).
    pub fn reopen(path: &Path, generation: u64, end: u64) -> io::Result<Log> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let allocated = file.metadata()?.len();
        Ok(Log {
            file,
            path: path.to_path_buf(),
            generation,
            written: end,
            allocated,
            buf: Vec::new(),
        })
    }

    /// This log's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Bytes of data in the file once the buffer is written.
    pub fn len(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// Bytes appended but not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Whether the log holds no record yet.
    pub fn is_empty(&self) -> bool {
        self.len() <= HEADER_LEN as u64
    }

    /// The file, for the background syncer.
    pub fn file(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Makes room for `record` (preallocating if needed) and buffers it.
    /// `automatic` changes may use the emergency reserve.
    pub fn append(&mut self, record: &Record, automatic: bool) -> io::Result<()> {
        let reserve = if automatic { 0 } else { EMERGENCY_RESERVE };
        let need = self.len() + record.encoded_len() as u64 + reserve;
        if need > self.allocated {
            self.allocate(need)?;
        }
        record.encode(&mut self.buf);
        Ok(())
    }

    fn allocate(&mut self, need: u64) -> io::Result<()> {
        // A whole chunk if the disk has it, else just what is needed.
        for target in [need.next_multiple_of(CHUNK), need] {
            // SAFETY: posix_fallocate on a file descriptor we own.
            let err =
                unsafe { libc::posix_fallocate(self.file.as_raw_fd(), 0, target as libc::off_t) };
            if err == 0 {
                self.allocated = target;
                return Ok(());
            }
            if target == need {
                return Err(io::Error::from_raw_os_error(err));
            }
        }
        unreachable!()
    }

    /// Writes the buffered records; with `sync`, waits until they are on disk.
    pub fn commit(&mut self, sync: bool) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all_at(&self.buf, self.written)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Writes and syncs everything, for rotation and shutdown. The sync is
    /// unconditional: with `everysec` the last second of committed records
    /// may not be on disk yet, and a rotation must not let records of the
    /// next log reach the disk before the end of this one (recovery would
    /// find a gap in the revisions).
    pub fn finish(&mut self, syncer: Option<&Syncer>) -> io::Result<()> {
        self.commit(false)?;
        self.file.sync_data()?;
        if let Some(s) = syncer {
            s.clear();
        }
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Makes a directory's entries (created, renamed, removed files) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_generations() {
        assert_eq!(file_name(12), "wal-0000000012.log");
        assert_eq!(generation_of("wal-0000000012.log"), Some(12));
        assert_eq!(generation_of("snapshot.kvws"), None);
    }

    #[test]
    fn appended_records_reach_the_file_in_order() {
        let dir = std::env::temp_dir().join(format!("kvws-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut log = Log::create(&dir, 1, 5).unwrap();
        log.append(
            &Record::Set {
                rev: 6,
                id: "a",
                key: "k",
                value: "1",
                expires_at: None,
            },
            false,
        )
        .unwrap();
        log.append(&Record::Skip { rev: 7 }, true).unwrap();
        log.commit(true).unwrap();
        let data = std::fs::read(log.path()).unwrap();
        assert!(data.len() as u64 >= CHUNK, "preallocated");
        assert_eq!(
            Header::decode(&data, LOG_MAGIC).unwrap(),
            Header {
                generation: 1,
                rev: 5
            }
        );
        let mut at = HEADER_LEN;
        let mut revs = vec![];
        while let super::super::record::Read::Record(r, n) = super::super::record::read(&data[at..])
        {
            revs.push(r.rev());
            at += n;
        }
        assert_eq!(revs, [6, 7]);
        assert_eq!(log.len(), at as u64);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
