//! The data directory's lock: one server per directory.
//!
//! Why a POSIX record lock (`fcntl(F_SETLK)`) and not `flock`: an `flock`
//! belongs to the open file, and every `fork` shares the open file with the
//! child until the child closes it. The compaction child of *another*
//! server in the same process, or any `fork`+`exec` a program embedding the
//! loop does, would hold the lock for as long as its `fork` takes to copy
//! the page tables (tens of milliseconds with a large store), and a server
//! started on the directory at that moment would be refused. A record lock
//! belongs to the process and is never inherited, and the kernel drops it
//! when the process dies, so a crashed server never blocks a restart.
//!
//! A record lock does not exclude two servers of the same process (the
//! process already owns it), so a registry of the directories locked by
//! this process does that. It also keeps the one rule record locks impose:
//! closing *any* descriptor of the lock file drops the process's lock, so
//! the file is opened at most once per process.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::Mutex;

/// Directories locked by this process, by (device, inode) so that two
/// spellings of one directory are one entry.
static LOCKED: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

/// A held lock on a data directory; released on drop.
pub struct DirLock {
    /// `None` only while dropping.
    file: Option<File>,
    id: (u64, u64),
}

impl DirLock {
    /// Locks `dir` (which must exist), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, String> {
        let meta =
            std::fs::metadata(dir).map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
        let id = (meta.dev(), meta.ino());
        let in_use = |pid: String| {
            format!(
                "{} is in use by another kvws server (pid {pid}); a data directory serves one server at a time",
                dir.display()
            )
        };
        let mut locked = LOCKED.lock().unwrap_or_else(|e| e.into_inner());
        if locked.contains(&id) {
            return Err(in_use(std::process::id().to_string()));
        }
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut request = whole_file(libc::F_WRLCK);
        // SAFETY: fcntl on a descriptor we own with a valid `flock`.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &request) } < 0 {
            let e = std::io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
            // SAFETY: as above; F_GETLK fills `request` with the holder.
            let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut request) };
            let holder = if r == 0 && request.l_type != libc::F_UNLCK as libc::c_short {
                request.l_pid.to_string()
            } else {
                "unknown".to_string()
            };
            return Err(in_use(holder));
        }
        // The pid is written for people (`cat DIR/lock`); the lock itself
        // is what excludes.
        let _ = file.set_len(0);
        let _ = file.write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0);
        locked.push(id);
        Ok(DirLock {
            file: Some(file),
            id,
        })
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Close (which releases the record lock) before leaving the
        // registry, both under its mutex: a server of this process that
        // locked the directory in between would otherwise lose its lock
        // to our close.
        let mut locked = LOCKED.lock().unwrap_or_else(|e| e.into_inner());
        drop(self.file.take());
        locked.retain(|id| *id != self.id);
    }
}

/// A `flock` structure covering the whole file.
fn whole_file(kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is plain data; all zero is a valid value.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind as libc::c_short;
    l.l_whence = libc::SEEK_SET as libc::c_short;
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_in_the_same_process_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("kvws-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DirLock::acquire(&dir).unwrap();
        let err = DirLock::acquire(&dir).err().expect("refused");
        assert!(err.contains("in use by another kvws server"), "{err}");
        drop(first);
        let again = DirLock::acquire(&dir).unwrap();
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_forked_child_does_not_hold_the_lock() {
        let dir = std::env::temp_dir().join(format!("kvws-lock-fork-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DirLock::acquire(&dir).unwrap();
        // SAFETY: the child only sleeps and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            unsafe {
                libc::usleep(500_000);
                libc::_exit(0);
            }
        }
        // The child still has every descriptor of ours. Had it inherited
        // the lock (as with flock), taking it again would fail until the
        // child exits.
        drop(first);
        let again = DirLock::acquire(&dir);
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        assert!(again.is_ok(), "{:?}", again.err());
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
