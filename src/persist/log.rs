//! The write-ahead log: one file per generation, appended to in batches.
//!
//! Changes are encoded into a buffer as they are applied and written with
//! one `pwrite` per loop iteration, before that iteration's replies go out
//! (group commit). Whether a reply also waits for `fdatasync` is the fsync
//! policy ([`Fsync`](crate::config::Fsync)).
//!
//! Space is reserved before a change is applied: the file is preallocated
//! (`posix_fallocate`) in chunks, and a change that cannot get space is
//! refused with `storage_failed` instead of being applied in memory and
//! then failing to reach the disk. The last [`EMERGENCY_RESERVE`] bytes of
//! an allocation are kept for automatic changes (expiry), which have no
//! client to refuse. The allocation always leaves at least one record
//! frame's worth of zeros after the data, so that recovery can tell the end
//! of the data from a file cut short (see [`recover`](super::recover)).
//!
//! A log is created whole: its header (and a frame of zeros) is written to
//! a temporary name, synced, and renamed into place before the directory is
//! synced. A `wal-N.log` without a complete header is therefore never the
//! trace of a crash, only of damage.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::{FRAME_LEN, HEADER_LEN, Header, LOG_MAGIC, Record};
use super::sync::Syncer;

/// Bytes preallocated at a time: large enough that allocation is rare,
/// small enough not to matter on a small disk.
const CHUNK: u64 = 4 << 20;
/// Space only automatic changes may use.
pub const EMERGENCY_RESERVE: u64 = 64 << 10;

/// The file name of log generation `generation`.
pub fn file_name(generation: u64) -> String {
    format!("wal-{generation:010}.log")
}

/// Where log generation `generation` is written before it is renamed into
/// place.
pub fn temp_name(generation: u64) -> String {
    format!("{}.tmp", file_name(generation))
}

/// Whether `name` is a log left at its temporary name by a crash.
pub fn is_temp(name: &str) -> bool {
    name.strip_suffix(".tmp").and_then(generation_of).is_some()
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
    /// makes its existence durable: the header and a frame of zeros are
    /// synced under a temporary name, renamed into place, and the directory
    /// is synced.
    pub fn create(dir: &Path, generation: u64, rev: u64) -> io::Result<Log> {
        let path = dir.join(file_name(generation));
        if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists already", path.display()),
            ));
        }
        let tmp = dir.join(temp_name(generation));
        let created = (|| -> io::Result<File> {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            let mut start = [0; HEADER_LEN + FRAME_LEN];
            start[..HEADER_LEN].copy_from_slice(&Header { generation, rev }.encode(LOG_MAGIC));
            file.write_all_at(&start, 0)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(file)
        })();
        let file = created.inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        sync_dir(dir)?;
        Ok(Log {
            file,
            path,
            generation,
            written: HEADER_LEN as u64,
            allocated: (HEADER_LEN + FRAME_LEN) as u64,
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
    /// `automatic` changes may use the emergency reserve. The room always
    /// includes a frame of zeros after the record.
    pub fn append(&mut self, record: &Record, automatic: bool) -> io::Result<()> {
        let reserve = if automatic { 0 } else { EMERGENCY_RESERVE };
        let need = self.len() + (record.encoded_len() + FRAME_LEN) as u64 + reserve;
        if need > self.allocated {
            self.allocate(need)?;
        }
        record.encode(&mut self.buf);
        Ok(())
    }

    fn allocate(&mut self, need: u64) -> io::Result<()> {
        // A whole chunk if the disk has it, else just what is needed.
        for target in [need.next_multiple_of(CHUNK), need] {
            match reserve(&self.file, target) {
                Ok(()) => {
                    self.allocated = target;
                    return Ok(());
                }
                Err(e) if target == need => return Err(e),
                Err(_) => {}
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

    /// Waits until what was written is on disk (`fdatasync`).
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
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

/// Makes `file` at least `len` bytes long with its blocks allocated, so that
/// writing within them cannot fail for want of space.
#[cfg(target_os = "linux")]
fn reserve(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: posix_fallocate on a file descriptor we own.
    let err = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    if err == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(err))
    }
}

/// Elsewhere (macOS has no `posix_fallocate`) the file is only extended: a
/// full disk is then found when a write fails, which the commit reports as
/// a fatal error instead of refusing the change up front.
#[cfg(not(target_os = "linux"))]
fn reserve(file: &File, len: u64) -> io::Result<()> {
    if file.metadata()?.len() < len {
        file.set_len(len)?;
    }
    Ok(())
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
            Header::decode(&data, LOG_MAGIC).unwrap().0,
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

    #[test]
    fn a_new_log_appears_whole_and_its_data_is_always_followed_by_zeros() {
        let dir = std::env::temp_dir().join(format!("kvws-log-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A temporary file left by an interrupted creation is overwritten.
        std::fs::write(dir.join(temp_name(1)), b"KVWS").unwrap();
        let mut log = Log::create(&dir, 1, 0).unwrap();
        assert!(!dir.join(temp_name(1)).exists());
        let data = std::fs::read(log.path()).unwrap();
        assert_eq!(data.len(), HEADER_LEN + FRAME_LEN);
        assert!(data[HEADER_LEN..].iter().all(|&b| b == 0));
        let err = Log::create(&dir, 1, 0).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        // Every append, even one that may use the emergency reserve, leaves
        // room for a frame of zeros after the data.
        for rev in 1..=100 {
            log.append(&Record::Skip { rev }, true).unwrap();
            assert!(log.allocated >= log.len() + FRAME_LEN as u64, "rev {rev}");
            log.commit(false).unwrap();
            let size = log.file.metadata().unwrap().len();
            assert!(size >= log.len() + FRAME_LEN as u64, "rev {rev}");
        }
        assert!(is_temp(&temp_name(12)) && !is_temp(&file_name(12)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
